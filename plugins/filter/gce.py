"""Pure helpers for the GCE infrastructure roles (gce_network, gce_instances, gce_loadbalancer).

No API calls here: these functions turn the variable model into the exact resources the
roles create, and compare them with what the *_info modules found, so the roles act only on
the difference (google.cloud's instance and firewall modules are not idempotent by
themselves).
"""

from __future__ import annotations

import ipaddress
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence



# Protocol numbers GCE accepts for the names we use; the API echoes what it was given.
_PROTOCOL_ALIASES = {"4": "ipip", "6": "tcp", "17": "udp", "1": "icmp"}


class GceFilterError(ValueError):
    """Raised for input the helpers cannot work with."""


def _network(value: str) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(value, strict=True)


def gce_cidr_problems(cidrs: Mapping[str, Any], disjoint: Optional[Sequence[str]] = None) -> List[str]:
    """Check named IPv4 CIDRs; return one message per problem (empty list when all is well).

    ``cidrs`` maps a variable name to a CIDR string or a list of them. ``disjoint`` names the
    variables (single CIDRs) that must not overlap each other.
    """
    problems: List[str] = []
    parsed: Dict[str, ipaddress.IPv4Network] = {}
    for name, value in cidrs.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        for item in values:
            try:
                net = _network(str(item))
            except (ValueError, TypeError) as exc:
                problems.append("%s: %r is not an IPv4 network in CIDR notation (%s)" % (name, item, exc))
                continue
            if not isinstance(value, (list, tuple)):
                parsed[name] = net
    names = list(disjoint or [])
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            if first in parsed and second in parsed and parsed[first].overlaps(parsed[second]):
                problems.append("%s (%s) overlaps %s (%s)" % (first, parsed[first], second, parsed[second]))
    return problems


def gce_instance_plan(
    cluster: str,
    zones: Sequence[str],
    control_plane_count: int,
    worker_count: int,
    control_plane_machine_type: str,
    worker_machine_type: str,
) -> List[Dict[str, Any]]:
    """The instances of the cluster: names, roles and zones, spread round-robin over ``zones``.

    Control-plane node i and worker i land in zones[i % len(zones)], so with three zones each
    zone holds one etcd member and one worker.
    """
    if not zones:
        raise GceFilterError("gce_instance_plan: zones must not be empty")
    plan: List[Dict[str, Any]] = []
    for role, short, count, machine_type in (
        ("control-plane", "cp", int(control_plane_count), control_plane_machine_type),
        ("worker", "worker", int(worker_count), worker_machine_type),
    ):
        for index in range(count):
            plan.append(
                {
                    "name": "%s-%s-%d" % (cluster, short, index + 1),
                    "role": role,
                    "zone": zones[index % len(zones)],
                    "machine_type": machine_type,
                }
            )
    return plan


def _rule(name: str, description: str, allowed: List[Dict[str, Any]], target_tags: List[str],
          source_ranges: Optional[List[str]] = None, source_tags: Optional[List[str]] = None,
          priority: int = 1000) -> Dict[str, Any]:
    rule: Dict[str, Any] = {
        "name": name,
        "description": description,
        "direction": "INGRESS",
        "priority": priority,
        "allowed": allowed,
        "target_tags": sorted(target_tags),
    }
    if source_ranges:
        rule["source_ranges"] = sorted(source_ranges)
    if source_tags:
        rule["source_tags"] = sorted(source_tags)
    return rule


def _tcp(*ports: Any) -> Dict[str, Any]:
    return {"ip_protocol": "tcp", "ports": [str(p) for p in ports]}


