"""PostgreSQL for Jira and Confluence on a real cluster (KUBECONFIG): the read-write Service
answers pods labelled as Jira or Confluence, and nobody else (another pod of the same
namespace, or a pod labelled as Jira in another namespace).

Skipped without KUBECONFIG, where the postgresql role has not been applied (no Cluster
atlassian-db), and where no instance runs (an API server without kubelets, such as
apiserver-lane: the instances stay Pending there). Each probe is a short pod running pg_isready
from the Cluster's own image; the pods are deleted afterwards."""

from __future__ import annotations

import os
import time
import uuid
from typing import Any, Dict, Iterator

import pytest

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not os.environ.get("KUBECONFIG"), reason="KUBECONFIG is not set: no cluster to check"),
]

NAMESPACE = os.environ.get("LIVE_POSTGRESQL_NAMESPACE", "atlassian")
CLUSTER = os.environ.get("LIVE_POSTGRESQL_CLUSTER", "atlassian-db")
OTHER_NAMESPACE = os.environ.get("LIVE_POSTGRESQL_OTHER_NAMESPACE", "wordpress")
TIMEOUT = float(os.environ.get("LIVE_TIMEOUT", "300"))


@pytest.fixture(scope="module")
def cluster(api: Any) -> Dict[str, Any]:
    from kubernetes.client.exceptions import ApiException

    try:
        found = api.CustomObjectsApi().get_namespaced_custom_object(
            "postgresql.cnpg.io", "v1", NAMESPACE, "clusters", CLUSTER)
    except ApiException as exc:
        if exc.status == 404:
            pytest.skip("Cluster %s/%s not found: the postgresql role is not applied to this cluster" % (NAMESPACE, CLUSTER))
        raise
    pods = api.CoreV1Api().list_namespaced_pod(
        NAMESPACE, label_selector="cnpg.io/cluster=%s,cnpg.io/instanceRole=primary" % CLUSTER).items
    if not any(p.status.phase == "Running" for p in pods):
        pytest.skip("no running primary of %s/%s (no kubelet here, or the cluster is still starting): nothing answers on 5432"
                    % (NAMESPACE, CLUSTER))
    return found


def probe_pod(name: str, labels: Dict[str, str], image: str) -> Dict[str, Any]:
    host = "%s-rw.%s.svc" % (CLUSTER, NAMESPACE)
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": dict(labels, **{"orchestrate.platform/live-test": "postgresql"})},
        "spec": {
            "restartPolicy": "Never", "automountServiceAccountToken": False,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 26, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "probe", "image": image,
                "command": ["pg_isready", "--host", host, "--port", "5432", "--timeout", "10"],
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}},
                "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                    "capabilities": {"drop": ["ALL"]}},
            }],
        },
    }


@pytest.fixture
def reach(api: Any, cluster: Dict[str, Any]) -> Iterator[Any]:
    """reach(namespace, labels) -> True when a pod with those labels gets an answer from the primary."""
    core = api.CoreV1Api()
    made = []

    def run(namespace: str, labels: Dict[str, str]) -> bool:
        name = "pg-live-%s" % uuid.uuid4().hex[:8]
        core.create_namespaced_pod(namespace, probe_pod(name, labels, cluster["spec"]["imageName"]))
        made.append((namespace, name))
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            phase = core.read_namespaced_pod(name, namespace).status.phase
            if phase in ("Succeeded", "Failed"):
                return phase == "Succeeded"
            time.sleep(2)
        raise AssertionError("probe pod %s/%s did not finish within %ss" % (namespace, name, TIMEOUT))

    yield run
    for namespace, name in made:
        core.delete_namespaced_pod(name, namespace, grace_period_seconds=0)


@pytest.mark.parametrize("app", ["jira", "confluence"])
def test_the_atlassian_apps_reach_the_database(reach: Any, app: str) -> None:
    assert reach(NAMESPACE, {"app.kubernetes.io/name": app})


def test_another_pod_of_the_namespace_does_not(reach: Any) -> None:
    assert not reach(NAMESPACE, {"app.kubernetes.io/name": "not-an-app"})


def test_a_jira_label_in_another_namespace_does_not(reach: Any) -> None:
    assert not reach(OTHER_NAMESPACE, {"app.kubernetes.io/name": "jira"})
