"""The monitoring role on a real cluster (KUBECONFIG): every scrape target of every Prometheus
replica up, every job that has something to scrape present, and an alert that fires when a test
Deployment behind a Service is scaled to 0 and resolves when it is scaled back.

Skipped without KUBECONFIG, where the API server has no nodes (no pod can run) and where the
monitoring role is not applied. Prometheus and Alertmanager are asked from inside their own pods
(`wget` of their busybox-based images against 127.0.0.1): the platform's NetworkPolicies let
nothing else reach them, so the test needs no network path into the cluster.

The alert is ServiceWithoutEndpoints (roles/monitoring/templates/prometheus/alerts.yml.j2): a
Deployment scaled to 0 asks for 0 replicas and has 0, so DeploymentReplicasUnavailable stays
silent; what breaks is the Service in front of it, which has no ready endpoint left. Its
timeouts come from the running Prometheus: the rule's `for`, its group's evaluation interval
and kube-state-metrics' scrape interval (/api/v1/rules, /api/v1/status/config).
"""

from __future__ import annotations

import json
import os
import time
import urllib.parse
import uuid
from typing import Any, Callable, Dict, Iterator, List, Tuple

import pytest
import yaml

import prometheus_api as papi

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not os.environ.get("KUBECONFIG"), reason="KUBECONFIG is not set: no cluster to check"),
]

NAMESPACE = os.environ.get("LIVE_MONITORING_NAMESPACE", "monitoring")
ALERT = "ServiceWithoutEndpoints"
# The job whose series the alert is computed from.
ALERT_JOB = "kube-state-metrics"
# Slack on top of the intervals: kube-state-metrics' watch, a slow scrape, an exec round trip.
SLACK_SECONDS = 60


@pytest.fixture(scope="module")
def kube(cluster_with_nodes: Any) -> Any:
    """The configured client on an API server with nodes (tests/live/conftest.py skips otherwise)."""
    return cluster_with_nodes


def ready_pods(kube: Any, statefulset: str) -> Tuple[List[str], int]:
    """The Ready pods of a StatefulSet of the monitoring namespace, and how many it asks for;
    skip when the StatefulSet does not exist (the role is not applied)."""
    from kubernetes.client.exceptions import ApiException

    try:
        spec = kube.AppsV1Api().read_namespaced_stateful_set(statefulset, NAMESPACE).spec
    except ApiException as exc:
        if exc.status == 404:
            pytest.skip("StatefulSet %s/%s not found: the monitoring role is not applied to this cluster" % (NAMESPACE, statefulset))
        raise
    selector = ",".join("%s=%s" % item for item in spec.selector.match_labels.items())
    pods = kube.CoreV1Api().list_namespaced_pod(NAMESPACE, label_selector=selector).items
    ready = [p.metadata.name for p in pods if any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])]
    return sorted(ready), spec.replicas


def all_ready(kube: Any, statefulset: str) -> List[str]:
    ready, replicas = ready_pods(kube, statefulset)
    assert len(ready) == replicas, "StatefulSet %s/%s has %d of %d pods Ready (%s)" % (NAMESPACE, statefulset, len(ready), replicas, ready)
    return ready


def web_port(kube: Any, pod: str) -> int:
    container = kube.CoreV1Api().read_namespaced_pod(pod, NAMESPACE).spec.containers[0]
    return next(p.container_port for p in container.ports if p.name == "web")


def http_get(kube: Any, pod: str, path: str) -> Any:
    """GET http://127.0.0.1:<web port><path> from inside `pod` (its first container) as JSON."""
    from kubernetes.stream import stream

    url = "http://127.0.0.1:%d%s" % (web_port(kube, pod), path)
    client = stream(kube.CoreV1Api().connect_get_namespaced_pod_exec, pod, NAMESPACE, command=["wget", "-qO-", url],
                    stderr=True, stdin=False, stdout=True, tty=False, _preload_content=False)
    client.run_forever(timeout=60)
    out, err, code = client.read_stdout(), client.read_stderr(), client.returncode
    client.close()
    assert code == 0, "wget %s in %s/%s exited %s: %s" % (url, NAMESPACE, pod, code, err.strip())
    return json.loads(out)


