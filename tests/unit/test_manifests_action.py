"""The action plugin end to end through ansible-playbook, against the in-memory API served on loopback.

Covers both ways the engine runs: in the action plugin's own process (connection local, the
usual case) and as a module shipped to the host (`execution: module`), with the same results;
and that a later task of the same run reuses discovery instead of reading it again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from fake_api import FakeApi, served as serve
from project import ROOT, run_playbook

pytestmark = pytest.mark.slow
HERE = Path(__file__).resolve().parent
PROBE_ROLES = ROOT / "tests" / "live" / "roles"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Tuple[FakeApi, Path]]:
    api = FakeApi()
    api.store[("", "Namespace", "", "kube-system")] = {
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system", "managedFields": [], "resourceVersion": "1"},
    }
    with serve(api, tmp_path) as kubeconfig:
        yield api, kubeconfig


def play(kubeconfig: Path, playbook: Path, *extra: str, check: bool = False) -> List[Dict[str, Any]]:
    """The results of the engine's tasks in one ansible-playbook run (json callback)."""
    args = [str(playbook), "-e", "platform_mode=apply", "-e", "platform_wait=false",
            "-e", "platform_kubeconfig=%s" % kubeconfig, "-e", "engine_probe_namespace=probe"]
    for item in extra:
        args += ["-e", item]
    if check:
        args += ["--check", "--diff"]
    result = run_playbook(args, extra_env={"ANSIBLE_ROLES_PATH": str(PROBE_ROLES),
                                           "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"})
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    report = json.loads(result.stdout)
    return [task["hosts"]["localhost"] for one in report["plays"] for task in one["tasks"]
            if "orchestrate.platform.manifests" in json.dumps(task["task"].get("name", "")) or "summary" in task["hosts"]["localhost"]]


def test_in_process_and_module_paths_apply_the_same_way(served: Tuple[FakeApi, Path]) -> None:
    api, kubeconfig = served
    probe = ROOT / "tests" / "live" / "engine.yml"
    [created] = play(kubeconfig, probe)
    assert created["execution"] == "controller" and created["changed"]
    assert created["summary"] == {"created": 5}
    assert api.get("", "ConfigMap", "probe", "settings") is not None

    api.log.clear()
    [again] = play(kubeconfig, probe)
    assert again["execution"] == "controller" and not again["changed"]
    assert api.writes() == []

    [module] = play(kubeconfig, probe, "platform_engine_execution=module")
    assert module["execution"] == "module" and not module["changed"]
    assert module["summary"] == again["summary"] == {"unchanged": 5}

    [checked] = play(kubeconfig, probe, "engine_probe_value=two", check=True)
    assert checked["execution"] == "controller" and checked["changed"]
    assert checked["changes"] == ["configured ConfigMap/probe/settings"]
    stored = api.get("", "ConfigMap", "probe", "settings")
    assert stored is not None and stored["data"] == {"value": "one"}

    [changed] = play(kubeconfig, probe, "engine_probe_value=two", "platform_engine_execution=module")
    assert changed["execution"] == "module" and changed["changes"] == ["configured ConfigMap/probe/settings"]


def test_a_later_task_of_the_run_reuses_discovery(served: Tuple[FakeApi, Path]) -> None:
    api, kubeconfig = served
    first, second = play(kubeconfig, ROOT / "tests" / "live" / "engine_twice.yml")
    assert first["execution"] == second["execution"] == "controller"
    assert first["changed"] and not second["changed"]
    discovery = [path for method, path in api.log if path in ("/api", "/apis")]
    assert sorted(discovery) == ["/api", "/apis"]


def test_a_failure_in_process_names_the_object(served: Tuple[FakeApi, Path]) -> None:
    api, kubeconfig = served
    api.resources.pop(("apps", "v1"))
    result = run_playbook([str(ROOT / "tests" / "live" / "engine.yml"), "-e", "platform_mode=apply", "-e", "platform_wait=false",
                           "-e", "platform_kubeconfig=%s" % kubeconfig, "-e", "engine_probe_namespace=probe"],
                          extra_env={"ANSIBLE_ROLES_PATH": str(PROBE_ROLES)})
    assert result.returncode != 0
    assert "Deployment/probe/web: the API server does not serve apps/v1 Deployment" in result.stdout
