"""The connectivity analysis: what the rendered NetworkPolicies (namespaces role default-deny and
DNS + network_policies role) allow, compared both ways with the declared matrix, by our own
evaluator and by network-config-analyzer; and proof that a broken policy makes it fail."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable, Dict, FrozenSet, List, Tuple

import pytest

import nca_runner as nca
from evaluator import Evaluator, Port
from matrix import Analysis, Matrix, compare

Obj = Dict[str, Any]
Allowed = Dict[Tuple[str, str], FrozenSet[Port]]
NCA = nca.find_nca()
needs_nca = pytest.mark.skipif(NCA is None, reason="network-config-analyzer (nca) is not installed: pip install network-config-analyzer, or set NCA")


def ours(analysis: Analysis, policies: List[Obj], namespaces: Dict[str, Dict[str, str]]) -> Allowed:
    return Evaluator(policies, namespaces).connectivity(analysis.pairs(), analysis.universe())


def theirs(tmp_path: Path, analysis: Analysis, policies: List[Obj], namespaces: Dict[str, Dict[str, str]]) -> Allowed:
    assert NCA
    return nca.connectivity(NCA, tmp_path, analysis, policies, namespaces)


# -- the rendered platform -----------------------------------------------------------------


def test_every_matrix_namespace_is_rendered(matrix: Matrix, namespaces: Dict[str, Dict[str, str]]) -> None:
    missing = [n for n in matrix.namespaces() if n not in namespaces]
    assert not missing, "matrix endpoints live in namespaces the namespaces role does not render: %s" % missing


def test_rendered_policies_allow_exactly_the_matrix(analysis: Analysis, policies: List[Obj], namespaces: Dict[str, Dict[str, str]]) -> None:
    problems = compare(analysis, ours(analysis, policies, namespaces))
    assert not problems, "\n".join(problems)


@pytest.fixture(scope="module")
def nca_allowed(tmp_path_factory: pytest.TempPathFactory, analysis: Analysis, policies: List[Obj],
                namespaces: Dict[str, Dict[str, str]]) -> Allowed:
    return theirs(tmp_path_factory.mktemp("nca"), analysis, policies, namespaces)


@needs_nca
def test_nca_finds_exactly_the_matrix(analysis: Analysis, nca_allowed: Allowed) -> None:
    problems = compare(analysis, nca_allowed)
    assert not problems, "\n".join(problems)


@needs_nca
def test_our_evaluator_agrees_with_nca(analysis: Analysis, policies: List[Obj], namespaces: Dict[str, Dict[str, str]],
                                       nca_allowed: Allowed) -> None:
    mine, reference = ours(analysis, policies, namespaces), nca_allowed
    differ = ["%s -> %s: ours %s, nca %s" % (s, d, sorted(mine[(s, d)]), sorted(reference.get((s, d), frozenset())))
              for (s, d) in sorted(mine) if mine[(s, d)] != reference.get((s, d), frozenset())]
    assert not differ, "\n".join(differ)


def test_the_analysis_covers_every_endpoint(analysis: Analysis, matrix: Matrix) -> None:
    covered = {name for name in matrix.endpoints if analysis.matching(name)}
    assert covered == set(matrix.endpoints)
    assert len(analysis.pairs()) > 100


# -- broken policies must fail ---------------------------------------------------------------


def named(policies: List[Obj], namespace: str, name: str) -> Obj:
    return next(p for p in policies if p["metadata"]["namespace"] == namespace and p["metadata"]["name"] == name)


def allow_all_ingress(policies: List[Obj]) -> List[Obj]:
    return policies + [{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                        "metadata": {"name": "oops-allow-all", "namespace": "mariadb"},
                        "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}]}}]


def drop_database_port(policies: List[Obj]) -> List[Obj]:
    galera = named(policies, "mariadb", "allow-mariadb-galera")
    for rule in galera["spec"]["ingress"]:
        rule["ports"] = [p for p in rule["ports"] if p["port"] != 3306]
    galera["spec"]["ingress"] = [r for r in galera["spec"]["ingress"] if r["ports"]]
    return policies


def widen_selector(policies: List[Obj]) -> List[Obj]:
    named(policies, "gateway", "allow-gateway-proxy")["spec"]["podSelector"] = {}
    return policies


def open_egress(policies: List[Obj]) -> List[Obj]:
    named(policies, "logging", "allow-kibana")["spec"]["egress"].append({"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]})
    return policies


def no_default_deny(policies: List[Obj]) -> List[Obj]:
    return [p for p in policies if not (p["metadata"]["namespace"] == "atlassian" and p["metadata"]["name"] == "default-deny")]


BREAKAGES: Dict[str, Tuple[Callable[[List[Obj]], List[Obj]], str]] = {
    "allow-all ingress added": (allow_all_ingress, "not in the matrix but allowed: stray.outsider -> mariadb-galera"),
    "database port missing": (drop_database_port, "missing: wordpress -> mariadb-galera 3306"),
    "policy selects the whole namespace": (widen_selector, "not in the matrix but allowed: external -> gateway-controller 8000"),
    "egress opened to the internet": (open_egress, "not in the matrix but allowed: kibana -> external 443"),
    "default-deny removed": (no_default_deny, "not in the matrix but allowed: stray.outsider -> stray.atlassian"),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_a_broken_policy_fails_the_comparison(breakage: str, analysis: Analysis, policies: List[Obj],
                                              namespaces: Dict[str, Dict[str, str]]) -> None:
    breaker, expected = BREAKAGES[breakage]
    problems = compare(analysis, ours(analysis, breaker(copy.deepcopy(policies)), namespaces))
    assert any(p.startswith(expected) for p in problems), "\n".join(problems[:20]) or "no difference found"


@needs_nca
@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_nca_sees_the_broken_policy_too(breakage: str, tmp_path: Path, analysis: Analysis, policies: List[Obj],
                                        namespaces: Dict[str, Dict[str, str]]) -> None:
    breaker, expected = BREAKAGES[breakage]
    problems = compare(analysis, theirs(tmp_path, analysis, breaker(copy.deepcopy(policies)), namespaces))
    assert any(p.startswith(expected) for p in problems), "\n".join(problems[:20]) or "no difference found"


def test_an_enabled_optional_flow_that_is_not_rendered_is_missing(analysis: Analysis, policies: List[Obj],
                                                                  namespaces: Dict[str, Dict[str, str]]) -> None:
    switched = Matrix.from_defaults(network_policies_optional_flows={"wordpress_updates": True, "alertmanager_notifications": False})
    other = Analysis.build(switched, analysis.owned, [])
    problems = compare(other, ours(other, policies, namespaces))
    assert problems == ["missing: wordpress -> external 443 (wordpress -> external: %s)" % next(
        f["reason"] for f in switched.flows if f.get("optional") == "wordpress_updates")]
