"""The connectivity matrix on a real cluster (KUBECONFIG): short-lived probe pods carrying each
endpoint's labels listen on the endpoint's ports; from probes of the other endpoints every
allowed TCP flow of the matrix is tried, and a sample of denied ones (from a pod of no endpoint
in every platform namespace, from a foreign namespace, and between endpoints on ports the
matrix does not list); the live matrix is printed and written as JSON.

Skipped without KUBECONFIG, on an API server without nodes (no pod can run, e.g.
../shared/tools/apiserver-lane), and when the network_policies role has not been applied.
Probe pods are never Ready (their readiness probe fails on purpose), so Services do not send
them real traffic; they carry orchestrate.platform/network-probe=live and are deleted at the end.
Only TCP is probed (UDP has no handshake to tell "allowed" from "nobody answered").
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "policy"))

from matrix import ANY, PROBE_LABEL, Matrix, ports_of  # noqa: E402

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not os.environ.get("KUBECONFIG"), reason="KUBECONFIG is not set: no cluster to probe"),
]

ROOT = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("LIVE_NETWORK_PROBE_IMAGE", "registry.k8s.io/e2e-test-images/agnhost:2.53")
TIMEOUT = float(os.environ.get("LIVE_TIMEOUT", "300"))
REPORT = Path(os.environ.get("LIVE_REPORT_DIR", str(ROOT / "build" / "reports"))) / "network-live.json"
DENIED_SAMPLE = int(os.environ.get("LIVE_NETWORK_DENIED_SAMPLE", "40"))
RUN = uuid.uuid4().hex[:6]
Probe = Tuple[str, str]  # (namespace, pod name)


@pytest.fixture(scope="module")
def matrix(api: Any) -> Matrix:
    core, net = api.CoreV1Api(), api.NetworkingV1Api()
    if not [n for n in core.list_node().items
            if any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])]:
        pytest.skip("the cluster has no Ready node: probe pods cannot run")
    m = Matrix.from_defaults()
    missing = []
    for ep in m.platform_pod_endpoints():
        names = {p.metadata.name for p in net.list_namespaced_network_policy(ep["namespace"]).items}
        if "default-deny" not in names:
            missing.append("%s/default-deny" % ep["namespace"])
    if missing:
        pytest.skip("the security stage is not applied (missing %s): run site.yml with a kubeconfig first" % ", ".join(missing[:3]))
    return m


def server_ports(m: Matrix, endpoint: str) -> List[int]:
    return sorted({p[1] for f in m.enabled_flows() if f["to"] == endpoint for p in ports_of(f) if p[0] == "TCP"})


def probe_pod(name: str, namespace: str, labels: Dict[str, str], ports: List[int]) -> Dict[str, Any]:
    env = [{"name": "SERVE_PORT_%d" % p, "value": "probe"} for p in ports] or [{"name": "SERVE_PORT_1234", "value": "probe"}]
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels, **{PROBE_LABEL: "live"})},
        "spec": {
            "automountServiceAccountToken": False,
            "terminationGracePeriodSeconds": 0,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "probe", "image": IMAGE, "args": ["porter"], "env": env,
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}},
                "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                # Never Ready, so that Services selecting the endpoint's labels ignore the probe.
                "readinessProbe": {"exec": {"command": ["/bin/false"]}, "periodSeconds": 60},
            }],
        },
    }


@pytest.fixture(scope="module")
def probes(api: Any, matrix: Matrix) -> Iterator[Dict[str, Probe]]:
    core = api.CoreV1Api()
    outsider = "netprobe-%s" % RUN
    core.create_namespace({"metadata": {"name": outsider, "labels": {
        "pod-security.kubernetes.io/enforce": "restricted", PROBE_LABEL: "live"}}})
    made: Dict[str, Probe] = {}
    specs = []
    for ep in matrix.platform_pod_endpoints():
        base = "probe-%s-%s" % (ep["name"], RUN)
        specs.append((ep["name"], probe_pod(base, ep["namespace"], ep["pods"], server_ports(matrix, ep["name"]))))
        if any(f["from"] == f["to"] == ep["name"] for f in matrix.enabled_flows()):
            specs.append((ep["name"] + "#peer", probe_pod(base + "-peer", ep["namespace"], ep["pods"], server_ports(matrix, ep["name"]))))
    for namespace in matrix.namespaces() + [outsider]:
        specs.append(("stray.%s" % namespace, probe_pod("probe-stray-%s" % RUN, namespace, {}, [])))
    try:
        for key, body in specs:
            core.create_namespaced_pod(body["metadata"]["namespace"], body)
            made[key] = (body["metadata"]["namespace"], body["metadata"]["name"])
        deadline = time.time() + TIMEOUT
        for namespace, name in made.values():
            while True:
                pod = core.read_namespaced_pod(name, namespace)
                if pod.status.pod_ip and pod.status.phase == "Running":
                    break
                if time.time() > deadline:
                    pytest.fail("probe pod %s/%s is not running after %.0fs (phase %s)" % (namespace, name, TIMEOUT, pod.status.phase))
                time.sleep(2)
        yield made
    finally:
        for namespace, name in made.values():
            core.delete_namespaced_pod(name, namespace, grace_period_seconds=0)
        core.delete_namespace(outsider)


def pod_ip(api: Any, probe: Probe) -> str:
    return str(api.CoreV1Api().read_namespaced_pod(probe[1], probe[0]).status.pod_ip)


def connects(api: Any, source: Probe, host: str, port: int, attempts: int = 1) -> bool:
    """`agnhost connect` from the source probe; exit 0 means the TCP handshake succeeded."""
    from kubernetes.stream import stream

    for attempt in range(attempts):
        resp = stream(api.CoreV1Api().connect_get_namespaced_pod_exec, source[1], source[0],
                      command=["/agnhost", "connect", "%s:%d" % (host, port), "--timeout=3s", "--protocol=tcp"],
                      stderr=True, stdout=True, stdin=False, tty=False, _preload_content=False)
        resp.run_forever(timeout=20)
        if resp.returncode == 0:
            return True
        if attempt + 1 < attempts:
            time.sleep(3)  # policy programming lag: retry what should connect
    return False


def target(api: Any, probes: Dict[str, Probe], endpoint: str, source: str) -> Optional[str]:
    key = endpoint + "#peer" if endpoint == source and endpoint + "#peer" in probes else endpoint
    if key in probes:
        return pod_ip(api, probes[key])
    if endpoint == "kube-apiserver":
        return str(api.CoreV1Api().read_namespaced_service("kubernetes", "default").spec.cluster_ip)
    return None  # external and node addresses: not probed (depends on the environment)


def report(rows: List[Dict[str, Any]], name: str) -> None:
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(REPORT.read_text()) if REPORT.exists() else {}
    data[name] = rows
    REPORT.write_text(json.dumps(data, indent=2) + "\n")
    print("\nlive network matrix (%s):" % name)
    for r in rows:
        print("  %-22s -> %-20s %-6s expected %-7s observed %s" % (r["from"], r["to"], r["port"], r["expected"], r["observed"]))


def test_every_allowed_flow_connects(api: Any, matrix: Matrix, probes: Dict[str, Probe]) -> None:
    rows, failures = [], []
    for flow in matrix.enabled_flows():
        if flow["from"] == ANY or flow["from"] not in probes:
            continue
        host = target(api, probes, flow["to"], flow["from"])
        for protocol, port in ports_of(flow):
            if host is None or protocol != "TCP":
                continue
            probe_port = 443 if flow["to"] == "kube-apiserver" else port  # via the kubernetes Service
            ok = connects(api, probes[flow["from"]], host, probe_port, attempts=3)
            rows.append({"from": flow["from"], "to": flow["to"], "port": probe_port, "expected": "allowed",
                         "observed": "allowed" if ok else "denied"})
            if not ok:
                failures.append("%s -> %s:%d (%s)" % (flow["from"], flow["to"], probe_port, flow["reason"]))
    report(rows, "allowed")
    assert rows, "no allowed flow could be probed"
    assert not failures, "allowed by the matrix but blocked live:\n" + "\n".join(failures)


def denied_sample(matrix: Matrix, probes: Dict[str, Probe]) -> List[Tuple[str, str, int]]:
    allowed = {(f["from"], f["to"], p[1]) for f in matrix.enabled_flows() for p in ports_of(f) if p[0] == "TCP"}
    servers = [(ep["name"], port) for ep in matrix.platform_pod_endpoints() for port in server_ports(matrix, ep["name"])]
    strays = sorted(k for k in probes if k.startswith("stray."))
    sample = [(stray, name, port) for j, stray in enumerate(strays)
              for name, port in (servers[(3 * j) % max(len(servers), 1):] + servers)[:3]]
    clients = sorted(k for k in probes if not k.startswith("stray.") and "#" not in k)
    for i, client in enumerate(clients):
        for name, port in servers[i % max(len(servers), 1):] + servers:
            if (client, name, port) not in allowed and name != client:
                sample.append((client, name, port))
                break
    return sample[:DENIED_SAMPLE]


def test_a_sample_of_denied_flows_is_blocked(api: Any, matrix: Matrix, probes: Dict[str, Probe]) -> None:
    rows, leaks = [], []
    for source, endpoint, port in denied_sample(matrix, probes):
        ok = connects(api, probes[source], pod_ip(api, probes[endpoint]), port)
        rows.append({"from": source, "to": endpoint, "port": port, "expected": "denied", "observed": "allowed" if ok else "denied"})
        if ok:
            leaks.append("%s -> %s:%d" % (source, endpoint, port))
    report(rows, "denied")
    assert rows, "no denied flow could be sampled"
    assert not leaks, "not in the matrix but open live:\n" + "\n".join(leaks)
