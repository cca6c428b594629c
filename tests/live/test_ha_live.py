"""The HA test's experiment driver against the real control plane of $KUBECONFIG, with a
SIMULATED node agent (test code, no kubelet): a tainted fake Node whose Lease it renews, and
pods it marks Running and Ready once the real scheduler binds them there. What is real: the API
server, the ReplicaSet controller that replaces deleted pods, the scheduler, the eviction API
with a real PodDisruptionBudget and the disruption controller. What is simulated: containers
and readiness (reported as "simulated node agent")."""

from __future__ import annotations

import datetime
import os
import threading
import time
import uuid
from typing import Any, Iterator

import pytest

from ansible_collections.orchestrate.platform.plugins.module_utils.ha_experiment import Spec, run
from ansible_collections.orchestrate.platform.plugins.module_utils.ha_probe import SystemClock
from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_client import Client

pytestmark = [pytest.mark.live, pytest.mark.skipif(not os.environ.get("KUBECONFIG"),
                                                   reason="needs a Kubernetes API server reached by KUBECONFIG")]

SUFFIX = uuid.uuid4().hex[:6]
NAMESPACE = "ha18-live-%s" % SUFFIX
NODE = "ha18-sim-%s-a" % SUFFIX
NODES = (NODE, "ha18-sim-%s-b" % SUFFIX)
POOL = {"orchestrate.platform/ha-test-simulated-pool": SUFFIX}
TAINT = {"key": "orchestrate.platform/ha-test-simulated", "value": "true", "effect": "NoSchedule"}


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class SimulatedAgent(threading.Thread):
    """Renews the fake node's Lease and Ready condition; marks its pods Running and Ready."""

    def __init__(self, client: Client) -> None:
        super().__init__(daemon=True)
        self.client, self.stopped = client, threading.Event()

    def heartbeat(self) -> None:
        for node in NODES:
            self.client.request("PATCH", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/%s" % node,
                                body={"spec": {"renewTime": now(), "holderIdentity": node, "leaseDurationSeconds": 40}},
                                content_type="application/merge-patch+json")
            self.client.request("PATCH", "/api/v1/nodes/%s/status" % node, body={"status": {"conditions": [
                {"type": "Ready", "status": "True", "reason": "SimulatedAgent", "lastHeartbeatTime": now(),
                 "lastTransitionTime": now()}]}}, content_type="application/strategic-merge-patch+json")

    def mark_pods(self) -> None:
        pods = self.client.request("GET", "/api/v1/namespaces/%s/pods" % NAMESPACE)
        for pod in pods.get("items") or []:
            if (pod.get("spec") or {}).get("nodeName") not in NODES:
                continue
            if pod["metadata"].get("deletionTimestamp"):
                self.client.request("DELETE", "/api/v1/namespaces/%s/pods/%s" % (NAMESPACE, pod["metadata"]["name"]),
                                    body={"gracePeriodSeconds": 0})
                continue
            if (pod.get("status") or {}).get("phase") == "Running":
                continue
            self.client.request("PATCH", "/api/v1/namespaces/%s/pods/%s/status" % (NAMESPACE, pod["metadata"]["name"]),
                                body={"status": {"phase": "Running", "podIP": "10.250.0.1", "startTime": now(), "conditions": [
                                    {"type": "Ready", "status": "True", "lastTransitionTime": now()},
                                    {"type": "ContainersReady", "status": "True", "lastTransitionTime": now()}]}},
                                content_type="application/strategic-merge-patch+json")

    def run(self) -> None:
        beat = 0.0
        while not self.stopped.is_set():
            try:
                if time.monotonic() - beat > 5:
                    self.heartbeat()
                    beat = time.monotonic()
                self.mark_pods()
            except Exception:  # noqa: BLE001 - a missed round is retried 0.3 s later
                pass
            self.stopped.wait(0.3)


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    api = Client(os.environ["KUBECONFIG"], None, pool_size=4, timeout=30.0)
    real = [n["metadata"]["name"] for n in api.request("GET", "/api/v1/nodes").get("items") or []]
    if real and os.environ.get("HA_TEST_SIMULATED_NODES") != "1":
        pytest.skip("the cluster has nodes (%s): fake nodes would attract its DaemonSets' pods; "
                    "set HA_TEST_SIMULATED_NODES=1 to run anyway" % ", ".join(real[:3]))
    api.request("POST", "/api/v1/namespaces", body={"metadata": {"name": NAMESPACE}})
    for node in NODES:
        api.request("POST", "/api/v1/nodes", body={"metadata": {"name": node, "labels": dict(POOL, **{"kubernetes.io/hostname": node})},
                                                  "spec": {"taints": [TAINT]}})
        api.request("PATCH", "/api/v1/nodes/%s/status" % node, body={"status": {
            "capacity": {"cpu": "8", "memory": "16Gi", "pods": "50"}, "allocatable": {"cpu": "8", "memory": "16Gi", "pods": "50"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "SimulatedAgent", "lastHeartbeatTime": now(),
                            "lastTransitionTime": now()}]}}, content_type="application/strategic-merge-patch+json")
        api.request("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", body={
            "metadata": {"name": node}, "spec": {"holderIdentity": node, "leaseDurationSeconds": 40, "renewTime": now()}})
    agent = SimulatedAgent(api)
    agent.start()
    try:
        yield api
    finally:
        agent.stopped.set()
        agent.join(5)
        paths = ["/api/v1/namespaces/%s" % NAMESPACE] + ["/api/v1/nodes/%s" % n for n in NODES] + [
            "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/%s" % n for n in NODES]
        for path in paths:
            try:
                api.request("DELETE", path)
            except Exception:  # noqa: BLE001 - cleanup of what may already be gone
                pass


