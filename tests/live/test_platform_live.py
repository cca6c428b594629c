"""The platform stage's result on a real cluster (KUBECONFIG), after `site.yml` applied it:
a PVC of each StorageClass binds, an HTTPRoute attached to Gateway `platform` serves a test
backend through the gateway's NodePorts (and plain HTTP redirects), and the metrics API answers.

Skipped without KUBECONFIG; the tests that need running pods skip where the API server has no
nodes (an API server without kubelets, such as ../shared/tools/apiserver-lane), and the gateway
test skips when the nodes' addresses cannot be reached from here.
"""

from __future__ import annotations

import os
import socket
import ssl
import time
import uuid
from typing import Any, Callable, Iterator, List, Optional

import pytest

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not os.environ.get("KUBECONFIG"), reason="KUBECONFIG is not set: no cluster to check"),
]

TIMEOUT = float(os.environ.get("LIVE_TIMEOUT", "300"))
DOMAIN = os.environ.get("LIVE_PLATFORM_DOMAIN", "platform.example.test")
HTTP_NODEPORT = int(os.environ.get("LIVE_GATEWAY_HTTP_NODEPORT", "30080"))
HTTPS_NODEPORT = int(os.environ.get("LIVE_GATEWAY_HTTPS_NODEPORT", "30443"))
# A small image that answers HTTP (agnhost netexec); override for mirrored registries.
BACKEND_IMAGE = os.environ.get("LIVE_BACKEND_IMAGE", "registry.k8s.io/e2e-test-images/agnhost:2.53")
ROUTE_LABELS = {"app.kubernetes.io/part-of": "orchestrate-platform"}


def wait_for(what: str, probe: Callable[[], Any], timeout: float = TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except Exception as exc:  # noqa: BLE001 - keep polling, report the last error
            last = exc
        else:
            if last:
                return last
        time.sleep(3)
    pytest.fail("timed out after %.0fs waiting for %s (last: %r)" % (timeout, what, last))


@pytest.fixture(scope="module")
def platform_applied(api: Any) -> None:
    names = [sc.metadata.name for sc in api.StorageV1Api().list_storage_class().items]
    if "standard-rwo" not in names:
        pytest.skip("StorageClass standard-rwo not found: the platform stage has not been applied to this cluster")


@pytest.fixture(scope="module")
def nodes(platform_applied: None, cluster_with_nodes: Any) -> List[Any]:
    return cluster_with_nodes.CoreV1Api().list_node().items


@pytest.fixture(scope="module")
def namespace(api: Any, nodes: List[Any]) -> Iterator[str]:
    name = "platform-live-%s" % uuid.uuid4().hex[:8]
    body = {"metadata": {"name": name, "labels": dict(ROUTE_LABELS, **{
        "pod-security.kubernetes.io/enforce": "restricted"})}}
    api.CoreV1Api().create_namespace(body)
    yield name
    api.CoreV1Api().delete_namespace(name)


def restricted_container(name: str, args: List[str], port: Optional[int] = None) -> dict:
    container = {
        "name": name, "image": BACKEND_IMAGE, "args": args,
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True, "runAsUser": 65532,
                            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}},
    }
    if port:
        container["ports"] = [{"name": "http", "containerPort": port}]
    return container


def claim_binds(api: Any, namespace: str, storage_class: str, mode: str) -> None:
    core = api.CoreV1Api()
    claim = "claim-%s" % storage_class
    core.create_namespaced_persistent_volume_claim(namespace, {
        "metadata": {"name": claim},
        "spec": {"accessModes": [mode], "storageClassName": storage_class, "resources": {"requests": {"storage": "1Gi"}}}})
    # WaitForFirstConsumer classes bind only once a pod uses the claim.
    core.create_namespaced_pod(namespace, {
        "metadata": {"name": "use-%s" % storage_class},
        "spec": {"containers": [dict(restricted_container("pause", ["pause"]),
                                     volumeMounts=[{"name": "data", "mountPath": "/data"}])],
                 "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]}})
    wait_for("PVC %s to bind" % claim,
             lambda: core.read_namespaced_persistent_volume_claim(claim, namespace).status.phase == "Bound")


@pytest.mark.parametrize("storage_class, mode", [("standard-rwo", "ReadWriteOnce"), ("standard-rwo-retain", "ReadWriteOnce"),
                                                 ("shared-rwx", "ReadWriteMany")])
def test_a_claim_binds(api: Any, namespace: str, storage_class: str, mode: str) -> None:
    claim_binds(api, namespace, storage_class, mode)


def test_metrics_api_answers(api: Any, nodes: List[Any]) -> None:
    custom = api.CustomObjectsApi()
    found = wait_for("node metrics from metrics.k8s.io",
                     lambda: custom.list_cluster_custom_object("metrics.k8s.io", "v1beta1", "nodes")["items"])
    assert {item["metadata"]["name"] for item in found} <= {n.metadata.name for n in nodes}


def node_addresses(nodes: List[Any]) -> List[str]:
    return [a.address for n in nodes for a in n.status.addresses or [] if a.type in ("InternalIP", "ExternalIP")]


def reachable(addresses: List[str], port: int) -> Optional[str]:
    for address in addresses:
        try:
            with socket.create_connection((address, port), timeout=3):
                return address
        except OSError:
            continue
    return None


def https_get(address: str, host: str) -> str:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the platform's own CA; the certificate is checked by the render tests
    with socket.create_connection((address, HTTPS_NODEPORT), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=host) as tls:
            tls.sendall(("GET /hostname HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % host).encode())
            return b"".join(iter(lambda: tls.recv(4096), b"")).decode(errors="replace")


def http_get(address: str, host: str) -> str:
    with socket.create_connection((address, HTTP_NODEPORT), timeout=10) as raw:
        raw.sendall(("GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % host).encode())
        return b"".join(iter(lambda: raw.recv(4096), b"")).decode(errors="replace")


def test_httproute_serves_a_backend_through_the_gateway(api: Any, namespace: str, nodes: List[Any]) -> None:
    address = reachable(node_addresses(nodes), HTTPS_NODEPORT)
    if not address:
        pytest.skip("no node address answers on the HTTPS NodePort %d from here" % HTTPS_NODEPORT)
    host = "live-%s.%s" % (namespace[-8:], DOMAIN)
    labels = {"app.kubernetes.io/name": "live-backend"}
    api.AppsV1Api().create_namespaced_deployment(namespace, {
        "metadata": {"name": "live-backend"},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [restricted_container("web", ["netexec", "--http-port=8080"], 8080)]}}}})
    api.CoreV1Api().create_namespaced_service(namespace, {
        "metadata": {"name": "live-backend"},
        "spec": {"selector": labels, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}})
    api.CustomObjectsApi().create_namespaced_custom_object("gateway.networking.k8s.io", "v1", namespace, "httproutes", {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "live"},
        "spec": {"parentRefs": [{"name": "platform", "namespace": "gateway", "sectionName": "https"}],
                 "hostnames": [host], "rules": [{"backendRefs": [{"name": "live-backend", "port": 80}]}]}})
    response = wait_for("the backend to answer through the gateway",
                        lambda: (lambda r: r if r.startswith("HTTP/1.1 200") else None)(https_get(address, host)))
    assert "live-backend" in response
    redirect = http_get(address, host)
    assert redirect.split("\r\n", 1)[0].split(" ")[1] in ("301", "308")
    assert "location: https://%s" % host in redirect.lower()
