"""The functions the monitoring live test reads Prometheus and Alertmanager with
(tests/prometheus_api.py), run against Debian's Prometheus, node-exporter and Alertmanager on
loopback: real /api/v1/targets, /api/v1/alerts, /api/v1/rules and /api/v2/alerts answers."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
import yaml

import prometheus_api as api
from prometheus_loopback import SELF, binary, free_port, get_json, process, prometheus, wait_until

# A rule per question: fires at once on the dead target, pending for an hour on it, and one on
# the node-exporter that must stay silent while the exporter runs.
RULES = {"groups": [{"name": "loopback", "interval": "1s", "rules": [
    {"alert": "LoopbackTargetLost", "expr": 'up{job="dead"} == 0', "for": "0s", "labels": {"severity": "warning"}},
    {"alert": "LoopbackTargetLostLong", "expr": 'up{job="dead"} == 0', "for": "1h", "labels": {"severity": "warning"}},
    {"alert": "LoopbackNodeLost", "expr": 'up{job="node"} == 0', "for": "0s", "labels": {"severity": "critical"}},
]}]}


@contextlib.contextmanager
def alertmanager(root: Path) -> Iterator[str]:
    """Debian's Alertmanager on loopback, alone (no cluster), keeping every alert it receives."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "alertmanager.yml").write_text(yaml.safe_dump({"route": {"receiver": "keep"}, "receivers": [{"name": "keep"}]}))
    address = "127.0.0.1:%d" % free_port()
    with process([binary("prometheus-alertmanager"), "--config.file=%s" % (root / "alertmanager.yml"),
                  "--storage.path=%s" % (root / "data"), "--web.listen-address=" + address, "--cluster.listen-address="]):
        base = "http://" + address
        wait_until("Alertmanager to be ready", lambda: get_json(base + "/api/v2/status"))
        yield base


@pytest.fixture(scope="module")
def loopback(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dict[str, Any]]:
    """A Prometheus scraping itself, a live node-exporter and a closed port (job `dead`),
    evaluating RULES every second and sending its alerts to an Alertmanager."""
    root = tmp_path_factory.mktemp("prometheus-api")
    dead = "127.0.0.1:%d" % free_port()
    node_port = free_port()
    with alertmanager(root / "alertmanager") as am, \
            process([binary("prometheus-node-exporter"), "--web.listen-address=127.0.0.1:%d" % node_port]) as node:
        jobs = [{"job_name": "prometheus", "static_configs": [{"targets": [SELF]}]},
                {"job_name": "node", "static_configs": [{"targets": ["127.0.0.1:%d" % node_port]}]},
                {"job_name": "dead", "static_configs": [{"targets": [dead]}]}]
        with prometheus(root / "prometheus", jobs, RULES, alertmanagers=[am[len("http://"):]]) as base:
            wait_until("every target scraped once", lambda: scraped_once(targets(base), len(jobs)))
            yield {"prometheus": base, "alertmanager": am, "dead": dead, "node_port": node_port, "node": node}


def scraped_once(found: List[api.Target], count: int) -> bool:
    return len(found) == count and all(t.health != "unknown" for t in found)


def targets(base: str) -> List[api.Target]:
    return api.active_targets(get_json(base + "/api/v1/targets"))


def alerts(base: str, name: str) -> List[api.Alert]:
    return api.prometheus_alerts(get_json(base + "/api/v1/alerts"), name, {})


def test_the_closed_port_is_exactly_the_down_target(loopback: Dict[str, Any]) -> None:
    found = targets(loopback["prometheus"])
    assert api.target_jobs(found) == {"prometheus", "node", "dead"}
    down = api.down_targets(found)
    assert [(t.job, t.instance, t.health) for t in down] == [("dead", loopback["dead"], "down")]
    assert "connection refused" in down[0].last_error
    message = api.describe_targets(down)
    assert loopback["dead"] in message and "connection refused" in message


def test_an_alert_on_the_dead_target_is_firing_and_one_with_a_long_for_is_pending(loopback: Dict[str, Any]) -> None:
    base = loopback["prometheus"]
    firing = wait_until("LoopbackTargetLost to fire", lambda: alerts(base, "LoopbackTargetLost"))
    assert api.states(firing) == {"firing"}
    assert firing[0].labels["instance"] == loopback["dead"]
    assert api.states(alerts(base, "LoopbackTargetLostLong")) == {"pending"}
    assert alerts(base, "LoopbackNodeLost") == []
    # The label selector narrows the match: no alert of another instance.
    body = get_json(base + "/api/v1/alerts")
    assert api.prometheus_alerts(body, "LoopbackTargetLost", {"instance": "127.0.0.1:1"}) == []
    assert len(api.prometheus_alerts(body, "LoopbackTargetLost", {"instance": loopback["dead"], "job": "dead"})) == 1


