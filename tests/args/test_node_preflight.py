"""Node roles' inputs are checked on the nodes by playbooks/preflight.yml, before any stage runs.

The "node" here is this machine through a local connection: preflight only reads facts and
asserts, so it changes nothing on it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from project import run_playbook

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def inventory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    node = {"node-1": {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}}
    hosts = {
        "all": {
            "hosts": {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}},
            "children": {"k8s_cluster": {"children": {"control_plane": {"hosts": node}, "workers": {"hosts": {}}}}},
        }
    }
    path = tmp_path_factory.mktemp("inventory") / "hosts.yml"
    path.write_text(yaml.safe_dump(hosts))
    return path


def test_valid_node_inputs_pass(inventory: Path) -> None:
    result = run_playbook(["playbooks/preflight.yml", "-i", str(inventory)])
    assert result.returncode == 0, result.stdout[-3000:]
    assert "node-1" in result.stdout


@pytest.mark.parametrize("extra, named", [
    ("containerd_install_method=bogus", "containerd_install_method"),
    ('{"node_prereqs_kernel_modules": {"overlay": 1}}', "node_prereqs_kernel_modules"),
    ("kube_packages_version=latest", "kube_packages_version"),
    ("node_prereqs_vm_max_map_count=65530", "node_prereqs_vm_max_map_count"),
])
def test_bad_node_inputs_stop_the_run(inventory: Path, extra: str, named: str) -> None:
    result = run_playbook(["playbooks/preflight.yml", "-i", str(inventory), "-e", extra])
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert named in output
