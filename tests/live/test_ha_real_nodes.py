"""The HA test's playbook end to end on a cluster with real nodes: a stand-in HTTP workload
(busybox httpd, 4 replicas spread over the nodes, a PodDisruptionBudget, a Service) takes
WordPress's place, and playbooks/ha_test.yml runs the pod-loss, drain and explicit-scale
experiments with the real prober. It needs images the nodes already hold or can pull:
HA_TEST_STANDIN_IMAGE (with /bin/sh and /bin/httpd, e.g. one made from Debian's busybox-static) and
HA_TEST_PYTHON_IMAGE (python3 for the prober); HA_TEST_NODE_LABEL=key=value confines every
pod to nodes with that label and tolerates a NoSchedule taint of the same key and value."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from project import run_playbook

STANDIN = os.environ.get("HA_TEST_STANDIN_IMAGE", "")
PYTHON = os.environ.get("HA_TEST_PYTHON_IMAGE", "")
LABEL = os.environ.get("HA_TEST_NODE_LABEL", "")


def _skip_reason() -> str:
    if not os.environ.get("KUBECONFIG"):
        return "KUBECONFIG is not set: no cluster with nodes to run the experiments on"
    if not STANDIN or not PYTHON:
        return ("HA_TEST_STANDIN_IMAGE (busybox httpd) and HA_TEST_PYTHON_IMAGE (python3) name the images of the "
                "stand-in workload and the prober; not set")
    return ""


pytestmark = [pytest.mark.live, pytest.mark.slow, pytest.mark.skipif(bool(_skip_reason()), reason=_skip_reason() or "-")]

SUFFIX = uuid.uuid4().hex[:6]
APP_NS, PROBER_NS = "ha-real-%s" % SUFFIX, "ha-real-%s-probe" % SUFFIX
LABELS = {"app.kubernetes.io/name": "standin"}


def placement() -> Dict[str, Any]:
    if not LABEL:
        return {}
    key, _, value = LABEL.partition("=")
    return {"nodeSelector": {key: value},
            "tolerations": [{"key": key, "operator": "Equal", "value": value, "effect": "NoSchedule"}]}


def standin() -> List[Dict[str, Any]]:
    restricted = {"pod-security.kubernetes.io/enforce": "restricted"}
    pod = {"automountServiceAccountToken": False, "enableServiceLinks": False, "terminationGracePeriodSeconds": 5,
           "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "runAsGroup": 65534,
                               "seccompProfile": {"type": "RuntimeDefault"}},
           "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                          "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": LABELS}}],
           "containers": [{"name": "httpd", "image": STANDIN, "imagePullPolicy": "IfNotPresent",
                           "command": ["/bin/sh", "-c", "echo ok > /www/index.html && exec /bin/httpd -f -p 8080 -h /www"],
                           "volumeMounts": [{"name": "www", "mountPath": "/www"}],
                           "ports": [{"name": "http", "containerPort": 8080}],
                           "readinessProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 1, "failureThreshold": 1},
                           "resources": {"requests": {"cpu": "10m", "memory": "8Mi"}, "limits": {"memory": "32Mi"}},
                           "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                               "capabilities": {"drop": ["ALL"]}}}],
           "volumes": [{"name": "www", "emptyDir": {"sizeLimit": "1Mi"}}], **placement()}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": APP_NS, "labels": restricted}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": PROBER_NS, "labels": restricted}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "standin", "namespace": APP_NS},
         "spec": {"replicas": 4, "selector": {"matchLabels": LABELS},
                  "template": {"metadata": {"labels": LABELS}, "spec": pod}}},
        {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "standin", "namespace": APP_NS},
         "spec": {"maxUnavailable": 1, "selector": {"matchLabels": LABELS}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "standin", "namespace": APP_NS},
         "spec": {"selector": LABELS, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}},
    ]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_client import Client

    api = Client(os.environ["KUBECONFIG"], None, pool_size=2, timeout=30.0)
    paths = {"Namespace": "/api/v1/namespaces", "Deployment": "/apis/apps/v1/namespaces/%s/deployments" % APP_NS,
             "PodDisruptionBudget": "/apis/policy/v1/namespaces/%s/poddisruptionbudgets" % APP_NS,
             "Service": "/api/v1/namespaces/%s/services" % APP_NS}
    try:
        for obj in standin():
            api.request("POST", paths[obj["kind"]], body=obj)
        deadline = time.monotonic() + 120
        while (api.request("GET", paths["Deployment"] + "/standin").get("status") or {}).get("readyReplicas") != 4:
            assert time.monotonic() < deadline, "the stand-in never had 4 Ready replicas: do the nodes hold %s?" % STANDIN
            time.sleep(1)
        yield api
    finally:
        for ns in (APP_NS, PROBER_NS):
            try:
                api.request("DELETE", "/api/v1/namespaces/%s" % ns)
            except Exception:  # noqa: BLE001 - cleanup of what may not exist
                pass


def test_pod_loss_drain_and_scale_on_real_nodes(cluster: Any, tmp_path: Path) -> None:
    address = "%s:80" % cluster.request("GET", "/api/v1/namespaces/%s/services/standin" % APP_NS)["spec"]["clusterIP"]
    settings = {
        "platform_mode": "apply", "platform_kubeconfig": os.environ["KUBECONFIG"], "ha_test_namespace": PROBER_NS,
        "ha_test_label": "live test on real nodes, stand-in workload", "ha_test_writes_enabled": False,
        "ha_test_python_image": PYTHON, "ha_test_wordpress": {"namespace": APP_NS, "name": "standin"},
        "ha_test_http_targets": [{"name": "standin", "url": "http://standin.%s.svc.cluster.local/" % APP_NS, "address": address}],
        "ha_test_node_selector": placement().get("nodeSelector", {}), "ha_test_tolerations": placement().get("tolerations", []),
        "ha_test_scale_explicit": True, "ha_test_scale_min_replicas": 6, "ha_test_steady_seconds": 3,
        "ha_test_probe_interval": 0.2, "ha_test_probe_timeout": 1, "ha_test_sample_interval": 0.5,
        "ha_test_experiment_timeout": 120, "ha_test_report_dir": str(tmp_path / "reports"),
        "ha_test_secrets_dir": str(tmp_path / "secrets"),
    }
    result = run_playbook(["playbooks/ha_test.yml", "-e", json.dumps(settings), "--tags",
                           "ha_test_wordpress_pod,ha_test_wordpress_half,ha_test_drain,ha_test_scale"], timeout=1200)
    reports = sorted((tmp_path / "reports").glob("ha-*/report.json"))
    assert reports, result.stdout[-5000:] + result.stderr[-2000:]
    document = json.loads(reports[-1].read_text())
    ran = {e["name"]: e for e in document["experiments"]}
    assert set(ran) == {"wordpress_pod", "wordpress_half", "drain", "scale_up_explicit", "scale_down_explicit"}, document
    for name, experiment in ran.items():
        figures = experiment["figures"]
        assert figures["time_to_ready"] is not None, (name, figures)
        assert figures["requests"] > 0, (name, "the prober made no request during the experiment")
    assert ran["drain"]["figures"]["failed"] == 0, ran["drain"]
    assert result.returncode == 0, document["violations"]