def gce_firewall_rules(
    cluster: str,
    admin_cidrs: Sequence[str],
    encapsulation: str = "vxlan",
    health_check_ranges: Sequence[str] = (),
    gateway_ports: Sequence[int] = (),
    gateway_health_check_port: Optional[int] = None,
    gateway_source_ranges: Sequence[str] = (),
    extra_node_tcp_ports: Sequence[Any] = (),
    nfs_vm: bool = False,
) -> List[Dict[str, Any]]:
    """The complete ingress rule set of the cluster's network, as gcp_compute_firewall options.

    Tags: ``<cluster>-node`` on every instance, ``<cluster>-control-plane`` and
    ``<cluster>-worker`` by role. Everything not listed here stays closed (GCE's implied
    deny-ingress rule).
    """
    if encapsulation not in ("vxlan", "ipip"):
        raise GceFilterError("encapsulation must be vxlan or ipip, got %r" % encapsulation)
    node = "%s-node" % cluster
    cp = "%s-control-plane" % cluster
    worker = "%s-worker" % cluster
    prefix = "%s-fw-" % cluster
    rules: List[Dict[str, Any]] = []
    if admin_cidrs:
        rules.append(_rule(prefix + "admin-ssh", "SSH from the admin CIDRs to every node",
                           [_tcp(22)], [node], source_ranges=list(admin_cidrs)))
        rules.append(_rule(prefix + "admin-api", "Kubernetes API (also through the API load balancer) from the admin CIDRs",
                           [_tcp(6443)], [cp], source_ranges=list(admin_cidrs)))
    rules.append(_rule(prefix + "nodes-to-cp",
                       "Nodes to the control plane: API 6443, etcd metrics 2381, controller-manager 10257, scheduler 10259",
                       [_tcp(6443, 2381, 10257, 10259)], [cp], source_tags=[node]))
    rules.append(_rule(prefix + "etcd-peers", "etcd client and peer traffic between control-plane nodes",
                       [_tcp("2379-2380")], [cp], source_tags=[cp]))
    node_ports: List[Any] = [10250, 5473, 9100] + list(extra_node_tcp_ports)
    allowed = [_tcp(*node_ports), {"ip_protocol": "icmp"}]
    description = "Between nodes: kubelet 10250, Calico Typha 5473, node-exporter 9100, ICMP (path MTU)"
    if encapsulation == "vxlan":
        allowed.append({"ip_protocol": "udp", "ports": ["4789"]})
        description += ", Calico VXLAN udp 4789"
    else:
        allowed[0] = _tcp(*(node_ports + [179]))
        allowed.append({"ip_protocol": "ipip"})
        description += ", Calico BGP tcp 179 and IP-in-IP (protocol 4)"
    rules.append(_rule(prefix + "node-to-node", description, allowed, [node], source_tags=[node]))
    if health_check_ranges:
        rules.append(_rule(prefix + "hc-api", "Load balancer health checks to the API server",
                           [_tcp(6443)], [cp], source_ranges=list(health_check_ranges)))
        if gateway_health_check_port:
            rules.append(_rule(prefix + "hc-gateway", "Load balancer health checks to the gateway's health-check NodePort",
                               [_tcp(int(gateway_health_check_port))], [worker],
                               source_ranges=list(health_check_ranges)))
    if gateway_ports and gateway_source_ranges:
        rules.append(_rule(prefix + "gateway-clients",
                           "Clients of the gateway load balancer (passthrough: client addresses are kept) to its ports",
                           [_tcp(*sorted(set(int(p) for p in gateway_ports)))], [worker],
                           source_ranges=list(gateway_source_ranges)))
    if nfs_vm:
        rules.append(_rule(prefix + "nodes-to-nfs", "Nodes to the NFS VM of the RWX StorageClass: NFSv4 tcp 2049",
                           [_tcp(2049)], ["%s-nfs" % cluster], source_tags=[node]))
    return rules


def _normalise_allowed(allowed: Iterable[Mapping[str, Any]]) -> List[Any]:
    out = []
    for entry in allowed or []:
        proto = str(entry.get("ip_protocol", entry.get("IPProtocol", ""))).lower()
        proto = _PROTOCOL_ALIASES.get(proto, proto)
        out.append((proto, tuple(sorted(str(p) for p in entry.get("ports", []) or []))))
    return sorted(out)


