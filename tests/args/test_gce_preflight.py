"""playbooks/infra.yml refuses bad GCE settings in preflight, before any Google Cloud API call.

There are no credentials here, so the google.cloud.gcp_compute inventory in inventories/gce
cannot list instances (a warning; localhost and the empty groups remain) and every API call
would fail. The tests assert that a bad value stops the run with a message naming the
variable and that no task using a google.cloud module started; and that valid settings get
past preflight and fail only at the first API call, for lack of credentials.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Dict, List, Set

import pytest
import yaml

from project import ROOT, run_playbook

pytestmark = pytest.mark.slow

# Settings the shipped group_vars leave to the user, given valid values here.
VALID: Dict[str, object] = {
    "gce_project": "orchestrate-test-0000",
    "gce_network_admin_cidrs": ["198.51.100.7/32"],
    "gce_instances_ssh_public_keys": ["debian:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleKeyForTests test"],
}


@pytest.fixture(autouse=True)
def _no_key_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    # google.cloud treats even an empty GCP_SERVICE_ACCOUNT_FILE as a key file: unset them all.
    for name in ("GCP_SERVICE_ACCOUNT_FILE", "GCP_SERVICE_ACCOUNT_CONTENTS", "GCP_ACCESS_TOKEN", "GCE_CREDENTIALS_FILE_PATH"):
        monkeypatch.delenv(name, raising=False)


def no_credentials(tmp_path: Path) -> Dict[str, str]:
    """An environment in which no Google credentials can be found, whatever the developer has."""
    return {
        "GCP_AUTH_KIND": "application",
        "GOOGLE_APPLICATION_CREDENTIALS": str(tmp_path / "no-such-key.json"),
        "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"),
        "GCE_METADATA_HOST": "127.0.0.1:9",
        "GCE_METADATA_IP": "127.0.0.1:9",
    }


def gcp_task_names() -> Set[str]:
    """Names of the gce roles' tasks that call a google.cloud module or the Google REST APIs."""
    names: Set[str] = set()

    def walk(tasks: List[dict]) -> None:
        for task in tasks or []:
            if "block" in task:
                walk(task["block"])
                continue
            if any(key.startswith("google.cloud.") for key in task) or (
                    "ansible.builtin.uri" in task and "googleapis.com" in json.dumps(task)):
                names.add(task["name"])

    for path in ROOT.glob("roles/gce_*/tasks/*.yml"):
        walk(yaml.safe_load(path.read_text()))
    return names


def started_gcp_tasks(output: str) -> List[str]:
    started = re.findall(r"^TASK \[orchestrate\.platform\.gce_\w+ : (.+?)\] \**$", output, re.M)
    known = gcp_task_names()
    return [name for name in started if name in known]