def wait_for(what: str, timeout: float, check: Callable[[], Any], done: Callable[[Any], bool] = bool, interval: float = 5) -> Any:
    """Call `check` until `done` holds for its result; fail after `timeout` seconds with `what`
    and the last result."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if done(result):
            return result
        if time.monotonic() > deadline:
            pytest.fail("%s: not within %.0f s (last seen: %r)" % (what, timeout, result))
        time.sleep(interval)


@pytest.fixture(scope="module")
def prometheus_pods(kube: Any) -> List[str]:
    return all_ready(kube, "prometheus")


@pytest.fixture(scope="module")
def running_config(kube: Any, prometheus_pods: List[str]) -> Dict[str, Any]:
    """The configuration the first Prometheus replica runs (secrets masked by Prometheus)."""
    return yaml.safe_load(papi.payload(http_get(kube, prometheus_pods[0], "/api/v1/status/config"))["yaml"])


def inventory(kube: Any) -> papi.Inventory:
    """The nodes, running pods and ready endpoints of the cluster, as discovery sees them."""
    core = kube.CoreV1Api()
    return papi.cluster_inventory(core.list_node().items, core.list_pod_for_all_namespaces().items,
                                  kube.DiscoveryV1Api().list_endpoint_slice_for_all_namespaces().items)


def test_every_scrape_target_of_every_replica_is_up(kube: Any, prometheus_pods: List[str], running_config: Dict[str, Any]) -> None:
    expected = papi.expected_jobs(running_config, inventory(kube))
    assert expected, "the running configuration expects no job at all"
    # A target that came or restarted just now is `unknown` or down until its next scrape.
    settle = max(papi.scrape_interval(running_config, job["job_name"]) for job in running_config["scrape_configs"]) * 2 + 10
    for pod in prometheus_pods:
        def down() -> List[papi.Target]:
            return papi.down_targets(papi.active_targets(http_get(kube, pod, "/api/v1/targets")))
        deadline = time.monotonic() + settle
        while down() and time.monotonic() < deadline:
            time.sleep(5)
        targets = papi.active_targets(http_get(kube, pod, "/api/v1/targets"))
        missing = expected - papi.target_jobs(targets)
        assert not missing, "%s: jobs with something to scrape but no target: %s" % (pod, sorted(missing))
        failing = papi.down_targets(targets)
        assert not failing, "%s: %d of %d targets not up: %s" % (pod, len(failing), len(targets), papi.describe_targets(failing))


# -- an alert fires when a Deployment is scaled to 0, and resolves ------------------------------


@pytest.fixture()
def workload(kube: Any, prometheus_pods: List[str]) -> Iterator[Tuple[str, str]]:
    """A namespace with a one-replica Deployment (the Prometheus image, which every node that runs
    Prometheus has, sleeping) and a Service in front of it; deleted afterwards."""
    core, apps = kube.CoreV1Api(), kube.AppsV1Api()
    image = apps.read_namespaced_stateful_set("prometheus", NAMESPACE).spec.template.spec.containers[0].image
    namespace, name = "monitoring-live-%s" % uuid.uuid4().hex[:8], "scaled"
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "monitoring-live-test"}
    security = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True, "runAsUser": 65534,
                "readOnlyRootFilesystem": True, "seccompProfile": {"type": "RuntimeDefault"}}
    core.create_namespace({"metadata": {"name": namespace, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}})
    try:
        apps.create_namespaced_deployment(namespace, {
            "metadata": {"name": name, "labels": labels},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {
                "metadata": {"labels": labels},
                "spec": {"automountServiceAccountToken": False, "terminationGracePeriodSeconds": 1, "containers": [{
                    "name": name, "image": image, "command": ["sleep", "3600"], "securityContext": security,
                    "ports": [{"name": "http", "containerPort": 8080}],
                    "resources": {"requests": {"cpu": "5m", "memory": "8Mi"}, "limits": {"memory": "32Mi"}}}]}}}})
        core.create_namespaced_service(namespace, {"metadata": {"name": name, "labels": labels},
                                                   "spec": {"selector": labels, "ports": [{"name": "http", "port": 8080, "targetPort": "http"}]}})
        yield namespace, name
    finally:
        core.delete_namespace(namespace)


def ready_endpoints(kube: Any, namespace: str, service: str) -> int:
    """Ready endpoints over all EndpointSlices of a Service."""
    slices = kube.DiscoveryV1Api().list_namespaced_endpoint_slice(namespace, label_selector="kubernetes.io/service-name=" + service).items
    return sum(len(papi.service_slice(item).endpoint_nodes) for item in slices)


def scale(kube: Any, namespace: str, name: str, replicas: int) -> None:
    kube.AppsV1Api().patch_namespaced_deployment_scale(name, namespace, {"spec": {"replicas": replicas}})


def test_an_alert_fires_when_a_deployment_is_scaled_to_zero_and_resolves_when_it_is_back(
        kube: Any, prometheus_pods: List[str], running_config: Dict[str, Any], workload: Tuple[str, str]) -> None:
    namespace, name = workload
    rule = papi.alert_rule(http_get(kube, prometheus_pods[0], "/api/v1/rules?type=alert"), ALERT)
    # The series change once kube-state-metrics is scraped again, the rule sees it at its next
    # evaluation, and it fires one evaluation after its `for` is over.
    react = papi.scrape_interval(running_config, ALERT_JOB) + 2 * rule.interval_seconds + SLACK_SECONDS
    selector = {"namespace": namespace, "service": name}
    alertmanagers = all_ready(kube, "alertmanager")

    def in_prometheus(pod: str) -> List[papi.Alert]:
        return papi.prometheus_alerts(http_get(kube, pod, "/api/v1/alerts"), ALERT, selector)

    def in_alertmanager(pod: str) -> List[papi.Alert]:
        query = urllib.parse.urlencode([("filter", 'alertname="%s"' % ALERT), ("filter", 'namespace="%s"' % namespace)])
        return papi.alertmanager_alerts(http_get(kube, pod, "/api/v2/alerts?" + query), ALERT, selector)

    def seen(find: Callable[[str], List[papi.Alert]], pods: List[str]) -> Callable[[], Dict[str, List[str]]]:
        """The alert's states in each pod (an empty list: not there)."""
        return lambda: {pod: sorted(papi.states(find(pod))) for pod in pods}

    def everywhere(state: str) -> Callable[[Dict[str, List[str]]], bool]:
        return lambda found: all(states == [state] for states in found.values())

    def nowhere(found: Dict[str, List[str]]) -> bool:
        return all(states == [] for states in found.values())

    wait_for("the Service %s/%s to get a ready endpoint" % (namespace, name), 180, lambda: ready_endpoints(kube, namespace, name))
    # Until its pod was ready the Service had none: the alert may be pending; it must clear.
    wait_for("%s of %s/%s to be clear while the Deployment runs" % (ALERT, namespace, name), react, seen(in_prometheus, prometheus_pods), nowhere)

    scale(kube, namespace, name, 0)
    scaled = time.monotonic()
    wait_for("the Service %s/%s to lose its endpoints" % (namespace, name), 60, lambda: ready_endpoints(kube, namespace, name) == 0)
    wait_for("%s for %s/%s firing in every Prometheus replica (for %.0f s)" % (ALERT, namespace, name, rule.for_seconds),
             rule.for_seconds + react, seen(in_prometheus, prometheus_pods), everywhere("firing"))
    assert time.monotonic() - scaled >= rule.for_seconds, "%s fired before its `for` (%.0f s) was over" % (ALERT, rule.for_seconds)
    wait_for("%s for %s/%s received by every Alertmanager member" % (ALERT, namespace, name),
             rule.interval_seconds + SLACK_SECONDS, seen(in_alertmanager, alertmanagers), everywhere("active"))

    scale(kube, namespace, name, 1)
    wait_for("the Service %s/%s to get its endpoint back" % (namespace, name), 180, lambda: ready_endpoints(kube, namespace, name))
    wait_for("%s for %s/%s to resolve in every Prometheus replica" % (ALERT, namespace, name), react, seen(in_prometheus, prometheus_pods), nowhere)
    wait_for("%s for %s/%s to resolve in every Alertmanager member" % (ALERT, namespace, name),
             rule.interval_seconds + SLACK_SECONDS, seen(in_alertmanager, alertmanagers), nowhere)
