"""Shared test helpers: where the project is, and how to run ansible-playbook from it.

Imported by tests as `project` (tests/ is on pytest's pythonpath)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

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


def run_playbook(args: List[str], extra_env: Optional[Dict[str, str]] = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run ansible-playbook from the project root; output captured as text."""
    return subprocess.run(
        [str(BIN / "ansible-playbook"), *args],
        cwd=ROOT,
        env=ansible_env(extra_env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