def test_an_alert_fires_when_its_target_stops_and_resolves_when_it_is_back(loopback: Dict[str, Any]) -> None:
    base = loopback["prometheus"]
    assert alerts(base, "LoopbackNodeLost") == []
    loopback["node"].terminate()
    loopback["node"].wait(timeout=10)
    fired = wait_until("LoopbackNodeLost to fire", lambda: alerts(base, "LoopbackNodeLost"))
    assert api.states(fired) == {"firing"}
    with process([binary("prometheus-node-exporter"), "--web.listen-address=127.0.0.1:%d" % loopback["node_port"]]):
        wait_until("LoopbackNodeLost to resolve", lambda: alerts(base, "LoopbackNodeLost") == [])
        wait_until("the node target up again", lambda: not [t for t in api.down_targets(targets(base)) if t.job == "node"])


def test_alertmanager_receives_the_firing_alert(loopback: Dict[str, Any]) -> None:
    received = wait_until("Alertmanager to list LoopbackTargetLost", lambda: api.alertmanager_alerts(
        get_json(loopback["alertmanager"] + "/api/v2/alerts"), "LoopbackTargetLost", {"job": "dead"}))
    assert api.states(received) == {"active"}
    assert api.alertmanager_alerts(get_json(loopback["alertmanager"] + "/api/v2/alerts"), "LoopbackNodeLost", {"job": "dead"}) == []


def test_a_rule_gives_its_for_and_its_group_interval(loopback: Dict[str, Any]) -> None:
    body = get_json(loopback["prometheus"] + "/api/v1/rules")
    rule = api.alert_rule(body, "LoopbackTargetLostLong")
    assert (rule.for_seconds, rule.interval_seconds) == (3600, 1)
    assert rule.query == 'up{job="dead"} == 0'
    with pytest.raises(KeyError, match="NoSuchAlert"):
        api.alert_rule(body, "NoSuchAlert")


def test_an_error_answer_is_not_read_as_data(loopback: Dict[str, Any]) -> None:
    import urllib.error

    with pytest.raises(urllib.error.HTTPError) as raised:
        get_json(loopback["prometheus"] + "/api/v1/query?query=sum(")
    body = yaml.safe_load(raised.value.read().decode())
    with pytest.raises(ValueError, match="bad_data"):
        api.payload(body)


def test_durations() -> None:
    assert api.parse_duration("30s") == 30 and api.parse_duration("1m30s") == 90 and api.parse_duration("500ms") == 0.5
    for bad in ("", "30", "1x", "s30"):
        with pytest.raises(ValueError):
            api.parse_duration(bad)


# -- which jobs must have targets ---------------------------------------------------------------

KEEP_APP = [{"source_labels": ["__meta_kubernetes_pod_label_app_kubernetes_io_name"], "regex": "mariadb-galera", "action": "keep"},
            {"source_labels": ["__meta_kubernetes_pod_container_port_name"], "regex": "metrics", "action": "keep"}]
CONFIG = {"global": {"scrape_interval": "30s"}, "scrape_configs": [
    {"job_name": "self", "static_configs": [{"targets": ["p:9090"]}], "scrape_interval": "10s"},
    {"job_name": "kubelet", "kubernetes_sd_configs": [{"role": "node"}]},
    {"job_name": "mariadb", "kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": ["mariadb"]}}], "relabel_configs": KEEP_APP},
    {"job_name": "etcd", "kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": ["kube-system"]}}],
     "relabel_configs": [{"source_labels": ["__meta_kubernetes_pod_label_component"], "regex": "etcd", "action": "keep"},
                         {"source_labels": ["__meta_kubernetes_pod_ip"], "regex": "(.+)", "replacement": "$1:2381", "target_label": "__address__"}]},
    {"job_name": "ksm", "kubernetes_sd_configs": [{"role": "endpointslice", "namespaces": {"names": ["monitoring"]}}],
     "relabel_configs": [{"source_labels": ["__meta_kubernetes_service_name", "__meta_kubernetes_endpointslice_port_name"],
                          "regex": "kube-state-metrics;http-metrics", "action": "keep"}]},
]}
GALERA = api.Pod("mariadb", "galera-0", {"app.kubernetes.io/name": "mariadb-galera"}, (("mysql", 3306), ("metrics", 9104)))
ETCD = api.Pod("kube-system", "etcd-cp1", {"component": "etcd"}, portless_container=True)
KSM = api.EndpointSlice("monitoring", "kube-state-metrics", ("http-metrics", "telemetry"), ("n1",))


def test_every_job_is_expected_when_its_objects_exist() -> None:
    cluster = api.Inventory(nodes=("n1",), pods=(GALERA, ETCD), slices=(KSM,))
    assert api.expected_jobs(CONFIG, cluster) == {"self", "kubelet", "mariadb", "etcd", "ksm"}


def test_a_job_whose_objects_are_missing_or_do_not_match_is_not_expected() -> None:
    no_metrics_port = api.Pod("mariadb", "galera-0", {"app.kubernetes.io/name": "mariadb-galera"}, (("mysql", 3306),))
    other_namespace = api.Pod("default", "galera-0", {"app.kubernetes.io/name": "mariadb-galera"}, (("metrics", 9104),))
    no_endpoints = api.EndpointSlice("monitoring", "kube-state-metrics", ("http-metrics",), ())
    other_port = api.EndpointSlice("monitoring", "kube-state-metrics", ("telemetry",), ("n1",))
    cluster = api.Inventory(pods=(no_metrics_port, other_namespace), slices=(no_endpoints, other_port))
    assert api.expected_jobs(CONFIG, cluster) == {"self"}


