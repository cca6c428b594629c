"""Run network-config-analyzer (`nca`, PyPI network-config-analyzer) on the same inputs as our
evaluator and read its answer back into the same shape: (src, dst) -> allowed ports.

nca reads the policies, a pod list and a namespace list from files and prints one line per
connected pair (`--output_format txt_no_fw_rules`):
    wordpress/wordpress-0[Pod] => mariadb/mariadb-galera-0[Pod] : {protocols:TCP,dst_ports:3306}
    0.0.0.0-9.255.255.255,11.0.0.0-255.255.255.255 => gateway/gateway-proxy-0[Pod] : All connections
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, FrozenSet, Iterable, List, Optional, Set, Tuple

import yaml

from evaluator import Endpoint, Obj, Port
from matrix import Analysis

LINE = re.compile(r"^(?P<src>\S+) => (?P<dst>\S+) : (?P<conn>.+)$")


def find_nca() -> Optional[str]:
    """NCA (environment) or `nca` next to this Python or on PATH."""
    for candidate in (os.environ.get("NCA"), str(Path(sys.executable).parent / "nca"), shutil.which("nca")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def pod_name(node: Endpoint, replica: int) -> str:
    return "%s-%d" % (node.name.replace(".", "--"), replica)


def write_inputs(directory: Path, analysis: Analysis, policies: Iterable[Obj], namespaces: Dict[str, Dict[str, str]]) -> Tuple[Path, Path, Path]:
    """Policies, pods (two replicas per pod endpoint, so a pod can talk to its peer) and namespaces."""
    pods = []
    for node in analysis.nodes:
        if not node.is_pod:
            continue
        for replica in (0, 1):
            ports = [{"name": n, "containerPort": p[1], "protocol": p[0]} for n, p in node.named_ports.items()]
            pods.append({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": pod_name(node, replica), "namespace": node.namespace, "labels": dict(node.labels)},
                "spec": {"containers": [{"name": "main", "image": "example.org/probe:1", "ports": ports}]},
            })
    names = {n.namespace for n in analysis.nodes if n.is_pod} | set(namespaces)
    ns_objects = [{"apiVersion": "v1", "kind": "Namespace",
                   "metadata": {"name": n, "labels": dict(namespaces.get(n, {}), **{"kubernetes.io/metadata.name": n})}}
                  for n in sorted(names)]
    files = (directory / "policies.yaml", directory / "pods.yaml", directory / "namespaces.yaml")
    files[0].write_text(yaml.safe_dump_all([p for p in policies if p.get("kind") == "NetworkPolicy"]))
    files[1].write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "PodList", "items": pods}))
    files[2].write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "NamespaceList", "items": ns_objects}))
    return files


def run(nca: str, directory: Path, analysis: Analysis, policies: Iterable[Obj], namespaces: Dict[str, Dict[str, str]]) -> str:
    policy_file, pod_file, ns_file = write_inputs(directory, analysis, policies, namespaces)
    result = subprocess.run(
        [nca, "--connectivity", str(policy_file), "--pod_list", str(pod_file), "--ns_list", str(ns_file),
         "--output_format", "txt_no_fw_rules"],
        capture_output=True, text=True, timeout=300, check=False)
    if "=>" not in result.stdout:
        raise RuntimeError("nca printed no connections (rc %d):\n%s\n%s" % (result.returncode, result.stdout[-2000:], result.stderr[-2000:]))
    return result.stdout


def connection_ports(conn: str, universe: Iterable[Port]) -> FrozenSet[Port]:
    """The ports of the universe that an nca connection description allows."""
    conn = conn.strip()
    if conn == "All connections":
        return frozenset(universe)
    if conn == "No connections":
        return frozenset()
    allowed: Set[Port] = set()
    for part in re.findall(r"\{([^}]*)\}", conn):
        fields = dict(re.findall(r"(protocols|dst_ports|src_ports|methods|paths|hosts):((?:[^,:]|,(?![a-z_]+:))+)", part))
        if "src_ports" in fields:
            raise ValueError("nca reports a source-port restriction, which our policies never make: %r" % conn)
        protocols = {p.strip().upper() for p in fields.get("protocols", "TCP,UDP,SCTP").split(",")}
        ranges = []
        for item in fields.get("dst_ports", "1-65535").split(","):
            low, _, high = item.strip().partition("-")
            ranges.append((int(low), int(high or low)))
        allowed |= {p for p in universe if p[0] in protocols and any(lo <= p[1] <= hi for lo, hi in ranges)}
    return frozenset(allowed)


def address_in(text: str, ip: str) -> bool:
    """nca prints address sets as comma-separated ranges (a-b) or CIDRs."""
    address = ipaddress.ip_address(ip)
    for item in text.split(","):
        if "-" in item:
            low, high = item.split("-", 1)
            try:
                if ipaddress.ip_address(low) <= address <= ipaddress.ip_address(high):
                    return True
            except (ValueError, TypeError):
                continue
        else:
            try:
                if address in ipaddress.ip_network(item, strict=False):
                    return True
            except ValueError:
                continue
    return False


def parse(output: str, analysis: Analysis) -> Dict[Tuple[str, str], FrozenSet[Port]]:
    """nca's answer for the analysis's pairs: a pod pair (a, a) is read from a-0 => a-1."""
    universe = analysis.universe()
    lines = []
    for raw in output.splitlines():
        match = LINE.match(raw.strip())
        if match:
            lines.append((match.group("src"), match.group("dst"), connection_ports(match.group("conn"), universe)))

    def side(text: str, node: Endpoint, replica: int) -> bool:
        if node.is_pod:
            return text == "%s/%s[Pod]" % (node.namespace, pod_name(node, replica))
        return "[" not in text and address_in(text, node.ip)

    found: Dict[Tuple[str, str], FrozenSet[Port]] = {}
    for src, dst in analysis.pairs():
        dst_replica = 1 if src.name == dst.name else 0
        ports: Set[Port] = set()
        for s, d, conn in lines:
            if side(s, src, 0) and side(d, dst, dst_replica):
                ports |= conn
        found[(src.name, dst.name)] = frozenset(ports)
    return found


def connectivity(nca: str, directory: Path, analysis: Analysis, policies: List[Obj],
                 namespaces: Dict[str, Dict[str, str]]) -> Dict[Tuple[str, str], FrozenSet[Port]]:
    return parse(run(nca, directory, analysis, policies, namespaces), analysis)
