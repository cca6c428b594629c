"""The platform rendered once (site.yml on the render-only default inventory) and the inputs of
the connectivity analysis derived from it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "render"))

from matrix import Analysis, Matrix  # noqa: E402
from project import ROOT, run_playbook  # noqa: E402
from rendered import Rendered  # noqa: E402

Obj = Dict[str, Any]
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicaSet", "Pod")


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    root = tmp_path_factory.mktemp("policy-manifests")
    result = run_playbook(["site.yml", "-e", "platform_render_dir=%s" % root])
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    rendered = Rendered(root, result, result)
    assert any(path.startswith("security/network_policies/") for path in rendered.files), (
        "site.yml rendered nothing for the network_policies role: add it to playbooks/security.yml "
        "(after namespaces, tags [network_policies]) and to playbooks/preflight.yml")
    return rendered


@pytest.fixture(scope="session")
def created_namespaces(platform: Rendered) -> Dict[str, Dict[str, str]]:
    """The namespaces the platform creates (rendered Namespace objects), with their labels; not the
    existing ones it only labels for Pod Security (kube-system, namespaces_existing_pod_security)."""
    defaults = yaml.safe_load((ROOT / "roles/namespaces/defaults/main.yml").read_text())
    existing = {entry["name"] for entry in defaults["namespaces_existing_pod_security"]}
    return {ns["metadata"]["name"]: dict(ns["metadata"].get("labels") or {}) for ns in platform.of_kind("Namespace")
            if ns["metadata"]["name"] not in existing}


@pytest.fixture(scope="session")
def namespaces(platform: Rendered, created_namespaces: Dict[str, Dict[str, str]]) -> Dict[str, Dict[str, str]]:
    """Every namespace the platform firewalls: those it creates, and existing ones that hold
    platform pods and get its default-deny (kube-system; namespaces_firewalled)."""
    firewalled = {p["metadata"]["namespace"] for p in platform.of_kind("NetworkPolicy")
                  if p["metadata"]["name"] == "default-deny"}
    return dict({name: {} for name in sorted(firewalled)}, **created_namespaces)


@pytest.fixture(scope="session")
def policies(platform: Rendered) -> List[Obj]:
    return platform.of_kind("NetworkPolicy")


@pytest.fixture(scope="session")
def workloads(platform: Rendered) -> List[Obj]:
    return platform.of_kind(*WORKLOAD_KINDS)


@pytest.fixture(scope="session")
def matrix() -> Matrix:
    return Matrix.from_defaults()


@pytest.fixture(scope="session")
def analysis(matrix: Matrix, namespaces: Dict[str, Dict[str, str]], workloads: List[Obj]) -> Analysis:
    return Analysis.build(matrix, namespaces, workloads)
