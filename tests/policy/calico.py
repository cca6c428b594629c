"""Calico's tiered policy, as far as the platform uses it: Tiers and GlobalNetworkPolicies
(crd.projectcalico.org/v1) evaluated before the default tier, whose Kubernetes NetworkPolicies
the plain evaluator (evaluator.py) decides.

Semantics (Calico's "policy tiers"): tiers run in ascending `order`; inside a tier, the policies
that select the endpoint for the direction run in ascending `order`, and the first rule that
matches decides - Allow or Deny end the evaluation, Pass skips the rest of the tier. A tier whose
policies select the endpoint but match nothing applies its `defaultAction` (Deny unless Pass).
A tier none of whose policies selects the endpoint is skipped. Only workload endpoints (pods)
are selected; bare addresses have no policies. The selector language is implemented for what the
platform writes: all(), has(k), ==, !=, in, not in, !, &&, || and parentheses.

Our own code, unit-tested in test_calico.py."""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple

from evaluator import Endpoint, Evaluator, Port

Obj = Dict[str, Any]
GROUP = "crd.projectcalico.org/v1"
DEFAULT_TIER = "default"
NAMESPACE_LABEL = "projectcalico.org/namespace"
NAMESPACE_NAME = "projectcalico.org/name"

# -- selectors ---------------------------------------------------------------------------------

TOKEN = re.compile(r"\s*(?:(?P<op>&&|\|\||==|!=|!|\(|\)|\{|\}|,)|(?P<str>\"[^\"]*\"|'[^']*')|(?P<word>[A-Za-z0-9_./-]+))")
Labels = Mapping[str, str]
Predicate = Callable[[Labels], bool]


def _tokens(text: str) -> List[str]:
    out, position = [], 0
    text = text.strip()
    while position < len(text):
        match = TOKEN.match(text, position)
        if not match or match.end() == position:
            raise ValueError("cannot parse Calico selector %r at %d" % (text, position))
        out.append(match.group(0).strip())
        position = match.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens, self.text = _tokens(text), text

    def peek(self) -> Optional[str]:
        return self.tokens[0] if self.tokens else None

    def take(self, expected: Optional[str] = None) -> str:
        if not self.tokens or (expected is not None and self.tokens[0] != expected):
            raise ValueError("Calico selector %r: expected %r, got %r" % (self.text, expected, self.peek()))
        return self.tokens.pop(0)

    def parse(self) -> Predicate:
        predicate = self.disjunction()
        if self.tokens:
            raise ValueError("Calico selector %r: unexpected %r" % (self.text, self.peek()))
        return predicate

    def disjunction(self) -> Predicate:
        terms = [self.conjunction()]
        while self.peek() == "||":
            self.take()
            terms.append(self.conjunction())
        return lambda labels: any(term(labels) for term in terms)

    def conjunction(self) -> Predicate:
        terms = [self.unary()]
        while self.peek() == "&&":
            self.take()
            terms.append(self.unary())
        return lambda labels: all(term(labels) for term in terms)

    def unary(self) -> Predicate:
        if self.peek() == "!":
            self.take()
            inner = self.unary()
            return lambda labels: not inner(labels)
        if self.peek() == "(":
            self.take()
            inner = self.disjunction()
            self.take(")")
            return inner
        return self.atom()

    @staticmethod
    def _string(token: str) -> str:
        if len(token) < 2 or token[0] not in "\"'" or token[-1] != token[0]:
            raise ValueError("expected a quoted value, got %r" % token)
        return token[1:-1]

    def _set(self) -> List[str]:
        self.take("{")
        values = []
        while self.peek() != "}":
            values.append(self._string(self.take()))
            if self.peek() == ",":
                self.take()
        self.take("}")
        return values

    def atom(self) -> Predicate:
        word = self.take()
        if word in ("all", "has"):
            self.take("(")
            key = self.take() if word == "has" else ""
            self.take(")")
            return (lambda labels: True) if word == "all" else (lambda labels: key in labels)
        operator = self.take()
        if operator == "==":
            value = self._string(self.take())
            return lambda labels: labels.get(word) == value
        if operator == "!=":
            value = self._string(self.take())
            return lambda labels: labels.get(word) != value
        if operator == "in":
            values = self._set()
            return lambda labels: labels.get(word) in values
        if operator == "not" and self.take("in"):
            values = self._set()
            return lambda labels: labels.get(word) not in values
        raise ValueError("Calico selector %r: unsupported operator %r" % (self.text, operator))


def selector(text: Optional[str]) -> Predicate:
    """A Calico selector as a predicate on labels; empty or missing is all()."""
    return _Parser(text).parse() if text and text.strip() else (lambda labels: True)


# -- policies ----------------------------------------------------------------------------------


def tier_of(policy: Obj) -> str:
    """The tier of a policy, as Calico's backend derives it from the name (<tier>.<name>)."""
    name = policy["metadata"]["name"]
    return name.split(".", 1)[0] if "." in name else DEFAULT_TIER


