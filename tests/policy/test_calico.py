"""The metadata-server block (network_policies_calico_metadata_block): a Calico tier ahead of the
Kubernetes NetworkPolicies that denies 169.254.169.254 to every pod of every namespace - one made
after the platform included - except the matrix's declared needs, and passes everything else on.
Checked with our model of Calico's tiered evaluation (calico.py) on the rendered platform, and the
model itself on small cases."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Dict, List

import pytest

from calico import CalicoEvaluator, selector
from evaluator import Endpoint, Evaluator
from matrix import Analysis, compare
from project import run_playbook
from rendered import Rendered

Obj = Dict[str, Any]
METADATA = Endpoint("gce-metadata", None, ip="169.254.169.254")
INTERNET = Endpoint("internet", None, ip="203.0.113.10")
LATER = Endpoint("later", "team-later", {"app": "anything"})      # a namespace nobody rendered
NEIGHBOUR = Endpoint("neighbour", "team-later", {"app": "db"})
HTTP, HTTPS, DNS = ("TCP", 80), ("TCP", 443), ("UDP", 53)


@pytest.fixture(scope="module")
def calico_objects(platform: Rendered) -> List[Obj]:
    found = [o for path, objs in platform.files.items() if path.startswith("security/network_policies/")
             for o in objs if o.get("apiVersion") == "crd.projectcalico.org/v1"]
    assert {o["kind"] for o in found} == {"Tier", "GlobalNetworkPolicy"}, "the metadata block was not rendered"
    return found


@pytest.fixture(scope="module")
def calico(calico_objects: List[Obj], policies: List[Obj], namespaces: Dict[str, Dict[str, str]]) -> CalicoEvaluator:
    return CalicoEvaluator(calico_objects, Evaluator(policies, namespaces))


def test_a_pod_of_a_namespace_made_later_cannot_reach_the_metadata_server(calico: CalicoEvaluator) -> None:
    for port in (HTTP, HTTPS, DNS, ("TCP", 8080)):
        assert not calico.allowed(LATER, METADATA, port), port


def test_without_the_tier_that_pod_reaches_the_metadata_server(policies: List[Obj], namespaces: Dict[str, Dict[str, str]]) -> None:
    """What the NetworkPolicies alone give (the platform before this block): a namespace the
    platform does not own has no policy, so its pods reach the metadata server."""
    assert Evaluator(policies, namespaces).allowed(LATER, METADATA, HTTP)


def test_the_rest_of_a_later_namespace_keeps_its_default_allow(calico: CalicoEvaluator) -> None:
    assert calico.allowed(LATER, INTERNET, HTTPS)
    assert calico.allowed(LATER, NEIGHBOUR, ("TCP", 5432))
    assert calico.allowed(NEIGHBOUR, LATER, HTTP)


def test_the_declared_needs_still_reach_it_on_their_ports_only(calico: CalicoEvaluator, analysis: Analysis) -> None:
    csi_node, dns = analysis.node("gce-pd-csi-node"), analysis.node("dns")
    assert calico.allowed(csi_node, METADATA, HTTP)
    assert not calico.allowed(csi_node, METADATA, HTTPS)  # the storage namespace's NetworkPolicy decides the port
    assert calico.allowed(dns, METADATA, DNS) and calico.allowed(dns, METADATA, ("TCP", 53))
    assert not calico.allowed(dns, METADATA, HTTP)
    assert not calico.allowed(analysis.node("stray.storage"), METADATA, HTTP)


def test_the_whole_matrix_still_holds_with_the_tier(calico: CalicoEvaluator, analysis: Analysis) -> None:
    problems = compare(analysis, calico.connectivity(analysis.pairs(), analysis.universe()))
    assert not problems, "\n".join(problems)


def test_without_the_declared_needs_policy_the_csi_node_plugin_is_cut_off(calico_objects: List[Obj], policies: List[Obj],
                                                                          namespaces: Dict[str, Dict[str, str]],
                                                                          analysis: Analysis) -> None:
    broken = [o for o in copy.deepcopy(calico_objects) if not o["metadata"]["name"].endswith(".declared-needs")]
    problems = compare(analysis, CalicoEvaluator(broken, Evaluator(policies, namespaces)).connectivity(analysis.pairs(), analysis.universe()))
    assert any(p.startswith("missing: gce-pd-csi-node -> gce-metadata 80 ") for p in problems), problems
    assert any(p.startswith("missing: dns -> gce-metadata 53 ") for p in problems), problems


def test_the_policies_follow_calicos_tier_naming(calico_objects: List[Obj]) -> None:
    tier = next(o for o in calico_objects if o["kind"] == "Tier")
    assert 1000 < tier["spec"]["order"] < 1_000_000 and tier["spec"]["defaultAction"] == "Pass"
    for policy in (o for o in calico_objects if o["kind"] == "GlobalNetworkPolicy"):
        assert policy["metadata"]["name"].startswith(tier["metadata"]["name"] + ".")
        assert policy["spec"]["tier"] == tier["metadata"]["name"] and policy["spec"]["types"] == ["Egress"]
        assert policy["metadata"]["labels"]["projectcalico.org/tier"] == tier["metadata"]["name"]


# -- the model of Calico's tiered evaluation ------------------------------------------------------


def tier(name: str, order: int, default_action: str = "") -> Obj:
    spec: Obj = {"order": order}
    if default_action:
        spec["defaultAction"] = default_action
    return {"apiVersion": "crd.projectcalico.org/v1", "kind": "Tier", "metadata": {"name": name}, "spec": spec}


def gnp(name: str, order: int, egress: List[Obj], sel: str = "all()") -> Obj:
    return {"apiVersion": "crd.projectcalico.org/v1", "kind": "GlobalNetworkPolicy", "metadata": {"name": name},
            "spec": {"order": order, "selector": sel, "types": ["Egress"], "egress": egress}}


DENY_ALL_EGRESS = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "deny", "namespace": "team-later"},
                   "spec": {"podSelector": {}, "policyTypes": ["Egress"]}}


def test_pass_hands_over_to_the_namespaces_policies() -> None:
    objects = [tier("t", 10), gnp("t.p", 1, [{"action": "Pass"}])]
    assert not CalicoEvaluator(objects, Evaluator([DENY_ALL_EGRESS], {})).allowed(LATER, INTERNET, HTTPS)
    assert CalicoEvaluator(objects, Evaluator([], {})).allowed(LATER, INTERNET, HTTPS)


def test_allow_in_an_earlier_tier_wins_over_a_namespace_deny() -> None:
    objects = [tier("t", 10), gnp("t.p", 1, [{"action": "Allow", "destination": {"nets": ["203.0.113.0/24"]}}])]
    assert CalicoEvaluator(objects, Evaluator([DENY_ALL_EGRESS], {})).allowed(LATER, INTERNET, HTTPS)


def test_a_selecting_tier_without_a_match_applies_its_default_action() -> None:
    rules = [{"action": "Deny", "destination": {"nets": ["10.0.0.0/8"]}}]
    assert not CalicoEvaluator([tier("t", 10), gnp("t.p", 1, rules)], Evaluator([], {})).allowed(LATER, INTERNET, HTTPS)
    assert CalicoEvaluator([tier("t", 10, "Pass"), gnp("t.p", 1, rules)], Evaluator([], {})).allowed(LATER, INTERNET, HTTPS)


def test_a_tier_whose_policies_select_nothing_is_skipped() -> None:
    objects = [tier("t", 10), gnp("t.p", 1, [{"action": "Deny"}], sel="app == 'other'")]
    assert CalicoEvaluator(objects, Evaluator([], {})).allowed(LATER, INTERNET, HTTPS)


def test_policies_run_in_order_and_the_first_matching_rule_decides() -> None:
    objects = [tier("t", 10), gnp("t.late", 20, [{"action": "Deny"}]), gnp("t.early", 10, [{"action": "Pass", "protocol": "UDP"}])]
    evaluator = CalicoEvaluator(objects, Evaluator([], {}))
    assert evaluator.allowed(LATER, INTERNET, DNS) and not evaluator.allowed(LATER, INTERNET, HTTPS)


def test_policies_of_the_default_tier_are_refused_rather_than_guessed() -> None:
    with pytest.raises(ValueError, match="ahead of the default tier"):
        CalicoEvaluator([gnp("plain", 1, [])], Evaluator([], {}))


@pytest.mark.parametrize("text,labels,expected", [
    ("all()", {}, True),
    ("", {"a": "1"}, True),
    ("has(a)", {"a": "1"}, True),
    ("has(a)", {}, False),
    ('a == "1" && b == \'2\'', {"a": "1", "b": "2"}, True),
    ('a == "1" && b == "2"', {"a": "1", "b": "3"}, False),
    ('(a == "1" && b == "2") || (c == "3")', {"c": "3"}, True),
    ('a != "1"', {}, True),
    ('a in {"1", "2"}', {"a": "2"}, True),
    ('a not in {"1", "2"}', {"a": "2"}, False),
    ('!has(a) && projectcalico.org/namespace == "x"', {"projectcalico.org/namespace": "x"}, True),
])
def test_selectors(text: str, labels: Dict[str, str], expected: bool) -> None:
    assert selector(text)(labels) is expected


@pytest.mark.parametrize("text", ["a ==", "a = '1'", "(a == '1'", "a == '1' b"])
def test_a_malformed_selector_is_an_error(text: str) -> None:
    with pytest.raises(ValueError):
        selector(text)(({}))


# -- preflight ----------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("extra,expected", [
    ({"network_policies_calico_metadata_tier": "default"}, "network_policies_calico_metadata_tier must be a name"),
    ({"network_policies_calico_metadata_tier_order": 2000000}, "got 2000000"),
])
def test_bad_metadata_block_settings_stop_in_preflight(tmp_path: Path, extra: Dict[str, Any], expected: str) -> None:
    result = run_playbook(["playbooks/security.yml", "--tags", "network_policies", "-e", json.dumps(extra),
                           "-e", "platform_render_dir=%s" % (tmp_path / "out")])
    assert result.returncode != 0
    assert expected in " ".join(result.stdout.split()), result.stdout[-3000:]
