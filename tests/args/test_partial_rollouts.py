"""Partial rollouts (issue 13, point 2): every stage and role tag that `--list-tags` shows,
run alone, passes preflight and runs only the roles it names.

The tags come from `ansible-playbook site.yml --list-tags`, so a new role's tag is covered
without editing this file; which roles a tag should run comes from the README's stages table.
- default inventory (render-only): a real run of site.yml --tags T;
- inventories/gce and inventories/example-static: a real run of playbooks/preflight.yml --tags T
  (it contacts no node unless T selects a node role), and --list-tasks of site.yml --tags T."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Dict, List, Set

import pytest

from project import BIN, ROOT, ansible_env, run_playbook

pytestmark = pytest.mark.slow

def site_roles() -> List[str]:
    """The roles site.yml's stage playbooks run (others, such as ha_test, have playbooks of their own)."""
    stage_playbooks = re.findall(r"import_playbook: (\S+)", (ROOT / "site.yml").read_text())
    text = "".join((ROOT / path).read_text() for path in stage_playbooks)
    return sorted(set(re.findall(r"orchestrate\.platform\.(\w+)", text)) & {p.name for p in (ROOT / "roles").iterdir()})


ROLES = site_roles()
NODE_ROLES = {"node_prereqs", "containerd", "kube_packages", "kubeadm_control_plane", "kubeadm_join"}
# Node roles whose preflight runs on the nodes (the kubeadm roles' inputs are checked on the controller).
NODE_CHECKED_ROLES = {"node_prereqs", "containerd", "kube_packages"}
# Roles a selected role needs on GCE: the API and gateway addresses come from gce_loadbalancer.
HELPERS = {"gce": {"kubeadm_control_plane": {"gce_loadbalancer"}, "gateway": {"gce_loadbalancer"}}}
GCE_SETTINGS = {
    "gce_project": "orchestrate-test-0000",
    "gce_network_admin_cidrs": ["198.51.100.7/32"],
    "gce_instances_ssh_public_keys": ["debian:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleKeyForTests test"],
}


def readme_stages() -> Dict[str, Set[str]]:
    """stage tag -> roles, from the README's "Stages and tags" table (and "also tagged" notes)."""
    stages: Dict[str, Set[str]] = {}
    for line in (ROOT / "README.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 5 or not re.fullmatch(r"\d+", cells[0]):
            continue
        stage = cells[1].strip("`")
        stages.setdefault(stage, set()).update(name for name in re.findall(r"`(\w+)`", cells[3]) if name in ROLES)
        for role, also in re.findall(r"`(\w+)` \(also tagged `(\w+)`\)", cells[3]):
            stages.setdefault(also, set()).add(role)
    return stages


STAGES = readme_stages()
INFRA_ROLES = STAGES.get("infra", set())


def listed_tags() -> List[str]:
    result = subprocess.run([str(BIN / "ansible-playbook"), "site.yml", "--list-tags"], cwd=ROOT, env=ansible_env(),
                            capture_output=True, text=True, timeout=120, check=True)
    tags: Set[str] = set()
    for found in re.findall(r"TAGS: \[([^\]]*)\]", result.stdout):
        tags.update(tag.strip() for tag in found.split(",") if tag.strip())
    return sorted(tags)


def expected_roles(tag: str) -> Set[str]:
    if tag in STAGES:
        return set(STAGES[tag])
    if tag.endswith("_preflight") and tag[: -len("_preflight")] in STAGES:
        return set(STAGES[tag[: -len("_preflight")]])
    return {tag} if tag in ROLES else set()


def stage_and_role_tags() -> List[str]:
    tags = [tag for tag in listed_tags() if expected_roles(tag)]
    assert {"infra", "cluster", "security", "platform", "apps", "wordpress"} <= set(tags), tags
    assert set(ROLES) <= set(tags), "roles without their own tag: %s" % sorted(set(ROLES) - set(tags))
    return tags


TAGS = stage_and_role_tags()


def test_the_stages_table_covers_every_role() -> None:
    assert {role for roles in STAGES.values() for role in roles} == set(ROLES)


def roles_that_ran(output: str) -> Set[str]:
    """Roles with a task that ran (skipped tasks are not displayed: ANSIBLE_DISPLAY_SKIPPED_HOSTS=false)."""
    return set(re.findall(r"^TASK \[orchestrate\.platform\.(\w+) : ", output, re.M))


@pytest.mark.parametrize("tag", TAGS)
def test_tag_alone_on_the_default_inventory(tag: str) -> None:
    result = run_playbook(["site.yml", "--tags", tag], extra_env={"ANSIBLE_DISPLAY_SKIPPED_HOSTS": "false"})
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    # The default inventory has no nodes and no cloud: only the controller-side roles run, and the
    # kubeadm roles' controller-side checks.
    wanted = expected_roles(tag) - NODE_CHECKED_ROLES - INFRA_ROLES
    assert roles_that_ran(output) == wanted, output[-3000:]
    assert "UNREACHABLE" not in output


def listed_tasks(output: str) -> List[tuple]:
    """(role, tags) of every role task `--list-tasks` shows, with its effective tags."""
    return [(role, {item.strip() for item in tags.split(",")})
            for role, tags in re.findall(r"^\s+orchestrate\.platform\.(\w+) : .*\tTAGS: \[([^\]]*)\]$", output, re.M)]


def gce_env(tmp_path: Path) -> Dict[str, str]:
    return {"GCP_AUTH_KIND": "application", "GOOGLE_APPLICATION_CREDENTIALS": str(tmp_path / "none.json"),
            "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"), "GCE_METADATA_HOST": "127.0.0.1:9",
            "ANSIBLE_DISPLAY_SKIPPED_HOSTS": "false"}