class CalicoEvaluator:
    """Tiers before the default tier, then the Kubernetes NetworkPolicies (`default` evaluator)."""

    def __init__(self, objects: Iterable[Obj], default: Evaluator) -> None:
        objects = list(objects)
        for obj in objects:
            if obj.get("apiVersion") != GROUP or obj.get("kind") not in ("Tier", "GlobalNetworkPolicy"):
                raise ValueError("not modelled: %s %s" % (obj.get("apiVersion"), obj.get("kind")))
        self.tiers = {t["metadata"]["name"]: t.get("spec") or {} for t in objects if t["kind"] == "Tier"}
        self.policies = [p for p in objects if p["kind"] == "GlobalNetworkPolicy"]
        for policy in self.policies:
            tier = tier_of(policy)
            if tier == DEFAULT_TIER or tier not in self.tiers:
                raise ValueError("%s: only policies of a rendered tier ahead of the default tier are modelled" % policy["metadata"]["name"])
            if (policy.get("spec") or {}).get("tier", tier) != tier:
                raise ValueError("%s: spec.tier disagrees with the name" % policy["metadata"]["name"])
        self.default = default

    def _labels(self, pod: Endpoint) -> Dict[str, str]:
        return dict(pod.labels, **{NAMESPACE_LABEL: pod.namespace or ""})

    def _namespace_labels(self, pod: Endpoint) -> Dict[str, str]:
        return dict(self.default.namespace_labels(pod.namespace or ""), **{NAMESPACE_NAME: pod.namespace or ""})

    def selects(self, policy: Obj, pod: Endpoint, direction: str) -> bool:
        spec = policy.get("spec") or {}
        if not pod.is_pod or direction not in (spec.get("types") or []):
            return False
        if "namespaceSelector" in spec and not selector(spec["namespaceSelector"])(self._namespace_labels(pod)):
            return False
        return selector(spec.get("selector"))(self._labels(pod))

    def _peer(self, peer: Mapping[str, Any], other: Endpoint) -> bool:
        unknown = set(peer) - {"nets", "ports", "selector", "namespaceSelector"}
        if unknown:
            raise ValueError("rule fields not modelled: %s" % sorted(unknown))
        if "nets" in peer:
            if other.is_pod or not any(ipaddress.ip_address(other.ip) in ipaddress.ip_network(n, strict=False) for n in peer["nets"]):
                return False
        if "selector" in peer or "namespaceSelector" in peer:
            if not other.is_pod:
                return False
            if "namespaceSelector" in peer and not selector(peer["namespaceSelector"])(self._namespace_labels(other)):
                return False
            if "selector" in peer and not selector(peer["selector"])(self._labels(other)):
                return False
        return True

    def _rule_matches(self, rule: Mapping[str, Any], other: Endpoint, port: Port, direction: str) -> bool:
        """Does the rule match a connection to (egress) or from (ingress) `other` on `port`?
        The port is always the destination's; the peer is the rule's destination for egress and
        its source for ingress."""
        protocol, number = port
        if rule.get("protocol") and rule["protocol"] != protocol:
            return False
        destination = rule.get("destination") or {}
        if not self._peer(destination if direction == "Egress" else rule.get("source") or {}, other):
            return False
        ports = destination.get("ports")
        return not ports or number in [int(p) for p in ports]

    def verdict(self, pod: Endpoint, other: Endpoint, port: Port, direction: str) -> str:
        """allow, deny or pass (on to the default tier) for `pod`'s side of the connection."""
        key = "egress" if direction == "Egress" else "ingress"
        for tier in sorted(self.tiers, key=lambda name: (float(self.tiers[name].get("order", 1e6)), name)):
            selecting = sorted((p for p in self.policies if tier_of(p) == tier and self.selects(p, pod, direction)),
                               key=lambda p: (float((p.get("spec") or {}).get("order", 1e9)), p["metadata"]["name"]))
            if not selecting:
                continue
            outcome = None
            for policy in selecting:
                for rule in (policy.get("spec") or {}).get(key) or []:
                    if self._rule_matches(rule, other, port, direction):
                        outcome = rule["action"]
                        break
                if outcome:
                    break
            outcome = outcome or self.tiers[tier].get("defaultAction", "Deny")
            if outcome in ("Allow", "Deny"):
                return outcome.lower()
        return "pass"

    def allowed(self, src: Endpoint, dst: Endpoint, port: Port) -> bool:
        egress = self.verdict(src, dst, port, "Egress")
        if egress == "deny":
            return False
        if egress == "pass" and self.default.selecting(src, "Egress") and not any(
                self.default.rule_allows(p, "Egress", dst, port, dst) for p in self.default.selecting(src, "Egress")):
            return False
        ingress = self.verdict(dst, src, port, "Ingress")
        if ingress == "deny":
            return False
        if ingress == "pass" and self.default.selecting(dst, "Ingress") and not any(
                self.default.rule_allows(p, "Ingress", src, port, dst) for p in self.default.selecting(dst, "Ingress")):
            return False
        return True

    def connectivity(self, pairs: Iterable[Tuple[Endpoint, Endpoint]], universe: Iterable[Port]) -> Dict[Tuple[str, str], frozenset]:
        ports = sorted(set(universe))
        return {(src.name, dst.name): frozenset(p for p in ports if self.allowed(src, dst, p)) for src, dst in pairs}
