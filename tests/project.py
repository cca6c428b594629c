"""Shared test helpers: where the project is, and how to run ansible-playbook from it.

Imported by tests as `project` (tests/ is on pytest's pythonpath)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
ROLES = ROOT / "roles"
BIN = Path(sys.executable).parent


def ansible_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    env = dict(os.environ)
    env["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    env["PATH"] = "%s:%s" % (BIN, env.get("PATH", ""))
    env.setdefault("ANSIBLE_NOCOLOR", "1")
    env.setdefault("ANSIBLE_FORCE_COLOR", "0")
    env.update(extra or {})
    return env


WATCHED_BUILD = ("downloads", "secrets", "kubeconfig", "manifests")


def checkout_build_state() -> Dict[str, float]:
    """Every file (and its mtime) a playbook run could write into the checkout's build/."""
    state: Dict[str, float] = {}
    for name in WATCHED_BUILD:
        path = ROOT / "build" / name
        items = [path, *path.rglob("*")] if path.is_dir() else [path] if path.exists() else []
        state.update({str(item.relative_to(ROOT)): item.stat().st_mtime for item in items})
    return state


def build_dir_args(build_dir: Optional[Path] = None) -> List[str]:
    """Extra vars that keep a run's downloads, secrets, kubeconfig and manifests out of the checkout,
    and every run offline.

    Without `build_dir` every run gets a fresh directory (under pytest's temporary directory when
    tests/conftest.py set TEST_BUILD_ROOT), so no test reads what an earlier run left behind.
    Later `-e` options of the caller (e.g. platform_render_dir) still win."""
    if build_dir is None:
        root = os.environ.get("TEST_BUILD_ROOT")
        if root:
            os.makedirs(root, exist_ok=True)
        build_dir = Path(tempfile.mkdtemp(prefix="build-", dir=root or None))
    # No test fetches upstream files (nothing leaves the machine); tests that check the
    # probe pass platform_upstream_fetch=auto with a loopback platform_upstream_probe_url.
    return ["-e", "platform_build_dir=%s" % build_dir, "-e", "platform_render_dir=%s" % (build_dir / "manifests"),
            "-e", "platform_upstream_fetch=no"]


def run_playbook(args: List[str], extra_env: Optional[Dict[str, str]] = None, timeout: int = 600,
                 build_dir: Optional[Path] = None) -> subprocess.CompletedProcess:
    """Run ansible-playbook from the project root; output captured as text.

    Everything the run writes goes under `build_dir` (a fresh temporary directory by default),
    never into the checkout's build/."""
    return subprocess.run(
        [str(BIN / "ansible-playbook"), *build_dir_args(build_dir), *args],
        cwd=ROOT,
        env=ansible_env(extra_env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def render_stage(tmp_path: Path, playbook: str, extra: Dict[str, Any], tags: Optional[str] = None,
                 build_dir: Optional[Path] = None, timeout: int = 300) -> Tuple[subprocess.CompletedProcess, Path]:
    """Run playbooks/<playbook> in render mode with `extra` variables (and `--tags` when given),
    rendering into tmp_path/manifests; returns the run and that directory."""
    target = tmp_path / "manifests"
    args = ["playbooks/" + playbook, *(["--tags", tags] if tags else []),
            "-e", "platform_render_dir=%s" % target, "-e", json.dumps(extra)]
    return run_playbook(args, build_dir=build_dir, timeout=timeout), target


def stopped_before_rendering(result: subprocess.CompletedProcess, target: Path) -> str:
    """Assert that a run failed without rendering anything; returns its whole output."""
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert not target.exists(), "something was rendered although preflight failed"
    return output


def gce_inventory_backup_flow(tmp_path: Path, flow: str, target: str, bucket: Optional[str]) -> str:
    """How ansible evaluates the optional network flow `flow` and a role's backup `target` default
    from inventories/gce's own group_vars (a static copy: the dynamic inventory would call the
    Compute API), with `platform_backup_bucket` unset (None) or set: `flow=<bool> target=<value>`."""
    inventory = tmp_path / "inventory"
    shutil.copytree(ROOT / "inventories/gce/group_vars", inventory / "group_vars")
    (inventory / "hosts.yml").write_text("all:\n  hosts:\n    localhost:\n      ansible_connection: local\n")
    extra: Dict[str, Any] = {"target": target}
    if bucket is not None:
        extra["platform_backup_bucket"] = bucket
    message = "flow={{ network_policies_optional_flows.%s | bool }} target={{ target }}" % flow
    result = subprocess.run(
        [str(BIN / "ansible"), "localhost", "-i", str(inventory), "-m", "ansible.builtin.debug", "-e", json.dumps(extra),
         "-a", json.dumps({"msg": message})],
        cwd=ROOT, env=ansible_env(), capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout
