"""Gates and ordering of the cluster stage, run offline on this machine through a local
connection with stand-in commands on PATH (nothing is installed or changed here):

- kube_packages refuses to change the installed Kubernetes version outside playbooks/upgrade.yml;
- containerd decides (and refuses 1.x) before it installs anything;
- playbooks/cluster.yml puts the API load-balancer steps around the control-plane joins and
  removes the bootstrap tokens after every join.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import List

import pytest
import yaml

from project import ROOT, run_playbook

pytestmark = pytest.mark.slow

LOCAL = {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}


def write_inventory(tmp_path: Path) -> Path:
    hosts = {"all": {"hosts": {"localhost": dict(LOCAL)}, "children": {"k8s_cluster": {"children": {
        "control_plane": {"hosts": {"cp-1": dict(LOCAL)}}, "workers": {"hosts": {"worker-1": dict(LOCAL)}}}}}}}
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(hosts))
    return path


def stand_in(tmp_path: Path, name: str, script: str) -> Path:
    """A directory holding one stand-in command, to put first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)
    return bin_dir


def run_tasks(tmp_path: Path, role: str, tasks_from: str, path_dir: Path, *extra: str):
    playbook = tmp_path / "playbook.yml"
    playbook.write_text(yaml.safe_dump([{"name": "Gate", "hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "Run %s of %s" % (tasks_from, role),
         "ansible.builtin.include_role": {"name": "orchestrate.platform.%s" % role, "tasks_from": tasks_from}}]}]))
    env = {"PATH": "%s:%s" % (path_dir, __import__("os").environ.get("PATH", ""))}
    result = run_playbook([str(playbook), "-i", str(write_inventory(tmp_path)), *extra], extra_env=env)
    return result, result.stdout + result.stderr


DPKG = """printf 'kubeadm ii 1.36.2-1.1\\nkubelet ii 1.36.2-1.1\\nkubectl rc 1.35.0-1.1\\n'\nexit 0\n"""


def test_a_normal_run_refuses_to_change_the_installed_version(tmp_path: Path) -> None:
    result, output = run_tasks(tmp_path, "kube_packages", "version_gate", stand_in(tmp_path, "dpkg-query", DPKG),
                               "-e", "platform_kube_version=1.36.4")
    assert result.returncode != 0, output[-3000:]
    assert "this node has kubeadm 1.36.2-1.1, kubelet 1.36.2-1.1 installed" in output
    assert "run playbooks/upgrade.yml" in output


# What dpkg-query prints after the role held the packages (`hi`: hold, installed).
DPKG_HELD = """printf 'kubeadm hi  1.36.4-1.1\\nkubelet hi  1.36.4-1.1\\nkubectl hi  1.36.4-1.1\\n'\nexit 0\n"""


def test_held_packages_of_another_version_are_refused(tmp_path: Path) -> None:
    """The role holds what it installed: a held package still counts as installed at its version."""
    result, output = run_tasks(tmp_path, "kube_packages", "version_gate", stand_in(tmp_path, "dpkg-query", DPKG_HELD),
                               "-e", "platform_kube_version=1.36.5")
    assert result.returncode != 0, output[-3000:]
    assert "this node has kubeadm 1.36.4-1.1, kubelet 1.36.4-1.1, kubectl 1.36.4-1.1 installed" in output
    result, output = run_tasks(tmp_path, "kube_packages", "version_gate", stand_in(tmp_path, "dpkg-query", DPKG_HELD),
                               "-e", "platform_kube_version=1.36.4")
    assert result.returncode == 0, output[-3000:]


def test_a_downgrade_is_refused_the_same_way(tmp_path: Path) -> None:
    result, output = run_tasks(tmp_path, "kube_packages", "version_gate", stand_in(tmp_path, "dpkg-query", DPKG),
                               "-e", "platform_kube_version=1.36.1")
    assert result.returncode != 0 and "run playbooks/upgrade.yml" in output, output[-3000:]


def test_the_installed_version_and_a_new_node_pass(tmp_path: Path) -> None:
    result, output = run_tasks(tmp_path, "kube_packages", "version_gate", stand_in(tmp_path, "dpkg-query", DPKG),
                               "-e", "platform_kube_version=1.36.2")
    assert result.returncode == 0, output[-3000:]
    fresh = stand_in(tmp_path, "dpkg-query", "echo 'dpkg-query: no packages found matching kubeadm' >&2\nexit 1\n")
    result, output = run_tasks(tmp_path, "kube_packages", "version_gate", fresh, "-e", "platform_kube_version=1.36.4")
    assert result.returncode == 0, output[-3000:]


def test_containerd_package_method_refuses_1x_before_installing(tmp_path: Path) -> None:
    """Debian 12 would install containerd 1.6: the gate must stop the run before apt installs it."""
    path_dir = stand_in(tmp_path, "apt-cache", "printf 'containerd:\\n  Installed: (none)\\n  Candidate: 1.6.20~ds1-1+b1\\n'\n")
    stand_in(tmp_path, "containerd", "exit 127\n")
    result, output = run_tasks(tmp_path, "containerd", "version", path_dir,
                               "-e", "containerd_install_method=package", "--skip-tags", "never", "--check")
    assert result.returncode != 0, output[-3000:]
    assert "containerd 1.6.20 is what containerd_install_method=package would install, and nothing was installed" in output
    tasks = listed_tasks(ROOT / "roles/containerd/tasks/main.yml")
    assert tasks.index("Find out which containerd version will run, and refuse 1.x") < tasks.index("Install containerd and runc from the distribution")


def listed_tasks(path: Path) -> List[str]:
    return [task["name"] for task in yaml.safe_load(path.read_text())]


def test_cluster_stage_order(tmp_path: Path) -> None:
    """API backends are decided before the control plane is built and again after its joins; the
    serving certificates are approved and the bootstrap tokens deleted after every join."""
    result = run_playbook(["playbooks/cluster.yml", "-i", str(write_inventory(tmp_path)), "--list-tasks"])
    assert result.returncode == 0, result.stdout + result.stderr
    plays = re.findall(r"^\s*play #\d+ \([^)]*\): (.+?)\s+TAGS:", result.stdout, re.M)
    expected = [
        "Cluster stage - which control-plane nodes may be API backends before the joins",
        "Cluster stage - set the API load balancer's backends",
        "Cluster stage - HA control plane",
        "Cluster stage - which control-plane nodes may be API backends after the joins",
        "Cluster stage - set the API load balancer's backends",
        "Cluster stage - workers",
        "Cluster stage - kubelet serving certificates",
        "Cluster stage - remove the bootstrap tokens of the init and the joins",
    ]
    positions = [plays.index(name, (plays.index(expected[i - 1]) + 1) if i else 0) for i, name in enumerate(expected)]
    assert positions == sorted(positions), plays
