"""The README's test command brings its own system packages (issue 13, point 1).

scripts/install-system-deps.sh runs against stand-in dpkg-query, id, sudo and apt-get on a
PATH made by the test, so what it would install and how it stops are observed without root."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path
from typing import Dict, List

import pytest

from project import ROOT

SCRIPT = ROOT / "scripts" / "install-system-deps.sh"
REAL_TOOLS = ["bash", "grep", "env", "cat"]


def stub_path(tmp_path: Path, uid: int, sudo: bool, installed: List[str]) -> Dict[str, str]:
    """A PATH holding only stand-ins and the few real tools the script needs."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in REAL_TOOLS:
        real = subprocess.run(["bash", "-c", "command -v %s" % tool], capture_output=True, text=True, check=True)
        (bin_dir / tool).symlink_to(real.stdout.strip())
    log = tmp_path / "calls.log"
    stubs = {
        "id": "echo %d" % uid,
        "dpkg-query": 'case " %s " in *" ${@: -1} "*) echo "install ok installed";; *) exit 1;; esac' % " ".join(installed),
        "apt-get": 'echo "apt-get $*" >> %s' % log,
    }
    if sudo:
        stubs["sudo"] = 'echo "sudo $1" >> %s; "$@"' % log
    for name, body in stubs.items():
        (bin_dir / name).write_text("#!%s\n%s\n" % ((bin_dir / "bash").resolve(), body))
        (bin_dir / name).chmod(0o755)
    return {"PATH": str(bin_dir)}


def run(env: Dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str((Path(env["PATH"]) / "bash")), str(SCRIPT), *args], env=env,
                          capture_output=True, text=True, timeout=30, check=False)


def test_without_root_or_sudo_it_stops_at_once_with_the_exact_command(tmp_path: Path) -> None:
    env = stub_path(tmp_path, uid=1000, sudo=False, installed=["make"])
    started = time.monotonic()
    result = run(env, "test")
    assert time.monotonic() - started < 5
    assert result.returncode == 1
    assert "apt-get update && apt-get install -y -qq --no-install-recommends python3-venv" in result.stderr
    assert " make " not in result.stderr.split("--no-install-recommends")[1] + " "
    assert not (tmp_path / "calls.log").exists()


def test_without_root_it_installs_the_missing_packages_through_sudo(tmp_path: Path) -> None:
    env = stub_path(tmp_path, uid=1000, sudo=True, installed=["make", "git", "npm"])
    result = run(env)
    assert result.returncode == 0, result.stderr
    calls = (tmp_path / "calls.log").read_text().splitlines()
    assert calls[0:2] == ["sudo apt-get", "apt-get update -qq"]
    install = calls[-1]
    assert install.startswith("apt-get install -y -qq --no-install-recommends ")
    for pkg in ["podman", "runc", "debootstrap", "python3-venv", "dpkg-dev", "apt-utils", "gnupg"]:
        assert pkg in install.split()
    assert "make" not in install.split() and "git" not in install.split()


@pytest.mark.parametrize("uid", [0, 1000])
def test_nothing_missing_means_no_apt_and_no_sudo(tmp_path: Path, uid: int) -> None:
    everything = ["make", "python3-venv", "ca-certificates"]
    env = stub_path(tmp_path, uid=uid, sudo=False, installed=everything)
    result = run(env, "setup")
    assert result.returncode == 0, result.stderr
    assert "all present" in result.stdout
    assert not (tmp_path / "calls.log").exists()


def readme_commands() -> List[str]:
    """The commands of the README's first code block, without their comments."""
    block = re.search(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert block, "README.md has no sh code block at the top"
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_readme_has_two_commands_and_ci_runs_the_test_command() -> None:
    commands = readme_commands()
    assert len(commands) == 2, commands
    setup, test = commands
    assert setup.startswith("scripts/install-system-deps.sh setup && make setup") and "ansible-playbook site.yml" in setup
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test in ci_lines, ".ci/run must run exactly the README's test command %r" % test
    assert not any("install-system-deps" in line for line in ci_lines if not line.startswith("#"))


def test_make_test_installs_the_system_packages_before_anything_else() -> None:
    # Under `make test` itself (CI) the parent make's MAKELEVEL/MAKEFLAGS would add "Entering directory" lines.
    env = {key: value for key, value in os.environ.items() if key not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    result = subprocess.run(["make", "--no-print-directory", "-n", "test", "VENV=/nonexistent-venv"], cwd=ROOT,
                            capture_output=True, text=True, check=False, env=env)
    first = [line for line in result.stdout.splitlines() if line.strip()][0]
    assert first == "scripts/install-system-deps.sh test", result.stdout[:500]