def run_infra(tmp_path: Path, extra: Dict[str, object]) -> str:
    settings = dict(VALID, **extra)
    result = run_playbook(["playbooks/infra.yml", "-i", "inventories/gce", "-e", json.dumps(settings)],
                          extra_env=no_credentials(tmp_path), timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    return output


def test_the_task_scan_finds_the_api_tasks() -> None:
    names = gcp_task_names()
    assert {"Look up the VPC network", "Create the missing instances", "Look up the load balancers' addresses",
            "Give each service account exactly its project roles", "Create the Filestore instance"} <= names


@pytest.mark.parametrize("extra, named", [
    pytest.param({"gce_project": ""}, "gce_project", id="missing-project"),
    pytest.param({"gce_project": "Bad_Project"}, "gce_project", id="malformed-project"),
    pytest.param({"platform_pod_cidr": "10.244.0.1/16"}, "platform_pod_cidr", id="cidr-host-bits"),
    pytest.param({"platform_node_cidr": "300.0.0.0/24"}, "platform_node_cidr", id="cidr-invalid"),
    pytest.param({"platform_service_cidr": "10.244.0.0/20"}, "platform_service_cidr", id="cidr-overlap"),
    pytest.param({"gce_network_admin_cidrs": ["198.51.100.0/33"]}, "gce_network_admin_cidrs", id="admin-cidr-invalid"),
    pytest.param({"gce_network_admin_cidrs": []}, "gce_network_admin_cidrs", id="admin-cidrs-empty"),
    pytest.param({"gce_network_admin_cidrs": ["0.0.0.0/0"]}, "gce_network_admin_cidrs", id="admin-cidrs-world"),
    pytest.param({"gce_instances_worker_count": 0}, "gce_instances_worker_count", id="workers-below-1"),
    pytest.param({"gce_instances_control_plane_count": 0}, "gce_instances_control_plane_count", id="control-plane-below-1"),
    pytest.param({"gce_instances_control_plane_count": 2}, "gce_instances_control_plane_count", id="control-plane-even"),
    pytest.param({"gce_instances_control_plane_count": "three"}, "gce_instances_control_plane_count", id="count-not-int"),
    pytest.param({"gce_zones": ["europe-west1"]}, "gce_zones", id="zone-without-letter"),
    pytest.param({"gce_zones": ["us-central1-a"]}, "gce_zones", id="zone-of-another-region"),
    pytest.param({"gce_zones": ["europe-west1-b", "europe-west1-b"]}, "gce_zones", id="zone-twice"),
    pytest.param({"platform_calico_encapsulation": "none"}, "platform_calico_encapsulation", id="encapsulation"),
    pytest.param({"gce_instances_ssh_public_keys": ["no-user-key"]}, "gce_instances_ssh_public_keys", id="ssh-key"),
    pytest.param({"platform_rwx_backend": "gluster"}, "gce_rwx_backend", id="rwx-backend"),
    pytest.param({"gce_rwx_filestore_capacity_gb": 100}, "gce_rwx_filestore_capacity_gb", id="filestore-too-small"),
    pytest.param({"gce_rwx_zone": "europe-west1-z"}, "gce_rwx_zone", id="rwx-zone-outside-the-cluster"),
])
def test_bad_setting_stops_infra_before_any_api_call(tmp_path: Path, extra: Dict[str, object], named: str) -> None:
    output = run_infra(tmp_path, extra)
    assert named in output, output[-3000:]
    assert "PLAY [Infra stage - check every GCE setting before any API call]" in output
    assert "PLAY [Infra stage - network, nodes and load balancers on GCE]" not in output, output[-3000:]
    assert started_gcp_tasks(output) == []


def test_valid_settings_pass_preflight_and_fail_only_at_the_first_api_call(tmp_path: Path) -> None:
    output = run_infra(tmp_path, {})
    assert "PLAY [Infra stage - network, nodes and load balancers on GCE]" in output, output[-3000:]
    # Every check passed; the run stopped at the very first google.cloud task, for lack of credentials.
    assert started_gcp_tasks(output) == ["Look up the VPC network"], output[-3000:]
    failure = output[output.index("TASK [orchestrate.platform.gce_network : Look up the VPC network]"):]
    assert re.search(r"no-such-key\.json was not found|credentials were not found", failure), failure[:2000]
    assert re.search(r"^localhost\s+:.*failed=1", output, re.M)


def test_dynamic_inventory_without_credentials_still_gives_localhost(tmp_path: Path) -> None:
    result = run_playbook(["playbooks/infra.yml", "-i", "inventories/gce", "--list-hosts"],
                          extra_env=no_credentials(tmp_path), timeout=120)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert "localhost" in result.stdout


def test_missing_gcp_auth_kind_is_named(tmp_path: Path) -> None:
    env = dict(no_credentials(tmp_path), GCP_AUTH_KIND="")
    result = run_playbook(["playbooks/infra.yml", "-i", "inventories/gce", "-e", json.dumps(VALID)], extra_env=env, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "GCP_AUTH_KIND (environment) is ''" in output
    assert started_gcp_tasks(output) == []


def test_destroy_asks_first_and_deletes_nothing_without_yes(tmp_path: Path) -> None:
    # Without a terminal, pause reads no answer: the run must stop before any API call.
    result = run_playbook(["playbooks/destroy.yml", "-i", "inventories/gce", "-e", json.dumps(VALID)],
                          extra_env=no_credentials(tmp_path), timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert "Nothing was deleted" in output
    assert "PLAY [Destroy - remove the GCE infrastructure]" not in output
    assert started_gcp_tasks(output) == []


def test_destroy_with_confirm_goes_straight_to_the_lookups(tmp_path: Path) -> None:
    result = run_playbook(["playbooks/destroy.yml", "-i", "inventories/gce", "-e", json.dumps(VALID), "-e", "confirm_destroy=yes"],
                          extra_env=no_credentials(tmp_path), timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert "Ask before deleting anything" in output and "PLAY [Destroy - remove the GCE infrastructure]" in output
    # The first thing it does is look up (never delete blindly); here that fails for lack of credentials.
    assert started_gcp_tasks(output) == ["Look up the forwarding rules"], output[-3000:]
