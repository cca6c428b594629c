"""The PostgreSQL flows of the matrix on the rendered policies, both ways: who reaches the
CloudNativePG instances and the operator on which ports, and who does not. (The whole matrix is
compared in test_matrix.py; this names the database's contract explicitly.)"""

from __future__ import annotations

import copy
from typing import Any, Dict, FrozenSet, List, Tuple

import pytest

from evaluator import Evaluator, Port
from matrix import Analysis, compare

Obj = Dict[str, Any]
Allowed = Dict[Tuple[str, str], FrozenSet[Port]]
PG = ("TCP", 5432)
STATUS = ("TCP", 8000)
METRICS = ("TCP", 9187)


def connectivity(analysis: Analysis, policies: List[Obj], namespaces: Dict[str, Dict[str, str]]) -> Allowed:
    return Evaluator(policies, namespaces).connectivity(analysis.pairs(), analysis.universe())


@pytest.fixture(scope="module")
def allowed(analysis: Analysis, policies: List[Obj], namespaces: Dict[str, Dict[str, str]]) -> Allowed:
    return connectivity(analysis, policies, namespaces)


def ports(allowed: Allowed, src: str, dst: str) -> FrozenSet[Port]:
    return allowed.get((src, dst), frozenset())


@pytest.mark.parametrize("client", ["jira", "confluence"])
def test_only_the_atlassian_apps_reach_the_database(allowed: Allowed, client: str) -> None:
    assert ports(allowed, client, "postgresql") == {PG}


@pytest.mark.parametrize("other", ["stray.atlassian", "stray.outsider", "wordpress", "mariadb-galera", "gateway-proxy", "ha-prober"])
def test_nobody_else_reaches_the_database(allowed: Allowed, other: str) -> None:
    assert ports(allowed, other, "postgresql") == frozenset()


def test_the_database_opens_no_connection_to_the_apps(allowed: Allowed) -> None:
    for app in ("jira", "confluence", "stray.atlassian"):
        assert ports(allowed, "postgresql", app) == frozenset()


def test_instances_replicate_among_themselves(allowed: Allowed) -> None:
    assert ports(allowed, "postgresql", "postgresql") == {PG, STATUS}


def test_operator_reaches_status_and_postgresql_and_the_api(allowed: Allowed) -> None:
    assert ports(allowed, "cnpg-operator", "postgresql") == {PG, STATUS}
    assert ports(allowed, "cnpg-operator", "kube-apiserver") == {("TCP", 6443)}
    assert ports(allowed, "postgresql", "kube-apiserver") == {("TCP", 6443)}
    assert ports(allowed, "postgresql", "cnpg-operator") == frozenset()


def test_only_the_api_server_calls_the_webhooks(allowed: Allowed) -> None:
    assert ports(allowed, "kube-apiserver", "cnpg-operator") == {("TCP", 9443)}
    assert ports(allowed, "stray.cnpg-system", "cnpg-operator") == frozenset()
    assert ports(allowed, "jira", "cnpg-operator") == frozenset()


def test_prometheus_scrapes_metrics_and_nothing_else(allowed: Allowed) -> None:
    assert ports(allowed, "prometheus", "postgresql") == {METRICS}
    assert ports(allowed, "prometheus", "cnpg-operator") == {("TCP", 8080)}
    assert METRICS not in ports(allowed, "jira", "postgresql")


def test_jobs_reach_postgresql_only(allowed: Allowed) -> None:
    for job in ("postgresql-bootstrap", "postgresql-backup"):
        assert ports(allowed, job, "postgresql") == {PG}
        assert ports(allowed, job, "external") == frozenset()
        assert ports(allowed, job, "kube-apiserver") == frozenset()


def test_no_backup_egress_without_a_bucket(allowed: Allowed) -> None:
    assert ports(allowed, "postgresql", "external") == frozenset()


def test_a_client_left_out_of_the_database_policy_is_missing(analysis: Analysis, policies: List[Obj],
                                                            namespaces: Dict[str, Dict[str, str]]) -> None:
    broken = copy.deepcopy(policies)
    policy = next(p for p in broken if p["metadata"]["namespace"] == "atlassian" and p["metadata"]["name"] == "allow-postgresql")
    for rule in policy["spec"]["ingress"]:
        rule["from"] = [peer for peer in rule.get("from", [])
                        if (peer.get("podSelector") or {}).get("matchLabels", {}).get("app.kubernetes.io/name") != "jira"]
    policy["spec"]["ingress"] = [rule for rule in policy["spec"]["ingress"] if rule["from"]]
    problems = compare(analysis, connectivity(analysis, broken, namespaces))
    assert [p for p in problems if p.startswith("missing: jira -> postgresql")] == [
        "missing: jira -> postgresql 5432 (jira -> postgresql: Jira database)"], problems
