"""The cluster stage's result on a real cluster (KUBECONFIG): nodes Ready with zone and region labels, a control plane on
every control-plane node, Calico rolled out by its operator, and cluster DNS answering.

Skipped without KUBECONFIG, and where the API server has no nodes (an API server without
kubelets, such as ../shared/tools/apiserver-lane): there is nothing that could be Ready.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any, Iterator, List

import pytest

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not os.environ.get("KUBECONFIG"), reason="KUBECONFIG is not set: no cluster to check"),
]

CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"
CONTROL_PLANE_COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd")
# Any image with nslookup; override for mirrored registries.
DNS_PROBE_IMAGE = os.environ.get("LIVE_DNS_PROBE_IMAGE", "registry.k8s.io/e2e-test-images/agnhost:2.53")
TIMEOUT = float(os.environ.get("LIVE_TIMEOUT", "300"))


@pytest.fixture(scope="module")
def nodes(api: Any) -> List[Any]:
    found = api.CoreV1Api().list_node().items
    if not found:
        pytest.skip("the API server has no nodes (no kubelet): readiness cannot be checked here")
    return found


def is_ready(conditions: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in conditions or [])


def control_plane_nodes(nodes: List[Any]) -> List[str]:
    return sorted(n.metadata.name for n in nodes if CONTROL_PLANE_LABEL in (n.metadata.labels or {}))


def test_every_node_is_ready(nodes: List[Any]) -> None:
    not_ready = [n.metadata.name for n in nodes if not is_ready(n.status.conditions)]
    assert not not_ready, "nodes not Ready: %s" % not_ready


def test_control_plane_has_an_odd_number_of_nodes(nodes: List[Any]) -> None:
    count = len(control_plane_nodes(nodes))
    assert count % 2 == 1, "%d control-plane nodes: etcd needs an odd number" % count


ZONE_LABEL = "topology.kubernetes.io/zone"
REGION_LABEL = "topology.kubernetes.io/region"


def test_every_node_has_zone_and_region_labels(nodes: List[Any]) -> None:
    """Set by the kubelets at join time (kubeadm_control_plane / kubeadm_join --node-labels from the
    GCE metadata): without them every zone spread constraint of the platform does nothing."""
    missing = [n.metadata.name for n in nodes if not {ZONE_LABEL, REGION_LABEL} <= set(n.metadata.labels or {})]
    assert not missing, "nodes without %s and %s: %s" % (ZONE_LABEL, REGION_LABEL, missing)
    for node in nodes:
        labels = node.metadata.labels
        assert labels[ZONE_LABEL].startswith(labels[REGION_LABEL] + "-"), "%s: zone %s is not in region %s" % (
            node.metadata.name, labels[ZONE_LABEL], labels[REGION_LABEL])


@pytest.mark.parametrize("component", CONTROL_PLANE_COMPONENTS)
def test_control_plane_component_runs_on_every_control_plane_node(api: Any, nodes: List[Any], component: str) -> None:
    pods = api.CoreV1Api().list_namespaced_pod("kube-system", label_selector="component=%s" % component).items
    ready_on = {p.spec.node_name for p in pods if p.status.phase == "Running" and is_ready(p.status.conditions)}
    missing = [name for name in control_plane_nodes(nodes) if name not in ready_on]
    assert not missing, "%s is not running and ready on %s" % (component, missing)


def test_calico_node_runs_on_every_node(api: Any, nodes: List[Any]) -> None:
    daemonset = api.AppsV1Api().read_namespaced_daemon_set("calico-node", "calico-system")
    status = daemonset.status
    assert status.desired_number_scheduled == len(nodes)
    assert status.number_ready == status.desired_number_scheduled
    assert (status.updated_number_scheduled or 0) == status.desired_number_scheduled


def test_calico_operator_reports_available(api: Any, nodes: List[Any]) -> None:
    status = api.CustomObjectsApi().get_cluster_custom_object("operator.tigera.io", "v1", "tigerastatuses", "calico")
    conditions = {c["type"]: c["status"] for c in status.get("status", {}).get("conditions", [])}
    assert conditions.get("Available") == "True", conditions
    assert conditions.get("Degraded") != "True", conditions


@pytest.fixture
def probe_namespace(api: Any, nodes: List[Any]) -> Iterator[str]:
    core = api.CoreV1Api()
    name = "live-dns-%s" % uuid.uuid4().hex[:8]
    core.create_namespace({"metadata": {"name": name, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}})
    try:
        yield name
    finally:
        core.delete_namespace(name)


def test_cluster_dns_resolves_the_kubernetes_service(api: Any, probe_namespace: str) -> None:
    core = api.CoreV1Api()
    pod = {
        "metadata": {"name": "dns-probe"},
        "spec": {
            "restartPolicy": "Never",
            "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "probe",
                "image": DNS_PROBE_IMAGE,
                "command": ["nslookup", "kubernetes.default.svc.cluster.local"],
                "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}},
            }],
        },
    }
    core.create_namespaced_pod(probe_namespace, pod)
    deadline = time.monotonic() + TIMEOUT
    phase = None
    while time.monotonic() < deadline:
        phase = core.read_namespaced_pod("dns-probe", probe_namespace).status.phase
        if phase in ("Succeeded", "Failed"):
            break
        time.sleep(3)
    log = core.read_namespaced_pod_log("dns-probe", probe_namespace) if phase in ("Succeeded", "Failed") else ""
    assert phase == "Succeeded", "DNS probe ended %s: %s" % (phase, log)