def deployment(client: Client, name: str, replicas: int) -> None:
    labels = {"app": name}
    client.request("POST", "/apis/apps/v1/namespaces/%s/deployments" % NAMESPACE, body={
        "metadata": {"name": name}, "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels}, "spec": {"tolerations": [dict(TAINT, operator="Equal")],
                                                       "nodeSelector": POOL,
                                                       "topologySpreadConstraints": [{
                                                           "maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                                           "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {
                                                               "matchLabels": labels}}],
                                                       "containers": [{"name": "web", "image": "localhost/stand-in:1"}]}}}})
    client.request("POST", "/apis/policy/v1/namespaces/%s/poddisruptionbudgets" % NAMESPACE, body={
        "metadata": {"name": name}, "spec": {"maxUnavailable": 1, "selector": {"matchLabels": labels}}})
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        status = client.request("GET", "/apis/apps/v1/namespaces/%s/deployments/%s" % (NAMESPACE, name)).get("status") or {}
        if status.get("readyReplicas") == replicas:
            return
        time.sleep(0.5)
    raise AssertionError("the Deployment never had %d ready replicas (simulated node agent)" % replicas)


def spec(**kwargs: Any) -> Spec:
    values = dict(kind="pod_loss", target_kind="Deployment", namespace=NAMESPACE, steady_seconds=2.0, timeout=90.0,
                  interval=0.5)
    values.update(kwargs)
    return Spec(**values)


def test_delete_one_pod_the_replicaset_controller_replaces_it(client: Client) -> None:
    deployment(client, "web", 3)
    outcome = run(client.request, spec(name="delete-one", target="web", fault="delete_one"), SystemClock(), time.sleep)
    assert outcome.steady_before and outcome.whole_after and len(outcome.faulted) == 1
    assert outcome.samples[-1]["ready"] == 3
    # whole means the deleted pod is gone and a replacement is Ready (possibly between two samples)
    names = [p["metadata"]["name"] for p in client.request("GET", "/api/v1/namespaces/%s/pods" % NAMESPACE,
                                                            query={"labelSelector": "app=web"})["items"]
             if not p["metadata"].get("deletionTimestamp")]
    assert outcome.faulted[0] not in names and len(names) == 3
    assert outcome.end - outcome.start < 60


def test_drain_goes_through_the_eviction_api_and_its_budget(client: Client) -> None:
    deployment(client, "drained", 4)
    on_node = [p["metadata"]["name"] for p in client.request("GET", "/api/v1/namespaces/%s/pods" % NAMESPACE, query={
        "labelSelector": "app=drained", "fieldSelector": "spec.nodeName=%s" % NODE})["items"]]
    assert on_node, "the scheduler put no pod on the node to drain"
    outcome = run(client.request, spec(name="drain", kind="drain", target="drained", fault="drain", node=NODE),
                  SystemClock(), time.sleep)
    evicted = sorted(p.split("/")[1] for p in outcome.faulted if p.startswith(NAMESPACE + "/drained-"))
    assert evicted == sorted(on_node), outcome.faulted
    node = client.request("GET", "/api/v1/nodes/%s" % NODE)
    assert not node["spec"].get("unschedulable"), "the node was left cordoned"
    assert outcome.whole_after
    # maxUnavailable 1: the eviction API never let two pods be down at once
    assert min(s["ready"] for s in outcome.samples) >= 3