def static_settings(tmp_path: Path) -> Dict[str, str]:
    """What a user of example-static adds before applying the platform stage (the GCE inventory's
    infra stage makes these): the PD CSI controller's key file and the project of its disks."""
    key = tmp_path / "pd-csi-key.json"
    key.write_text('{"type": "service_account"}')
    return {"platform_pd_csi_key_file": str(key), "gce_project": "orchestrate-test-0000"}


INVENTORIES = {"gce": ("inventories/gce", ["-e", json.dumps(GCE_SETTINGS)]), "static": ("inventories/example-static", [])}


@pytest.fixture(scope="module")
def task_listing(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, List[tuple]]:
    """`site.yml --list-tasks` on each inventory, once: Ansible selects a task for `--tags T` when T
    or `always` is among the effective tags it prints, so one listing answers every tag."""
    listing = {}
    for name, (path, extra) in INVENTORIES.items():
        result = run_playbook(["site.yml", "-i", path, *extra, "--list-tasks"], extra_env=gce_env(tmp_path_factory.mktemp(name)))
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        listing[name] = listed_tasks(result.stdout)
    return listing


@pytest.mark.parametrize("inventory", sorted(INVENTORIES))
@pytest.mark.parametrize("tag", TAGS)
def test_tag_alone_lists_only_its_roles(task_listing: Dict[str, List[tuple]], inventory: str, tag: str) -> None:
    # Always-tagged tasks (the roles' argument validation, fact gathering) carry `when` conditions
    # on the selected roles that a listing does not evaluate: the real runs check those.
    listed = {role for role, tags in task_listing[inventory] if tag in tags and "always" not in tags}
    # A <stage>_preflight tag runs the checks (dynamic includes, listed without their role) and no role.
    wanted = set() if tag.endswith("_preflight") else expected_roles(tag)
    helpers = set().union(*[HELPERS.get(inventory, {}).get(role, set()) for role in wanted])
    assert wanted <= listed, "%s: roles not listed: %s" % (tag, sorted(wanted - listed))
    assert listed <= wanted | helpers, "%s: runs roles it does not name: %s" % (tag, sorted(listed - wanted - helpers))


@pytest.mark.parametrize("inventory", sorted(INVENTORIES))
@pytest.mark.parametrize("tag", TAGS)
def test_tag_alone_passes_preflight(tmp_path: Path, inventory: str, tag: str) -> None:
    """The real preflight of the tag's roles, in apply mode; nodes are contacted only for node roles
    (example-static's nodes are documentation addresses: for those tags --list-tasks is the check)."""
    path, extra = INVENTORIES[inventory]
    if inventory == "static" and expected_roles(tag) & NODE_CHECKED_ROLES:
        pytest.skip("%s selects a node role: example-static's nodes (192.0.2.0/24) are not reachable here" % tag)
    if inventory == "static":
        extra = [*extra, "-e", json.dumps(static_settings(tmp_path))]
    result = run_playbook(["playbooks/preflight.yml", "-i", path, *extra, "--tags", tag], extra_env=gce_env(tmp_path))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "UNREACHABLE" not in output
    ran = roles_that_ran(output)
    assert ran <= expected_roles(tag), "%s checked roles it does not run: %s" % (tag, sorted(ran - expected_roles(tag)))
