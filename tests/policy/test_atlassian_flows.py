"""The Atlassian apps' flows, both ways, on the rendered platform's NetworkPolicies: the gateway
reaches Jira (8080) and Confluence (8090); cluster ports only between members of the same app;
each app reaches its database and nothing else outside DNS (no Marketplace, no internet)."""

from __future__ import annotations

from typing import Dict, FrozenSet, List, Tuple

import pytest

from evaluator import Evaluator, Port
from matrix import Analysis

Allowed = Dict[Tuple[str, str], FrozenSet[Port]]
JIRA_CLUSTER = [("TCP", 40001), ("TCP", 40011)]
CONFLUENCE_CLUSTER = [("TCP", 5701), ("TCP", 25500)]


@pytest.fixture(scope="module")
def allowed(analysis: Analysis, policies: List[dict], namespaces: Dict[str, Dict[str, str]]) -> Allowed:
    return Evaluator(policies, namespaces).connectivity(analysis.pairs(), analysis.universe())


def ports(allowed: Allowed, src: str, dst: str) -> FrozenSet[Port]:
    return allowed.get((src, dst), frozenset())


def test_the_apps_are_rendered_pods_not_stand_ins(analysis: Analysis) -> None:
    for app in ("jira", "confluence"):
        assert analysis.rendered.get(app, "").startswith("StatefulSet atlassian/"), analysis.rendered.get(app)


@pytest.mark.parametrize("app, port", [("jira", 8080), ("confluence", 8090)])
def test_the_gateway_reaches_the_app_on_its_http_port_only(allowed: Allowed, app: str, port: int) -> None:
    assert ports(allowed, "gateway-proxy", app) == frozenset({("TCP", port)})


@pytest.mark.parametrize("app, cluster", [("jira", JIRA_CLUSTER), ("confluence", CONFLUENCE_CLUSTER)])
def test_cluster_ports_only_between_members_of_the_same_app(allowed: Allowed, analysis: Analysis, app: str,
                                                             cluster: List[Port]) -> None:
    assert set(cluster) <= ports(allowed, app, app)
    others = [n.name for n in analysis.nodes if n.name != app]
    leaks = ["%s -> %s %s" % (other, app, p) for other in others for p in cluster if p in ports(allowed, other, app)]
    assert not leaks, leaks


@pytest.mark.parametrize("app", ["jira", "confluence"])
def test_the_app_reaches_its_database(allowed: Allowed, analysis: Analysis, app: str) -> None:
    databases = analysis.matching("postgresql")
    assert databases, "no endpoint stands for the PostgreSQL cluster"
    assert all(("TCP", 5432) in ports(allowed, app, db) for db in databases)


@pytest.mark.parametrize("app", ["jira", "confluence"])
def test_egress_is_dns_the_database_and_its_own_members_only(allowed: Allowed, analysis: Analysis, app: str) -> None:
    permitted = {app, "dns"} | set(analysis.matching("postgresql"))
    reached = sorted(dst.name for src, dst in analysis.pairs() if src.name == app and ports(allowed, app, dst.name))
    assert set(reached) <= permitted, "%s reaches %s" % (app, sorted(set(reached) - permitted))
    for outside in ("external", "kube-apiserver", "gce-metadata"):
        assert not ports(allowed, app, outside), "%s reaches %s (Marketplace and the internet are not allowed)" % (app, outside)


def test_no_other_app_reaches_jira_or_confluence(allowed: Allowed, analysis: Analysis) -> None:
    for app in ("jira", "confluence"):
        sources = sorted(src.name for src, dst in analysis.pairs() if dst.name == app and ports(allowed, src.name, app))
        assert set(sources) <= {app, "gateway-proxy"}, "%s is reached from %s" % (app, sources)
