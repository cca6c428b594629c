"""Unit tests of our NetworkPolicy evaluator: each rule of the API's semantics on tiny examples."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import pytest

from evaluator import Endpoint, Evaluator, in_block, selector_matches

Obj = Dict[str, Any]

WEB = Endpoint("web", "shop", {"app": "web"}, named_ports={"http": ("TCP", 8080)})
DB = Endpoint("db", "data", {"app": "db"})
OTHER = Endpoint("other", "shop", {"app": "other"})
OUTSIDE = Endpoint("internet", None, ip="203.0.113.9")
NODE = Endpoint("node", None, ip="10.240.0.5")
NAMESPACES = {"shop": {"team": "a"}, "data": {"team": "b"}}


def policy(namespace: str, selector: Optional[Obj] = None, types: Optional[List[str]] = None, **rules: Any) -> Obj:
    spec: Obj = {"podSelector": selector if selector is not None else {}}
    if types is not None:
        spec["policyTypes"] = types
    spec.update(rules)
    return {"kind": "NetworkPolicy", "metadata": {"name": "p", "namespace": namespace}, "spec": spec}


def deny(namespace: str) -> Obj:
    return policy(namespace, types=["Ingress", "Egress"])


def ev(*policies: Obj) -> Evaluator:
    return Evaluator(policies, NAMESPACES)


def test_no_policy_allows_everything() -> None:
    assert ev().allowed(WEB, DB, ("TCP", 1)) and ev().allowed(OUTSIDE, WEB, ("UDP", 53))


def test_default_deny_closes_both_directions() -> None:
    e = ev(deny("shop"), deny("data"))
    assert not e.allowed(WEB, DB, ("TCP", 5432))
    assert not e.allowed(OUTSIDE, WEB, ("TCP", 8080))
    assert not e.allowed(WEB, OUTSIDE, ("TCP", 443))


def test_flow_needs_egress_and_ingress() -> None:
    to_db = {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "data"}},
                     "podSelector": {"matchLabels": {"app": "db"}}}], "ports": [{"port": 5432}]}
    from_web = {"from": [{"namespaceSelector": {"matchLabels": {"team": "a"}}, "podSelector": {"matchLabels": {"app": "web"}}}],
                "ports": [{"protocol": "TCP", "port": 5432}]}
    egress_only = ev(deny("shop"), deny("data"), policy("shop", {"matchLabels": {"app": "web"}}, ["Egress"], egress=[to_db]))
    assert not egress_only.allowed(WEB, DB, ("TCP", 5432))
    both = ev(deny("shop"), deny("data"), policy("shop", {"matchLabels": {"app": "web"}}, ["Egress"], egress=[to_db]),
              policy("data", {"matchLabels": {"app": "db"}}, ["Ingress"], ingress=[from_web]))
    assert both.allowed(WEB, DB, ("TCP", 5432))
    assert not both.allowed(WEB, DB, ("TCP", 5433)) and not both.allowed(WEB, DB, ("UDP", 5432))
    assert not both.allowed(OTHER, DB, ("TCP", 5432))


def test_pod_selector_alone_means_the_policys_namespace() -> None:
    e = ev(policy("data", {}, ["Ingress"], ingress=[{"from": [{"podSelector": {}}]}]))
    assert e.allowed(Endpoint("x", "data", {}), DB, ("TCP", 1))
    assert not e.allowed(WEB, DB, ("TCP", 1))


def test_empty_rule_and_missing_ports_allow_everything() -> None:
    e = ev(policy("data", {}, ["Ingress"], ingress=[{}]))
    assert e.allowed(OUTSIDE, DB, ("SCTP", 9)) and e.allowed(WEB, DB, ("TCP", 65535))


def test_policy_types_default_to_ingress_plus_egress_when_egress_rules_exist() -> None:
    only_ingress = ev(policy("shop", {}))  # no policyTypes, no rules: ingress isolation only
    assert not only_ingress.allowed(DB, WEB, ("TCP", 80)) and only_ingress.allowed(WEB, DB, ("TCP", 80))
    with_egress = ev(policy("shop", {}, egress=[{"ports": [{"port": 53, "protocol": "UDP"}]}]))
    assert with_egress.allowed(WEB, DB, ("UDP", 53)) and not with_egress.allowed(WEB, DB, ("TCP", 53))


def test_ip_blocks_match_addresses_not_pods() -> None:
    rule = {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}], "ports": [{"port": 443}]}
    e = ev(policy("shop", {}, ["Egress"], egress=[rule]))
    assert e.allowed(WEB, OUTSIDE, ("TCP", 443))
    assert not e.allowed(WEB, NODE, ("TCP", 443))  # excepted
    assert not e.allowed(WEB, DB, ("TCP", 443))  # a pod: selectors, not ipBlocks
    assert in_block("10.1.2.3", {"cidr": "10.0.0.0/8"}) and not in_block("10.1.2.3", {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]})


def test_port_ranges_and_named_ports() -> None:
    e = ev(policy("shop", {}, ["Ingress"], ingress=[{"ports": [{"port": 9000, "endPort": 9002}, {"port": "http"}]}]))
    assert e.allowed(DB, WEB, ("TCP", 9001)) and not e.allowed(DB, WEB, ("TCP", 9003))
    assert e.allowed(DB, WEB, ("TCP", 8080))  # the pod's port named http
    assert not e.allowed(DB, OTHER, ("TCP", 8080))  # OTHER has no port named http


@pytest.mark.parametrize(("expr", "labels", "ok"), [
    ({"key": "a", "operator": "In", "values": ["1", "2"]}, {"a": "2"}, True),
    ({"key": "a", "operator": "In", "values": ["1"]}, {}, False),
    ({"key": "a", "operator": "NotIn", "values": ["1"]}, {}, True),
    ({"key": "a", "operator": "NotIn", "values": ["1"]}, {"a": "1"}, False),
    ({"key": "a", "operator": "Exists"}, {"a": ""}, True),
    ({"key": "a", "operator": "DoesNotExist"}, {"a": "x"}, False),
])
def test_match_expressions(expr: Obj, labels: Dict[str, str], ok: bool) -> None:
    assert selector_matches({"matchExpressions": [expr]}, labels) is ok


def test_unknown_operator_is_an_error() -> None:
    with pytest.raises(ValueError):
        selector_matches({"matchExpressions": [{"key": "a", "operator": "Gt"}]}, {})


def test_connectivity_lists_allowed_ports_per_pair() -> None:
    e = ev(deny("data"), policy("data", {"matchLabels": {"app": "db"}}, ["Ingress"], ingress=[{"ports": [{"port": 5432}]}]))
    found = e.connectivity([(WEB, DB), (DB, WEB)], [("TCP", 5432), ("TCP", 80)])
    assert found[("web", "db")] == {("TCP", 5432)}
    assert found[("db", "web")] == frozenset()  # db's egress is denied
