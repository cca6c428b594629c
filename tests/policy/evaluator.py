"""A small evaluator of Kubernetes NetworkPolicy (networking.k8s.io/v1) semantics.

Given the policies, the namespaces (with their labels) and the endpoints (pods with labels,
or bare IP addresses outside the pod network), it answers: may `src` open a connection to
`dst` on protocol/port? A connection is allowed when the source's egress allows it AND the
destination's ingress allows it; a side no policy selects (for that direction) is open; a
bare IP address has no policies of its own. `ipBlock` peers match bare IP addresses only,
as network-config-analyzer reads them (the API documents ipBlock for cluster-external
addresses; pod IPs are matched by selectors). Named ports match a pod's declared port names.

This is our own code, unit-tested in test_evaluator.py and cross-checked against
network-config-analyzer on the rendered platform and on the broken fixtures.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any, Dict, FrozenSet, Iterable, List, Mapping, Optional, Set, Tuple

Obj = Dict[str, Any]
Port = Tuple[str, int]  # ("TCP", 8080)


@dataclass(frozen=True)
class Endpoint:
    """A pod (namespace + labels) or a bare IP address (namespace None)."""

    name: str
    namespace: Optional[str]
    labels: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)
    ip: str = ""
    named_ports: Mapping[str, Port] = field(default_factory=dict, hash=False, compare=False)

    @property
    def is_pod(self) -> bool:
        return self.namespace is not None


def selector_matches(selector: Optional[Mapping[str, Any]], labels: Mapping[str, str]) -> bool:
    """A LabelSelector: {} or None matches everything."""
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            raise ValueError("unknown selector operator %r" % op)
    return True


def in_block(ip: str, block: Mapping[str, Any]) -> bool:
    address = ipaddress.ip_address(ip)
    net = ipaddress.ip_network(block["cidr"], strict=False)
    if address.version != net.version or address not in net:
        return False
    return not any(address in ipaddress.ip_network(e, strict=False) for e in block.get("except") or []
                   if ipaddress.ip_network(e, strict=False).version == address.version)


class Evaluator:
    def __init__(self, policies: Iterable[Obj], namespaces: Mapping[str, Mapping[str, str]]) -> None:
        self.policies = [p for p in policies if p.get("kind") == "NetworkPolicy"]
        # Every namespace carries kubernetes.io/metadata.name (the API server sets it).
        self.namespaces = {n: dict(labels, **{"kubernetes.io/metadata.name": n}) for n, labels in namespaces.items()}

    def namespace_labels(self, namespace: str) -> Mapping[str, str]:
        return self.namespaces.get(namespace, {"kubernetes.io/metadata.name": namespace})

    @staticmethod
    def types(policy: Obj) -> Set[str]:
        spec = policy.get("spec") or {}
        if spec.get("policyTypes"):
            return set(spec["policyTypes"])
        return {"Ingress"} | ({"Egress"} if spec.get("egress") else set())

    def selecting(self, pod: Endpoint, direction: str) -> List[Obj]:
        """Policies of `direction` (Ingress/Egress) that select this pod."""
        if not pod.is_pod:
            return []
        return [
            p for p in self.policies
            if (p.get("metadata") or {}).get("namespace") == pod.namespace
            and direction in self.types(p)
            and selector_matches((p.get("spec") or {}).get("podSelector"), pod.labels)
        ]

    def peer_matches(self, peer: Mapping[str, Any], other: Endpoint, policy_namespace: str) -> bool:
        if "ipBlock" in peer:
            return not other.is_pod and in_block(other.ip, peer["ipBlock"])
        if not other.is_pod:
            return False
        if "namespaceSelector" in peer:
            if not selector_matches(peer["namespaceSelector"], self.namespace_labels(other.namespace or "")):
                return False
        elif other.namespace != policy_namespace:
            return False
        return selector_matches(peer.get("podSelector"), other.labels) if "podSelector" in peer else True

    @staticmethod
    def port_matches(entries: Optional[List[Mapping[str, Any]]], port: Port, target: Endpoint) -> bool:
        if not entries:
            return True
        protocol, number = port
        for entry in entries:
            if entry.get("protocol", "TCP") != protocol:
                continue
            value = entry.get("port")
            if value is None:
                return True
            if isinstance(value, str) and not value.isdigit():
                if target.named_ports.get(value) == port:
                    return True
                continue
            low = int(value)
            high = int(entry.get("endPort", low))
            if low <= number <= high:
                return True
        return False

    def rule_allows(self, policy: Obj, direction: str, other: Endpoint, port: Port, target: Endpoint) -> bool:
        """Does one of the policy's rules of `direction` admit `other` on `port` (to `target`)?"""
        key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
        namespace = (policy.get("metadata") or {}).get("namespace", "")
        for rule in (policy.get("spec") or {}).get(key) or []:
            peers = rule.get(peers_key) or []
            if peers and not any(self.peer_matches(peer, other, namespace) for peer in peers):
                continue
            if self.port_matches(rule.get("ports"), port, target):
                return True
        return False

    def allowed(self, src: Endpoint, dst: Endpoint, port: Port) -> bool:
        egress = self.selecting(src, "Egress")
        if egress and not any(self.rule_allows(p, "Egress", dst, port, dst) for p in egress):
            return False
        ingress = self.selecting(dst, "Ingress")
        if ingress and not any(self.rule_allows(p, "Ingress", src, port, dst) for p in ingress):
            return False
        return True

    def connectivity(self, pairs: Iterable[Tuple[Endpoint, Endpoint]], universe: Iterable[Port]) -> Dict[Tuple[str, str], FrozenSet[Port]]:
        """Allowed ports of the universe for each (src, dst) pair, keyed by endpoint names."""
        ports = sorted(set(universe))
        return {
            (src.name, dst.name): frozenset(p for p in ports if self.allowed(src, dst, p))
            for src, dst in pairs
        }
