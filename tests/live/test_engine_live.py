"""The manifest engine against a real API server (KUBECONFIG): create, no-op, change, prune, check mode.

Skipped without KUBECONFIG. There may be no kubelet (pods never run), so waits are off here;
readiness waiting is covered by the unit tests.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from project import run_playbook

HERE = Path(__file__).resolve().parent
pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not os.environ.get("KUBECONFIG"), reason="KUBECONFIG is not set: no cluster to apply to"),
]


def play(namespace: str, *extra: str, check: bool = False) -> Dict[str, int]:
    args = [str(HERE / "engine.yml"), "-e", "platform_mode=apply", "-e", "platform_wait=false",
            "-e", "platform_kubeconfig=%s" % os.environ["KUBECONFIG"], "-e", "engine_probe_namespace=%s" % namespace]
    for item in extra:
        args += ["-e", item]
    if check:
        args += ["--check", "--diff"]
    result = run_playbook(args, extra_env={"ANSIBLE_ROLES_PATH": str(HERE / "roles")})
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    match = re.search(r"localhost\s+:\s+ok=(\d+)\s+changed=(\d+)", result.stdout)
    assert match, result.stdout[-2000:]
    return {"ok": int(match.group(1)), "changed": int(match.group(2)), "stdout": result.stdout}  # type: ignore[dict-item]


@pytest.fixture(scope="module")
def core(api: Any) -> Any:
    return api.CoreV1Api()


@pytest.fixture(scope="module")
def namespace(core: Any) -> Iterator[str]:
    name = "engine-probe-%s" % uuid.uuid4().hex[:8]
    yield name
    core.delete_namespace(name)
    core.delete_namespaced_config_map("orchestrate.platform.engine-probe", "kube-system")  # the role's ApplySet parent


def configmap(core: Any, namespace: str, name: str) -> Any:
    from kubernetes.client.exceptions import ApiException

    try:
        return core.read_namespaced_config_map(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def test_lifecycle(core: Any, namespace: str) -> None:
    assert play(namespace)["changed"] == 1
    created = configmap(core, namespace, "settings")
    assert created.data == {"value": "one"}
    assert created.metadata.labels["app.kubernetes.io/managed-by"] == "orchestrate.platform"

    # No-op re-run: nothing reported, nothing written (controllers meanwhile wrote status).
    assert play(namespace)["changed"] == 0
    assert configmap(core, namespace, "settings").metadata.resource_version == created.metadata.resource_version

    # Check mode with a change: reported with a diff, not written.
    checked = play(namespace, "engine_probe_value=two", check=True)
    assert checked["changed"] == 1 and "+  value: two" in str(checked["stdout"]).replace("'", "")
    assert configmap(core, namespace, "settings").data == {"value": "one"}

    # A real change is applied and reported.
    assert play(namespace, "engine_probe_value=two")["changed"] == 1
    assert configmap(core, namespace, "settings").data == {"value": "two"}

    # Dropped objects are pruned, except the PVC.
    assert play(namespace, "engine_probe_value=two", "engine_probe_extra=false")["changed"] == 1
    assert configmap(core, namespace, "extra") is None
    assert core.read_namespaced_persistent_volume_claim("data", namespace) is not None
    assert play(namespace, "engine_probe_value=two", "engine_probe_extra=false")["changed"] == 0


# -- a Deployment scaled by a HorizontalPodAutoscaler -------------------------------------------------


@pytest.fixture
def own_namespace(core: Any) -> Iterator[str]:
    """A namespace that also holds the role's ApplySet parent, so each test has its own set."""
    kubernetes = pytest.importorskip("kubernetes")
    name = "engine-hpa-%s" % uuid.uuid4().hex[:8]
    core.create_namespace(kubernetes.client.V1Namespace(metadata=kubernetes.client.V1ObjectMeta(name=name)))
    yield name
    core.delete_namespace(name)


def play_in(namespace: str, *extra: str) -> Dict[str, int]:
    return play(namespace, "platform_applyset_namespace=%s" % namespace, "engine_probe_hpa=true", *extra)


def deployment(namespace: str) -> Any:
    kubernetes = pytest.importorskip("kubernetes")
    return kubernetes.client.AppsV1Api().read_namespaced_deployment("web", namespace)


def replica_owners(namespace: str) -> List[str]:
    entries = deployment(namespace).metadata.managed_fields or []
    return sorted(e.manager for e in entries if "f:replicas" in ((e.fields_v1 or {}).get("f:spec") or {}))


def test_a_scale_written_by_another_manager_survives_a_rerun(own_namespace: str) -> None:
    kubernetes = pytest.importorskip("kubernetes")
    assert play_in(own_namespace)["changed"] == 1
    assert deployment(own_namespace).spec.replicas == 2
    # What the autoscaler does: write spec.replicas through the scale subresource (an Update).
    kubernetes.client.AppsV1Api().patch_namespaced_deployment_scale(
        "web", own_namespace, {"spec": {"replicas": 4}}, field_manager="hpa-simulated")
    assert replica_owners(own_namespace) == ["hpa-simulated"]
    assert play_in(own_namespace)["changed"] == 0
    assert deployment(own_namespace).spec.replicas == 4


def test_replicas_are_handed_over_without_a_reset(own_namespace: str) -> None:
    assert play_in(own_namespace)["changed"] == 1
    assert "orchestrate.platform" in replica_owners(own_namespace)
    assert play_in(own_namespace)["changed"] == 0
    assert deployment(own_namespace).spec.replicas == 2
    assert "orchestrate.platform" not in replica_owners(own_namespace)
    assert play_in(own_namespace)["changed"] == 0


def test_the_replicas_a_real_autoscaler_set_survive_a_rerun(own_namespace: str) -> None:
    # Created with 1 replica under an autoscaler whose minimum is 3: the controller-manager's
    # HPA controller raises it to 3 on its next sync (no metrics needed below the minimum).
    assert play_in(own_namespace, "engine_probe_replicas=1", "engine_probe_hpa_min=3")["changed"] == 1
    deadline = time.monotonic() + 120
    while deployment(own_namespace).spec.replicas != 3:
        if time.monotonic() > deadline:
            pytest.fail("the HorizontalPodAutoscaler did not scale the Deployment within 120 s "
                        "(is kube-controller-manager running?)")
        time.sleep(2)
    assert "orchestrate.platform" not in replica_owners(own_namespace)
    assert play_in(own_namespace, "engine_probe_replicas=1", "engine_probe_hpa_min=3")["changed"] == 0
    assert deployment(own_namespace).spec.replicas == 3