def _normalise(rule: Mapping[str, Any]) -> Dict[str, Any]:
    """Reduce a rule (module options or API resource) to the fields we manage."""
    def pick(snake: str, camel: str) -> Any:
        return rule.get(snake, rule.get(camel))

    return {
        "direction": pick("direction", "direction") or "INGRESS",
        "priority": int(pick("priority", "priority") or 1000),
        "allowed": _normalise_allowed(pick("allowed", "allowed") or []),
        "source_ranges": sorted(pick("source_ranges", "sourceRanges") or []),
        "source_tags": sorted(pick("source_tags", "sourceTags") or []),
        "target_tags": sorted(pick("target_tags", "targetTags") or []),
        "disabled": bool(pick("disabled", "disabled") or False),
        "network": str(pick("network_name", "network") or "").rsplit("/", 1)[-1],
    }


def gce_firewall_plan(desired: Sequence[Mapping[str, Any]], existing: Sequence[Mapping[str, Any]],
                      prefix: str, network: str) -> Dict[str, List[Any]]:
    """Compare the desired rules with the existing ones (gcp_compute_firewall_info resources).

    Returns ``create`` (desired rules that do not exist), ``replace`` (desired rules whose
    existing version differs in a managed field; GCE firewall rules are replaced, not updated),
    ``keep`` (names that already match) and ``delete`` (names of existing rules that start with
    ``prefix`` but are no longer desired).
    """
    by_name = {r["name"]: r for r in existing or []}
    plan: Dict[str, List[Any]] = {"create": [], "replace": [], "keep": [], "delete": []}
    wanted = set()
    for rule in desired:
        wanted.add(rule["name"])
        current = by_name.get(rule["name"])
        if current is None:
            plan["create"].append(dict(rule))
            continue
        mine = _normalise(dict(rule, network_name=network))
        theirs = _normalise(current)
        if mine == theirs:
            plan["keep"].append(rule["name"])
        else:
            plan["replace"].append(dict(rule))
    plan["delete"] = sorted(name for name in by_name if name.startswith(prefix) and name not in wanted)
    return plan


def gce_self_link_names(resources: Iterable[Any]) -> List[str]:
    """Last path segment of each self link (or of each resource's ``selfLink``)."""
    names = []
    for item in resources or []:
        link = item.get("selfLink", "") if isinstance(item, Mapping) else str(item)
        names.append(link.rstrip("/").rsplit("/", 1)[-1])
    return names


def _unconditional(binding: Mapping[str, Any]) -> bool:
    return not binding.get("condition")


def gce_iam_policy_missing(policy: Mapping[str, Any], member: str, roles: Sequence[str]) -> List[str]:
    """Roles of ``roles`` that ``member`` does not hold unconditionally in ``policy``."""
    held = set()
    for binding in (policy or {}).get("bindings", []) or []:
        if _unconditional(binding) and member in (binding.get("members") or []):
            held.add(binding.get("role"))
    return [role for role in roles if role not in held]


def gce_iam_policy_add(policy: Mapping[str, Any], member: str, roles: Sequence[str]) -> Dict[str, Any]:
    """A copy of ``policy`` (etag kept, for optimistic locking) in which ``member`` holds ``roles``."""
    new = dict(policy or {})
    bindings = [dict(b, members=list(b.get("members") or [])) for b in (policy or {}).get("bindings", []) or []]
    for role in gce_iam_policy_missing(policy, member, roles):
        for binding in bindings:
            if binding.get("role") == role and _unconditional(binding):
                binding["members"].append(member)
                break
        else:
            bindings.append({"role": role, "members": [member]})
    new["bindings"] = bindings
    new.setdefault("version", 1)
    return new