def test_relabelling_replace_drop_and_unmodelled_actions() -> None:
    labels = {"__meta_kubernetes_pod_ip": "10.0.0.1", "a": "x"}
    replaced = api.relabel(labels, [{"source_labels": ["__meta_kubernetes_pod_ip"], "regex": "(.+)", "replacement": "$1:2381",
                                     "target_label": "__address__"},
                                    {"source_labels": ["missing"], "regex": "(.+)", "target_label": "a"}])
    assert replaced == {"__meta_kubernetes_pod_ip": "10.0.0.1", "a": "x", "__address__": "10.0.0.1:2381"}
    assert api.relabel(labels, [{"source_labels": ["a"], "regex": "x", "action": "drop"}]) is None
    assert api.relabel(labels, [{"source_labels": ["a"], "regex": "x|y", "action": "keep"}]) == labels
    with pytest.raises(ValueError, match="labelmap"):
        api.relabel(labels, [{"regex": "(.+)", "action": "labelmap"}])


def test_scrape_interval_of_a_job() -> None:
    assert api.scrape_interval(CONFIG, "self") == 10 and api.scrape_interval(CONFIG, "kubelet") == 30


# -- the cluster's objects as the live test lists them (kubernetes.client models) ----------------


def k8s_pod(name: str, phase: str = "Running", ip: str = "10.0.0.5", containers: Any = None) -> Any:
    from kubernetes import client

    containers = containers if containers is not None else [
        client.V1Container(name="app", ports=[client.V1ContainerPort(name="metrics", container_port=9104), client.V1ContainerPort(container_port=3306)]),
        client.V1Container(name="sidecar")]
    return client.V1Pod(metadata=client.V1ObjectMeta(name=name, namespace="mariadb", labels={"app.kubernetes.io/name": "mariadb-galera"}),
                        spec=client.V1PodSpec(containers=containers, node_name="n1"), status=client.V1PodStatus(phase=phase, pod_ip=ip))


def k8s_slice(conditions: List[Any]) -> Any:
    from kubernetes import client

    endpoints = [client.V1Endpoint(addresses=["10.0.0.%d" % i], conditions=c, node_name="n%d" % i) for i, c in enumerate(conditions)]
    return client.V1EndpointSlice(address_type="IPv4", endpoints=endpoints, ports=[client.DiscoveryV1EndpointPort(name="http-metrics", port=8080)],
                                  metadata=client.V1ObjectMeta(name="ksm-abc", namespace="monitoring",
                                                               labels={"kubernetes.io/service-name": "kube-state-metrics"}))


def test_pods_become_discovery_targets_only_while_running_with_an_address() -> None:
    from kubernetes import client

    pod = api.running_pod(k8s_pod("galera-0"))
    assert pod == api.Pod("mariadb", "galera-0", {"app.kubernetes.io/name": "mariadb-galera"}, (("metrics", 9104), ("", 3306)), True, "n1")
    assert pod is not None and pod.labels == {"app.kubernetes.io/name": "mariadb-galera"}
    assert api.running_pod(k8s_pod("galera-1", phase="Pending")) is None
    assert api.running_pod(k8s_pod("galera-2", ip="")) is None
    only_ports = api.running_pod(k8s_pod("galera-3", containers=[client.V1Container(name="app", ports=[client.V1ContainerPort(container_port=1)])]))
    assert only_ports is not None and not only_ports.portless_container


def test_an_endpoint_slice_keeps_its_service_ports_and_ready_endpoints() -> None:
    from kubernetes import client

    item = api.service_slice(k8s_slice([client.V1EndpointConditions(ready=True), client.V1EndpointConditions(ready=False),
                                        None, client.V1EndpointConditions()]))
    assert item == api.EndpointSlice("monitoring", "kube-state-metrics", ("http-metrics",), ("n0", "n2", "n3"))
    assert api.service_slice(k8s_slice([])).endpoint_nodes == ()


def test_the_inventory_of_listed_objects_decides_the_expected_jobs() -> None:
    from kubernetes import client

    nodes = [client.V1Node(metadata=client.V1ObjectMeta(name="n1"))]
    cluster = api.cluster_inventory(nodes, [k8s_pod("galera-0"), k8s_pod("galera-1", phase="Succeeded")], [k8s_slice([None])])
    assert cluster.nodes == ("n1",) and [p.name for p in cluster.pods] == ["galera-0"]
    assert api.expected_jobs(CONFIG, cluster) == {"self", "kubelet", "mariadb", "ksm"}
    unready = api.cluster_inventory(nodes, [], [k8s_slice([client.V1EndpointConditions(ready=False)])])
    assert "ksm" not in api.expected_jobs(CONFIG, unready)
