"""metrics-server as site.yml renders it: pinned, the flags a kubeadm cluster needs, highly available."""

from __future__ import annotations

from typing import Any, Dict, List

import pytest

from rendered import Rendered

Obj = Dict[str, Any]


@pytest.fixture(scope="module")
def metrics(rendered: Rendered) -> List[Obj]:
    found = [o for path, objs in rendered.files.items() if path.startswith("platform/metrics_server/") for o in objs]
    assert found, "site.yml rendered nothing under platform/metrics_server/ (is playbooks/platform.yml imported?)"
    return found


def deployment(metrics: List[Obj]) -> Obj:
    return [o for o in metrics if o["kind"] == "Deployment"][0]


def test_image_is_pinned_to_the_release(metrics: List[Obj]) -> None:
    image = deployment(metrics)["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.startswith("registry.k8s.io/metrics-server/metrics-server:v0.")


def test_kubeadm_flags(metrics: List[Obj]) -> None:
    args = deployment(metrics)["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--kubelet-insecure-tls" not in args, "kubelets serve certificates of the cluster CA (serverTLSBootstrap + approved CSRs)"
    assert "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname" in args
    assert "--kubelet-use-node-status-port" in args


def test_api_service_points_at_the_service(metrics: List[Obj]) -> None:
    api = [o for o in metrics if o["kind"] == "APIService"][0]
    service = [o for o in metrics if o["kind"] == "Service"][0]
    assert api["metadata"]["name"] == "v1beta1.metrics.k8s.io"
    assert api["spec"]["service"] == {"name": service["metadata"]["name"], "namespace": service["metadata"]["namespace"], "port": 443}


def test_two_replicas_with_a_budget(metrics: List[Obj]) -> None:
    assert deployment(metrics)["spec"]["replicas"] >= 2
    assert [o for o in metrics if o["kind"] == "PodDisruptionBudget"]
