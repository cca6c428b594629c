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
