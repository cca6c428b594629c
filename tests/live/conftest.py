"""Fixtures shared by the live tests (each module skips itself without KUBECONFIG)."""

from __future__ import annotations

import os
from typing import Any

import pytest


@pytest.fixture(scope="module")
def api() -> Any:
    """The `kubernetes.client` package, configured from $KUBECONFIG."""
    kubernetes = pytest.importorskip("kubernetes")
    kubernetes.config.load_kube_config(config_file=os.environ["KUBECONFIG"])
    return kubernetes.client


@pytest.fixture(scope="module")
def cluster_with_nodes(api: Any) -> Any:
    """`api` on a cluster whose API server has nodes; skips the test where it has none (an API
    server without kubelets runs no pod). Modules whose every test runs pods use it with
    `pytest.mark.usefixtures("cluster_with_nodes")`."""
    if not api.CoreV1Api().list_node().items:
        pytest.skip("the API server has no nodes (no kubelet): no pod can run here")
    return api
