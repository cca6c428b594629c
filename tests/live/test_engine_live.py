"""The manifest engine against a real API server (KUBECONFIG): create, no-op, change, prune, check mode.

Skipped without KUBECONFIG. There may be no kubelet (pods never run), so waits are off here;
readiness waiting is covered by the unit tests.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator

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
def core() -> Any:
    kubernetes = pytest.importorskip("kubernetes")
    kubernetes.config.load_kube_config()
    return kubernetes.client.CoreV1Api()


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
