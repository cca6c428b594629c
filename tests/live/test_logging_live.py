"""The logging role on a real cluster (KUBECONFIG): Elasticsearch green, every node with its
node's zone as node.attr.zone and no shard with two copies in one zone, and a line that a test
pod writes to its stdout found in Elasticsearch within 60 seconds (Fluent Bit on the pod's node,
the Kubernetes filter, TLS to Elasticsearch, the data stream).

Skipped without KUBECONFIG, where the API server has no nodes (no pod can run), where the
logging role is not applied, and where no Elasticsearch pod is ready (the reason lists the pods'
states). Elasticsearch is queried from inside elasticsearch-0 with curl, as the elastic user
whose password the pod has mounted, so the test needs no network path into the cluster.
"""

from __future__ import annotations

import json
import os
import shlex
import time
import uuid
from typing import Any, Dict

import pytest

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not os.environ.get("KUBECONFIG"), reason="KUBECONFIG is not set: no cluster to check"),
    pytest.mark.usefixtures("cluster_with_nodes"),
]

NAMESPACE = os.environ.get("LIVE_LOGGING_NAMESPACE", "logging")
INDEX = "logs-platform-*"
SHIP_SECONDS = 60


@pytest.fixture(scope="module")
def es_pod(api: Any) -> str:
    from kubernetes.client.exceptions import ApiException

    try:
        api.AppsV1Api().read_namespaced_stateful_set("elasticsearch", NAMESPACE)
    except ApiException as exc:
        if exc.status == 404:
            pytest.skip("StatefulSet %s/elasticsearch not found: the logging role is not applied to this cluster" % NAMESPACE)
        raise
    pods = api.CoreV1Api().list_namespaced_pod(NAMESPACE, label_selector="app.kubernetes.io/name=elasticsearch").items
    ready = [p.metadata.name for p in pods if any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])]
    if not ready:
        states = {p.metadata.name: p.status.phase for p in pods}
        pytest.skip("no Elasticsearch pod is ready on this cluster (pods and phases: %s; none at all means the StatefulSet "
                    "could not make any, e.g. a quota or no schedulable node)" % (states or "none"))
    return sorted(ready)[0]


def es(api: Any, pod: str, path: str) -> Dict[str, Any]:
    """GET `path` of Elasticsearch from inside `pod`, as the elastic user, TLS verified."""
    from kubernetes.stream import stream

    command = ("curl --silent --show-error --fail --cacert config/certs/ca.crt "
               "-u \"elastic:$(cat /etc/elasticsearch-secrets/elastic)\" %s" % shlex.quote("https://localhost:9200" + path))
    output = stream(api.CoreV1Api().connect_get_namespaced_pod_exec, pod, NAMESPACE, container="elasticsearch",
                    command=["/bin/bash", "-c", command], stderr=True, stdin=False, stdout=True, tty=False)
    return json.loads(output)


def test_elasticsearch_is_green(api: Any, es_pod: str) -> None:
    health = es(api, es_pod, "/_cluster/health?wait_for_status=green&timeout=60s")
    statefulset = api.AppsV1Api().read_namespaced_stateful_set("elasticsearch", NAMESPACE)
    assert health["status"] == "green", health
    assert health["number_of_nodes"] == statefulset.spec.replicas, health


ZONE_LABEL = "topology.kubernetes.io/zone"
UNLABELLED = "no-zone"  # _logging_es_zone_unlabelled


def test_each_node_carries_its_zone_and_no_shard_has_two_copies_in_one(api: Any, es_pod: str) -> None:
    """The API server copied each node's zone label onto its Elasticsearch pod (PodTopologyLabels
    admission), the init container made it node.attr.zone, and with at least as many zones as
    copies no shard keeps two copies in one zone."""
    core = api.CoreV1Api()
    pods = core.list_namespaced_pod(NAMESPACE, label_selector="app.kubernetes.io/name=elasticsearch").items
    expected = {}
    for item in pods:
        if not item.spec.node_name:
            continue
        zone = (core.read_node(item.spec.node_name).metadata.labels or {}).get(ZONE_LABEL)
        assert (item.metadata.labels or {}).get(ZONE_LABEL) == zone, "%s: the pod's zone label is not its node's" % item.metadata.name
        expected[item.metadata.name] = zone or UNLABELLED
    attributes = es(api, es_pod, "/_cat/nodeattrs?format=json&h=node,attr,value")
    zones = {entry["node"]: entry["value"] for entry in attributes if entry["attr"] == "zone"}
    assert zones and {name: expected.get(name) for name in zones} == zones, "node.attr.zone %s, the pods' zones %s" % (zones, expected)
    copies: Dict[tuple, list] = {}
    for shard in es(api, es_pod, "/_cat/shards?format=json&h=index,shard,prirep,state,node"):
        if shard["state"] == "STARTED":
            copies.setdefault((shard["index"], shard["shard"]), []).append(zones[shard["node"]])
    distinct = len(set(zones.values()))
    for key, where in copies.items():
        assert len(set(where)) == min(len(where), distinct), "%s has copies %s" % (key, where)


@pytest.fixture()
def writer(api: Any, es_pod: str) -> Any:
    """A namespace with one pod that writes a unique line to stdout (in the Elasticsearch image,
    which every node that runs Elasticsearch already has)."""
    core = api.CoreV1Api()
    image = api.AppsV1Api().read_namespaced_stateful_set("elasticsearch", NAMESPACE).spec.template.spec.containers[0].image
    name = "logging-live-%s" % uuid.uuid4().hex[:8]
    marker = "orchestrate-logging-live-%s" % uuid.uuid4().hex
    core.create_namespace({"metadata": {"name": name, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}})
    security = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True, "runAsUser": 1000,
                "seccompProfile": {"type": "RuntimeDefault"}}
    core.create_namespaced_pod(name, {
        "metadata": {"name": "writer"},
        "spec": {"restartPolicy": "Never", "automountServiceAccountToken": False,
                 "containers": [{"name": "writer", "image": image, "command": ["/bin/bash", "-c", "echo %s; sleep 600" % marker],
                                 "securityContext": security,
                                 "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}}}]}})
    try:
        yield name, marker
    finally:
        core.delete_namespace(name)


def test_a_line_written_by_a_pod_is_found_within_a_minute(api: Any, es_pod: str, writer: Any) -> None:
    namespace, marker = writer
    core = api.CoreV1Api()
    deadline = time.monotonic() + 120
    while core.read_namespaced_pod("writer", namespace).status.phase != "Running":
        assert time.monotonic() < deadline, "the writer pod did not start within 120 s"
        time.sleep(1)
    started = time.monotonic()
    query = "/%s/_search?q=%s&size=1" % (INDEX, "log:%22" + marker + "%22")
    hits: list = []
    while time.monotonic() - started < SHIP_SECONDS and not hits:
        time.sleep(2)
        hits = es(api, es_pod, query)["hits"]["hits"]
    assert hits, "the line was not in %s within %d s" % (INDEX, SHIP_SECONDS)
    document = hits[0]["_source"]
    assert document["kubernetes"]["namespace_name"] == namespace and document["kubernetes"]["pod_name"] == "writer"