def gce_iam_policy_remove(policy: Mapping[str, Any], member: str) -> Dict[str, Any]:
    """A copy of ``policy`` without ``member`` in any unconditional binding (empty bindings dropped)."""
    new = dict(policy or {})
    bindings = []
    for binding in (policy or {}).get("bindings", []) or []:
        members = list(binding.get("members") or [])
        if _unconditional(binding) and member in members:
            members = [m for m in members if m != member]
            if not members:
                continue
        bindings.append(dict(binding, members=members))
    new["bindings"] = bindings
    return new


def gce_iam_policy_holds(policy: Mapping[str, Any], member: str) -> bool:
    """Whether ``member`` appears in any unconditional binding of ``policy``."""
    return any(_unconditional(b) and member in (b.get("members") or [])
               for b in (policy or {}).get("bindings", []) or [])


def gce_iam_policy_extra(policy: Mapping[str, Any], member: str, roles: Sequence[str]) -> List[str]:
    """Roles ``member`` holds unconditionally in ``policy`` beyond ``roles`` (sorted)."""
    held = {b.get("role") for b in (policy or {}).get("bindings", []) or []
            if _unconditional(b) and member in (b.get("members") or [])}
    return sorted(role for role in held if role not in roles)


def gce_iam_policy_exact(policy: Mapping[str, Any], member: str, roles: Sequence[str]) -> Dict[str, Any]:
    """A copy of ``policy`` in which ``member`` holds exactly ``roles`` among its unconditional
    bindings: missing ones added, others revoked (a narrowed account loses what it held before)."""
    extra = set(gce_iam_policy_extra(policy, member, roles))
    bindings = []
    for binding in gce_iam_policy_add(policy, member, roles)["bindings"]:
        members = list(binding.get("members") or [])
        if _unconditional(binding) and binding.get("role") in extra:
            members = [m for m in members if m != member]
            if not members:
                continue
        bindings.append(dict(binding, members=members))
    new = dict(policy or {})
    new["bindings"] = bindings
    new.setdefault("version", 1)
    return new


_COMPUTE_PREFIXES = ("https://www.googleapis.com/compute/v1/", "https://compute.googleapis.com/compute/v1/")
_CAMEL_SPECIAL = {"ip_address": "IPAddress", "ip_protocol": "IPProtocol"}


def _camel(key: str) -> str:
    if key in _CAMEL_SPECIAL:
        return _CAMEL_SPECIAL[key]
    head, *rest = key.split("_")
    return head + "".join(part.title() for part in rest)


def _short_link(value: Any) -> Any:
    if isinstance(value, str):
        for prefix in _COMPUTE_PREFIXES:
            if value.startswith(prefix):
                return value[len(prefix):]
    return value


def _same(desired: Any, actual: Any) -> bool:
    if desired is None:
        return True
    if isinstance(desired, Mapping):
        if set(desired) == {"selfLink"}:
            return _short_link(desired["selfLink"]) == _short_link(actual)
        if not isinstance(actual, Mapping):
            return False
        return all(_same(value, actual.get(_camel(key))) for key, value in desired.items())
    if isinstance(desired, (list, tuple)):
        if not isinstance(actual, (list, tuple)) or len(desired) != len(actual):
            return False
        if all(not isinstance(item, (Mapping, list, tuple)) for item in desired):
            return sorted(str(_short_link(i)) for i in desired) == sorted(str(_short_link(i)) for i in actual)
        unmatched = list(actual)
        for item in desired:
            match = next((i for i, cand in enumerate(unmatched) if _same(item, cand)), None)
            if match is None:
                return False
            unmatched.pop(match)
        return True
    if isinstance(desired, bool) or isinstance(actual, bool):
        return str(desired).lower() == str(actual).lower()
    return str(_short_link(desired)) == str(_short_link(actual))


def gce_differs(actual: Optional[Mapping[str, Any]], desired: Mapping[str, Any]) -> bool:
    """Whether an API resource (camelCase) differs from module options (snake_case) in any option given.

    Only the options present in ``desired`` are compared, self links are compared without
    their host prefix, lists of scalars without regard to order. A missing resource differs.
    """
    if not actual:
        return True
    return not _same(dict(desired), actual)


