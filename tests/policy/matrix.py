"""The declared connectivity matrix (roles/network_policies/defaults/main.yml) as data, and the
comparison of what the rendered policies allow with what the matrix intends.

Used by the tests in this directory and by scripts/gen-network-matrix.py.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, FrozenSet, Iterable, List, Mapping, Optional, Set, Tuple

import yaml

from evaluator import Endpoint, Port, selector_matches

Obj = Dict[str, Any]
ROOT = Path(__file__).resolve().parents[2]
DEFAULTS = ROOT / "roles" / "network_policies" / "defaults" / "main.yml"
ANY = "*"
# Pod label every synthetic pod of this analysis carries (and the live test's probe pods).
PROBE_LABEL = "orchestrate.platform/network-probe"
# A namespace the platform does not own, with a pod in it: a stranger that must reach nothing.
OUTSIDER_NAMESPACE = "outsider"
# Ports tried besides those of the matrix: common services and the two ends of the range.
EXTRA_PORTS: Tuple[Port, ...] = (("TCP", 1), ("TCP", 22), ("TCP", 80), ("TCP", 443), ("TCP", 2379), ("TCP", 10250),
                                 ("TCP", 65535), ("UDP", 53), ("UDP", 123), ("UDP", 65535), ("SCTP", 9999))
# Bare addresses tried besides the address groups' own: the rest of link-local must stay closed.
EXTRA_ADDRESSES = {"link-local": "169.254.1.1"}


def load_defaults(path: Path = DEFAULTS) -> Dict[str, Any]:
    return yaml.safe_load(path.read_text()) or {}


def resolve(defaults: Mapping[str, Any], name: str) -> Any:
    """A default's value; the templated CIDR defaults (`{{ [platform_x | default('10.0.0.0/8')] }}`
    or `{{ network_policies_other }}`) resolve to the literal they fall back to."""
    value = defaults[name]
    if not isinstance(value, str) or "{{" not in value:
        return value
    ref = re.fullmatch(r"\{\{\s*(network_policies_\w+)\s*\}\}", value.strip())
    if ref:
        return resolve(defaults, ref.group(1))
    fallback = re.findall(r"default\('([^']+)'", value)
    if fallback:
        return fallback
    raise ValueError("%s: cannot resolve %r offline" % (name, value))


def ports_of(flow: Mapping[str, Any]) -> List[Port]:
    found = []
    for entry in flow.get("ports") or []:
        number, _, protocol = str(entry).partition("/")
        found.append(((protocol or flow.get("protocol") or "TCP").upper(), int(number)))
    return found


def port_text(port: Port) -> str:
    return "%d/%s" % (port[1], port[0]) if port[0] != "TCP" else str(port[1])


@dataclass
class Matrix:
    endpoints: Dict[str, Obj]
    flows: List[Obj]  # every declared flow
    optional: Dict[str, bool]
    groups: Dict[str, Dict[str, List[str]]]  # address group -> cidrs / except

    @classmethod
    def from_defaults(cls, defaults: Optional[Mapping[str, Any]] = None, **overrides: Any) -> "Matrix":
        d = dict(defaults if defaults is not None else load_defaults())
        d.update(overrides)
        m = d["network_policies_matrix"]
        cidrs = {k: resolve(d, "network_policies_%s" % k) for k in
                 ("pod_cidrs", "service_cidrs", "node_cidrs", "apiserver_cidrs", "external_cidrs", "external_except",
                  "metadata_cidrs")}
        groups = {
            "external": {"cidrs": cidrs["external_cidrs"],
                         "except": cidrs["pod_cidrs"] + cidrs["service_cidrs"] + cidrs["node_cidrs"] + cidrs["external_except"]},
            "nodes": {"cidrs": cidrs["node_cidrs"], "except": []},
            "apiserver": {"cidrs": cidrs["apiserver_cidrs"], "except": []},
            "metadata": {"cidrs": cidrs["metadata_cidrs"], "except": []},
        }
        return cls({e["name"]: dict(e) for e in m["endpoints"]}, [dict(f) for f in m["flows"]],
                   dict(d.get("network_policies_optional_flows") or {}), groups)

    def enabled(self, flow: Mapping[str, Any]) -> bool:
        return not flow.get("optional") or bool(self.optional.get(flow["optional"]))

    def enabled_flows(self) -> List[Obj]:
        return [f for f in self.flows if self.enabled(f)]

    def pod_endpoints(self) -> List[Obj]:
        return [e for e in self.endpoints.values() if not e.get("addresses") and not e.get("pods_anywhere")]

    def platform_pod_endpoints(self) -> List[Obj]:
        return [e for e in self.pod_endpoints() if e.get("policy", True)]

    def namespaces(self) -> List[str]:
        return sorted({e["namespace"] for e in self.platform_pod_endpoints()})

    def all_ports(self) -> Set[Port]:
        return {p for f in self.flows for p in ports_of(f)}

    def in_group(self, ip: str, group: str) -> bool:
        address = ipaddress.ip_address(ip)
        g = self.groups[group]
        inside = any(address in ipaddress.ip_network(c, strict=False) for c in g["cidrs"])
        return inside and not any(address in ipaddress.ip_network(e, strict=False) for e in g["except"])

    def representative_ip(self, group: str) -> str:
        """An address of the group (outside its exceptions): 203.0.113.10 (TEST-NET-3) for external,
        else the tenth (nodes), second (apiserver) or first (metadata) address of its first CIDR."""
        if group == "external":
            candidate = "203.0.113.10"
        else:
            net = ipaddress.ip_network(self.groups[group]["cidrs"][0], strict=False)
            offset = {"nodes": 10, "apiserver": 2}.get(group, 0)
            candidate = str(net.network_address + min(offset, net.num_addresses - 1))
        assert self.in_group(candidate, group), "%s is not in address group %s" % (candidate, group)
        return candidate


# -- pods of the analysis ------------------------------------------------------------------

POD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicaSet", "Pod")


def pod_template(workload: Obj) -> Obj:
    if workload.get("kind") == "Pod":
        return workload
    spec = workload.get("spec") or {}
    if workload.get("kind") == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    return spec.get("template") or {}


def host_network(workload: Obj) -> bool:
    return bool((pod_template(workload).get("spec") or {}).get("hostNetwork"))


def workload_labels(workload: Obj) -> Dict[str, str]:
    return dict((pod_template(workload).get("metadata") or {}).get("labels") or {})


def named_ports(workload: Obj) -> Dict[str, Port]:
    spec = pod_template(workload).get("spec") or {}
    return {p["name"]: (p.get("protocol", "TCP"), int(p["containerPort"]))
            for c in spec.get("containers") or [] for p in c.get("ports") or [] if p.get("name")}


def endpoint_of(matrix: Matrix, namespace: str, labels: Mapping[str, str]) -> Optional[str]:
    for ep in matrix.pod_endpoints():
        if ep["namespace"] == namespace and selector_matches({"matchLabels": ep["pods"]}, labels):
            return ep["name"]
    return None


@dataclass
class Analysis:
    """Endpoints (rendered pods, synthetic stand-ins, bare addresses) and their roles."""

    matrix: Matrix
    owned: List[str]  # namespaces the platform owns (rendered Namespace objects)
    nodes: List[Endpoint] = field(default_factory=list)
    members: Dict[str, List[str]] = field(default_factory=dict)  # matrix endpoint -> analysis endpoint names
    rendered: Dict[str, str] = field(default_factory=dict)  # analysis endpoint -> "Kind ns/name" it came from
    unmatched: List[str] = field(default_factory=list)  # rendered workloads of owned namespaces in no endpoint

    @classmethod
    def build(cls, matrix: Matrix, owned: Iterable[str], workloads: Iterable[Obj]) -> "Analysis":
        a = cls(matrix, sorted(owned))
        taken: Set[str] = set()
        for w in workloads:
            meta = w.get("metadata") or {}
            if w.get("kind") not in POD_KINDS or host_network(w):
                continue  # host-network pods are the `nodes` address group
            labels = workload_labels(w)
            where = "%s %s/%s" % (w.get("kind"), meta.get("namespace"), meta.get("name"))
            ep = endpoint_of(matrix, meta.get("namespace", ""), labels)
            name = "%s.%s" % (meta.get("namespace"), meta.get("name"))
            if ep is None:
                if meta.get("namespace") in a.owned:
                    a.unmatched.append(where)
                a.add(Endpoint(name, meta.get("namespace"), labels, named_ports=named_ports(w)), None, where)
                continue
            taken.add(ep)
            a.add(Endpoint(ep if ep not in a.members else name, meta.get("namespace"), labels,
                           named_ports=named_ports(w)), ep, where)
        for ep in matrix.pod_endpoints():
            if ep["name"] not in taken:  # not rendered yet: a stand-in with exactly the declared labels
                a.add(Endpoint(ep["name"], ep["namespace"], dict(ep["pods"], **{PROBE_LABEL: "matrix"})), ep["name"])
        for namespace in a.owned:  # a pod of no endpoint: it gets DNS and nothing else
            a.add(Endpoint("stray.%s" % namespace, namespace, {PROBE_LABEL: "stray"}), None)
        a.add(Endpoint("stray.%s" % OUTSIDER_NAMESPACE, OUTSIDER_NAMESPACE, {PROBE_LABEL: "stray"}), None)
        for ep in matrix.endpoints.values():
            if ep.get("addresses"):
                a.add(Endpoint(ep["name"], None, ip=matrix.representative_ip(ep["addresses"])), None)
        for name, ip in EXTRA_ADDRESSES.items():
            a.add(Endpoint(name, None, ip=ip), None)
        return a

    def add(self, node: Endpoint, endpoint: Optional[str], rendered: str = "") -> None:
        self.nodes.append(node)
        if rendered:
            self.rendered[node.name] = rendered
        if endpoint:
            self.members.setdefault(endpoint, []).append(node.name)

    def node(self, name: str) -> Endpoint:
        return next(n for n in self.nodes if n.name == name)

    def is_platform_pod(self, node: Endpoint) -> bool:
        return node.is_pod and node.namespace in self.owned

    def pairs(self) -> List[Tuple[Endpoint, Endpoint]]:
        """Every ordered pair with a platform pod on at least one side (a pod paired with itself
        stands for two replicas of it)."""
        return [(s, d) for s in self.nodes for d in self.nodes if self.is_platform_pod(s) or self.is_platform_pod(d)]

    def universe(self) -> Set[Port]:
        return self.matrix.all_ports() | set(EXTRA_PORTS)

    def matching(self, endpoint: str) -> List[str]:
        """Analysis endpoints a matrix endpoint stands for: its pods, or the bare addresses inside its group."""
        if endpoint == ANY:
            return [n.name for n in self.nodes if self.is_platform_pod(n)]
        ep = self.matrix.endpoints[endpoint]
        if ep.get("pods_anywhere"):
            return [n.name for n in self.nodes if n.is_pod]
        if ep.get("addresses"):
            return [n.name for n in self.nodes if not n.is_pod and self.matrix.in_group(n.ip, ep["addresses"])]
        return list(self.members.get(endpoint, []))

    def expected(self) -> Dict[Tuple[str, str], Dict[Port, str]]:
        """(src, dst) -> {port: reason} of the enabled flows."""
        found: Dict[Tuple[str, str], Dict[Port, str]] = {}
        for flow in self.matrix.enabled_flows():
            for src in self.matching(flow["from"]):
                for dst in self.matching(flow["to"]):
                    for port in ports_of(flow):
                        found.setdefault((src, dst), {})[port] = "%s -> %s: %s" % (flow["from"], flow["to"], flow["reason"])
        return found


def compare(analysis: Analysis, allowed: Mapping[Tuple[str, str], FrozenSet[Port]]) -> List[str]:
    """Differences between what is allowed and what the matrix intends, both ways (empty when equal)."""
    expected = analysis.expected()
    universe = analysis.universe()
    problems = []
    for src, dst in sorted({(s.name, d.name) for s, d in analysis.pairs()}):
        want = {p for p in expected.get((src, dst), {}) if p in universe}
        got = set(allowed.get((src, dst), frozenset()))
        for port in sorted(want - got):
            problems.append("missing: %s -> %s %s (%s)" % (src, dst, port_text(port), expected[(src, dst)][port]))
        for port in sorted(got - want):
            problems.append("not in the matrix but allowed: %s -> %s %s" % (src, dst, port_text(port)))
    return problems


# -- the matrix itself -----------------------------------------------------------------------

NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
PORT = re.compile(r"^([1-9][0-9]{0,4})(/(TCP|UDP|SCTP))?$")
ADDRESS_GROUPS = ("external", "nodes", "apiserver", "metadata")


def problems(matrix: Matrix) -> List[str]:
    """What is wrong with the declared matrix (the role's preflight checks the same, in Jinja)."""
    found: List[str] = []
    for name, ep in matrix.endpoints.items():
        if not NAME.match(name):
            found.append("endpoint %s: not a lowercase DNS label" % name)
        if ep.get("pods_anywhere"):
            if ep.get("addresses") or ep.get("namespace") or ep.get("pods"):
                found.append("endpoint %s: pods_anywhere stands alone (no namespace, pods or addresses)" % name)
            if any(f.get("to") == name for f in matrix.flows):
                found.append("endpoint %s: pods_anywhere is a source only (no policy selects every pod)" % name)
        elif ep.get("addresses"):
            if ep["addresses"] not in ADDRESS_GROUPS:
                found.append("endpoint %s: addresses must be one of %s" % (name, ", ".join(ADDRESS_GROUPS)))
        elif not ep.get("namespace") or not ep.get("pods"):
            found.append("endpoint %s: a pod endpoint needs namespace and pods" % name)
    seen: Set[Tuple[Any, ...]] = set()
    for flow in matrix.flows:
        label = "flow %s -> %s" % (flow.get("from"), flow.get("to"))
        if flow.get("from") != ANY and flow.get("from") not in matrix.endpoints:
            found.append("%s: unknown source" % label)
        if flow.get("to") not in matrix.endpoints:
            found.append("%s: unknown destination" % label)
        if flow.get("from") == ANY and not flow.get("rendered_by"):
            found.append("%s: '*' only for flows another role renders" % label)
        if not flow.get("reason"):
            found.append("%s: no reason" % label)
        bad = [p for p in flow.get("ports") or [] if not PORT.match(str(p)) or int(str(p).split("/")[0]) > 65535]
        if bad or not flow.get("ports"):
            found.append("%s: ports must be <1-65535>[/TCP|UDP|SCTP], got %r" % (label, flow.get("ports")))
        if flow.get("optional") and flow["optional"] not in matrix.optional:
            found.append("%s: optional switch %s is not in network_policies_optional_flows" % (label, flow["optional"]))
        key = (flow.get("from"), flow.get("to"), flow.get("optional"))
        if key in seen:
            found.append("%s: declared twice (merge the ports)" % label)
        seen.add(key)
    return found
