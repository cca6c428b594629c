"""A controller-side role used on its own, outside site.yml, still checks its inputs first.

Each role's tasks/main.yml skips its preflight include when playbooks/preflight.yml (or the stage's
own check play) already ran those checks in this run (`__preflight_checked_roles`). These tests run
each role from a playbook of their own, without any preflight play: a value the argument specs
accept but the role's own preflight refuses must stop the role in one of its tasks/preflight.yml
tasks, naming the variable, before anything is rendered; and `--tags <role>_preflight` with the
defaults must run those checks and pass."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml

from project import ROLES, run_playbook

pytestmark = pytest.mark.slow

def matrix_with_an_unknown_endpoint() -> Dict[str, Any]:
    matrix = yaml.safe_load((ROLES / "network_policies" / "defaults" / "main.yml").read_text())["network_policies_matrix"]
    matrix["flows"].append({"from": "wordpress", "to": "nowhere", "ports": [80], "reason": "test"})
    return {"network_policies_matrix": matrix}


# role -> (a value its argument specs accept and its preflight refuses, the variable named)
BAD: Dict[str, tuple] = {
    "namespaces": ({"namespaces_pod_security_version": "1.36"}, "namespaces_pod_security_version"),
    "network_policies": (matrix_with_an_unknown_endpoint(), "network_policies_matrix"),
    "pod_security": ({"pod_security_namespaces": ["Not_A_Label"]}, "pod_security_namespaces"),
    "calico": ({"calico_version": "v3.31.7"}, "calico_version"),
    "storage": ({"storage_pd_csi_version": "v1.17.0"}, "storage_pd_csi_version"),
    "gateway": ({"gateway_domain": "Not_A_Domain"}, "gateway_domain"),
    "metrics_server": ({"metrics_server_version": "latest"}, "metrics_server_version"),
    "logging": ({"logging_kibana_version": "9.3.4"}, "logging_kibana_version"),
    "monitoring": ({"monitoring_prometheus_version": "latest"}, "monitoring_prometheus_version"),
    "postgresql": ({"postgresql_instances": 2}, "postgresql_instances"),
    "mariadb_galera": ({"mariadb_galera_replicas": 4}, "mariadb_galera_replicas"),
    "wordpress": ({"wordpress_replicas": 1}, "wordpress_replicas"),
    "jira": ({"jira_cr_project_key": "cr"}, "jira_cr_project_key"),
    "confluence": ({"confluence_space_key": "plat"}, "confluence_space_key"),
}


def preflight_task_names(role: str) -> List[str]:
    tasks = yaml.safe_load((ROLES / role / "tasks" / "preflight.yml").read_text())
    return [task["name"] for task in tasks]


def run_role_alone(tmp_path: Path, role: str, extra: Dict[str, Any], tags: List[str]) -> tuple:
    """The role from a playbook of its own (no playbooks/preflight.yml, no stage play)."""
    playbook = tmp_path / "role-alone.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "The %s role on its own" % role, "hosts": "localhost", "connection": "local", "gather_facts": False,
        "roles": ["orchestrate.platform.%s" % role],
    }], sort_keys=False))
    target = tmp_path / "manifests"
    result = run_playbook([str(playbook), *tags, "-e", "platform_render_dir=%s" % target, "-e", json.dumps(extra)],
                          build_dir=tmp_path / "build")
    return result, result.stdout + result.stderr, target


def tasks_that_ran(output: str, role: str) -> List[str]:
    return re.findall(r"^TASK \[orchestrate\.platform\.%s : (.*?)\] \*+$" % role, output, re.M)


def test_every_role_with_a_skippable_preflight_is_covered() -> None:
    """Every role whose tasks/main.yml skips its checks once preflight ran them has a case here."""
    skippable = {path.parent.parent.name for path in ROLES.glob("*/tasks/main.yml")
                 if "__preflight_checked_roles" in path.read_text()}
    gce = {role for role in skippable if role.startswith("gce_")}
    assert skippable - gce == set(BAD), sorted((skippable - gce) ^ set(BAD))


@pytest.mark.parametrize("role", sorted(BAD))
def test_a_role_alone_refuses_a_bad_value_in_its_own_preflight(tmp_path: Path, role: str) -> None:
    extra, named = BAD[role]
    result, output, target = run_role_alone(tmp_path, role, extra, [])
    assert result.returncode != 0, output[-3000:]
    # The last role task shown before the failure is one of its preflight checks, and it names the variable.
    failed = re.search(r"^(fatal|failed): ", output, re.M)
    assert failed, output[-3000:]
    before = output[:failed.start()]
    failure = output[before.rindex("TASK ["):]
    ran = tasks_that_ran(before, role)
    assert ran and ran[-1] in preflight_task_names(role), "did not stop in the role's preflight: %s" % ran[-3:]
    assert named in failure, output[-3000:]
    assert not target.exists(), "something was rendered although the role's preflight failed"


@pytest.mark.parametrize("role", sorted(BAD))
def test_a_role_alone_runs_its_preflight_with_the_defaults(tmp_path: Path, role: str) -> None:
    result, output, target = run_role_alone(tmp_path, role, {}, ["--tags", "%s_preflight" % role])
    assert result.returncode == 0, output[-3000:]
    ran = set(tasks_that_ran(output, role))
    assert ran & set(preflight_task_names(role)), "the role's preflight did not run on its own: %s" % sorted(ran)
    assert not target.exists()
