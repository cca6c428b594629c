"""The cluster-wide Pod Security default against a real API server (KUBECONFIG) of a cluster the
platform built: kubeadm_control_plane gives the API server an AdmissionConfiguration whose
default enforces baseline, so a host-network pod - which no NetworkPolicy or Calico policy
governs, and which can ask the metadata server for the node's credentials - is refused in every
namespace that does not declare the need with a privileged label. The pods are created with a
server-side dry run (admission runs, nothing is stored); the namespaces are made and removed here."""

from __future__ import annotations

import json
import os
import uuid
from typing import Any, Dict, Iterator

import pytest

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not os.environ.get("KUBECONFIG"), reason="KUBECONFIG is not set: no API server to check against"),
]

ENFORCE = "pod-security.kubernetes.io/enforce"
HOST_NETWORK_POD: Dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "host-network"},
    "spec": {"hostNetwork": True, "containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10"}]},
}


@pytest.fixture()
def namespace(api: Any) -> Iterator[Any]:
    """A function that makes a fresh namespace with the given labels; all are deleted afterwards."""
    core = api.CoreV1Api()
    made = []

    def make(labels: Dict[str, str]) -> str:
        name = "psa-live-%s" % uuid.uuid4().hex[:8]
        core.create_namespace({"metadata": {"name": name, "labels": labels}})
        made.append(name)
        return name

    yield make
    for name in made:
        core.delete_namespace(name)


def create_dry_run(api: Any, namespace: str) -> Any:
    return api.CoreV1Api().create_namespaced_pod(namespace, HOST_NETWORK_POD, dry_run="All")


def test_a_host_network_pod_in_an_unlabelled_namespace_is_refused(api: Any, namespace: Any) -> None:
    with pytest.raises(api.exceptions.ApiException) as refused:
        create_dry_run(api, namespace({}))
    assert refused.value.status == 403
    message = json.loads(refused.value.body)["message"]
    assert 'violates PodSecurity "baseline:' in message and "hostNetwork=true" in message, message


def test_the_same_pod_is_admitted_where_a_privileged_label_declares_the_need(api: Any, namespace: Any) -> None:
    admitted = create_dry_run(api, namespace({ENFORCE: "privileged"}))
    assert admitted.spec.host_network is True


def test_kube_system_declares_privileged_for_kube_proxy_and_the_mirror_pods(api: Any) -> None:
    labels = api.CoreV1Api().read_namespace("kube-system").metadata.labels or {}
    assert labels.get(ENFORCE) == "privileged", "kube-system is %r: kube-proxy and the static pods' mirror pods are refused" % labels.get(ENFORCE)