def gce_instance_groups(frontends: Sequence[Mapping[str, Any]], instances: Sequence[Mapping[str, Any]],
                        existing: Sequence[Mapping[str, Any]] = (),
                        members: Optional[Sequence[str]] = None) -> List[Dict[str, Any]]:
    """Per-zone unmanaged instance groups of each load balancer.

    ``frontends`` items have ``name``, ``role`` (value of the instances' ``role`` label) and
    ``group_prefix``; ``instances`` are gcp_compute_instance_info resources; ``existing`` are
    gcp_compute_instance_group_info resources. One group per frontend and zone that holds at
    least one instance of the role, named ``<group_prefix><zone>``; ``sync`` says whether the
    group is missing or its size differs from its planned members.

    A frontend with ``members: cluster`` (the API load balancer) gets its members from the
    cluster stage, not from here: without ``members`` its groups are planned empty and synced
    only when missing, so existing members are never touched; with ``members`` (instance
    names, the cluster stage's call) a group's planned members are exactly those instances.
    """
    sizes = {(_short_link(g.get("zone")), g.get("name")): g.get("size", 0) for g in existing or []}
    groups: List[Dict[str, Any]] = []
    for frontend in frontends:
        zones: Dict[str, List[Mapping[str, Any]]] = {}
        for inst in instances or []:
            if (inst.get("labels") or {}).get("role") == frontend["role"]:
                zones.setdefault(inst["zone"], []).append(inst)
        for zone_link in sorted(zones):
            zone = zone_link.rsplit("/", 1)[-1]
            name = "%s%s" % (frontend["group_prefix"], zone)
            key = (_short_link(zone_link), name)
            cluster_owned = frontend.get("members") == "cluster"
            if cluster_owned and members is None:
                planned: List[str] = []
                sync = key not in sizes
            else:
                planned = sorted(i["selfLink"] for i in zones[zone_link]
                                 if not cluster_owned or i.get("name") in set(members or []))
                sync = key not in sizes or int(sizes[key]) != len(planned)
            groups.append({
                "name": name,
                "zone": zone,
                "frontend": frontend["name"],
                "link": "%s/instanceGroups/%s" % (zone_link, name),
                "instances": planned,
                "sync": sync,
            })
    return groups


def gce_topology_labels(zone: str) -> Dict[str, str]:
    """Node labels of a GCE zone, from the metadata server's ``instance/zone`` value
    (``projects/<number>/zones/<zone>``) or a bare zone name: ``topology.kubernetes.io/zone``
    and ``topology.kubernetes.io/region`` (the zone without its ``-<letter>`` suffix)."""
    name = str(zone).strip().rsplit("/", 1)[-1]
    region, _, letter = name.rpartition("-")
    if not region or len(letter) != 1 or not letter.isalpha() or "-" not in region:
        raise GceFilterError("'%s' is not a GCE zone such as europe-west1-b" % zone)
    return {"topology.kubernetes.io/region": region, "topology.kubernetes.io/zone": name}


class FilterModule:
    """GCE infrastructure helpers."""

    def filters(self) -> Dict[str, Any]:
        return {
            "gce_cidr_problems": gce_cidr_problems,
            "gce_instance_plan": gce_instance_plan,
            "gce_firewall_rules": gce_firewall_rules,
            "gce_firewall_plan": gce_firewall_plan,
            "gce_self_link_names": gce_self_link_names,
            "gce_iam_policy_missing": gce_iam_policy_missing,
            "gce_iam_policy_add": gce_iam_policy_add,
            "gce_iam_policy_remove": gce_iam_policy_remove,
            "gce_iam_policy_holds": gce_iam_policy_holds,
            "gce_iam_policy_extra": gce_iam_policy_extra,
            "gce_iam_policy_exact": gce_iam_policy_exact,
            "gce_differs": gce_differs,
            "gce_instance_groups": gce_instance_groups,
            "gce_topology_labels": gce_topology_labels,
        }
