"""inventories/gce: the google.cloud.gcp_compute inventory groups recorded instances as the
node stages expect, and its config agrees with the variable model in group_vars/all/gce.yml."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from project import ROOT, ansible_env

INVENTORY = ROOT / "inventories/gce"
CONFIG = INVENTORY / "gce.gcp.yml"
GCE_VARS = INVENTORY / "group_vars/all/gce.yml"
COMPUTE = "https://www.googleapis.com/compute/v1/projects/my-platform-project"


def instance(name: str, role: str, zone: str, internal: str, external: str = "") -> dict:
    """One instance as the Compute API's aggregatedList returns it (the fields the plugin reads)."""
    interface = {
        "network": COMPUTE + "/global/networks/orchestrate-net",
        "subnetwork": COMPUTE + "/regions/europe-west1/subnetworks/orchestrate-subnet",
        "networkIP": internal,
        "name": "nic0",
    }
    if external:
        interface["accessConfigs"] = [{"type": "ONE_TO_ONE_NAT", "name": "External NAT", "natIP": external}]
    return {
        "kind": "compute#instance",
        "name": name,
        "zone": COMPUTE + "/zones/" + zone,
        "machineType": COMPUTE + "/zones/%s/machineTypes/e2-standard-4" % zone,
        "status": "RUNNING",
        "canIpForward": True,
        "labels": {"cluster": "orchestrate", "role": role, "managed-by": "orchestrate-platform"},
        "tags": {"items": ["orchestrate-node", "orchestrate-" + role]},
        "networkInterfaces": [interface],
        "metadata": {"items": [{"key": "enable-oslogin", "value": "FALSE"}]},
        "selfLink": COMPUTE + "/zones/%s/instances/%s" % (zone, name),
    }


RECORDED = {
    "zones/europe-west1-b": [instance("orchestrate-cp-1", "control-plane", "europe-west1-b", "10.240.0.2", "192.0.2.11"),
                             instance("orchestrate-worker-1", "worker", "europe-west1-b", "10.240.0.5", "192.0.2.21")],
    "zones/europe-west1-c": [instance("orchestrate-cp-2", "control-plane", "europe-west1-c", "10.240.0.3", "192.0.2.12"),
                             instance("orchestrate-worker-2", "worker", "europe-west1-c", "10.240.0.6", "192.0.2.22")],
    "zones/europe-west1-d": [instance("orchestrate-cp-3", "control-plane", "europe-west1-d", "10.240.0.4", "192.0.2.13"),
                             instance("orchestrate-worker-3", "worker", "europe-west1-d", "10.240.0.7")],
    "zones/us-central1-a": [instance("elsewhere", "worker", "us-central1-a", "10.0.0.9", "192.0.2.99")],
}

# Runs in a fresh interpreter so the plugin loader's collection finder does not leak into
# the other tests. The plugin is the real one; only its HTTP listing call is replaced.
SCRIPT = r"""
import json, sys
from ansible.plugins.loader import init_plugin_loader
init_plugin_loader()
from ansible.parsing.dataloader import DataLoader
from ansible.inventory.manager import InventoryManager
from ansible_collections.google.cloud.plugins.inventory import gcp_compute

recorded = json.loads(sys.argv[2])
calls = []

def fetch_list(self, params, link, query):
    calls.append({"link": link, "query": query, "project": params.get("project"), "zones": params.get("zones")})
    return recorded

gcp_compute.InventoryModule.fetch_list = fetch_list
inventory = InventoryManager(loader=DataLoader(), sources=[sys.argv[1]])
groups = {name: sorted(h.name for h in group.get_hosts()) for name, group in inventory.groups.items()}
hostvars = {h.name: {k: h.vars.get(k) for k in ("ansible_host", "node_ip", "node_zone", "node_role")}
            for h in inventory.get_hosts()}
print(json.dumps({"groups": groups, "hostvars": hostvars, "calls": calls}))
"""


@pytest.fixture(scope="module")
def parsed() -> dict:
    env = ansible_env({"GCP_AUTH_KIND": "application"})
    for name in ("GCP_SERVICE_ACCOUNT_FILE", "GCP_SERVICE_ACCOUNT_CONTENTS", "GCP_ACCESS_TOKEN"):
        env.pop(name, None)
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(INVENTORY), json.dumps(RECORDED)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_config_is_a_gcp_compute_inventory_in_step_with_group_vars() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    model = yaml.safe_load(GCE_VARS.read_text())
    assert config["plugin"] == "google.cloud.gcp_compute"
    assert config["projects"] == [model["gce_project"]]
    assert config["zones"] == model["gce_zones"]
    assert "labels.cluster = %s" % model["gce_cluster_name"] in config["filters"]
    assert config["hostnames"] == ["name"]
    assert "auth_kind" not in config and "service_account_file" not in config, "credentials come from the environment"
    assert set(config["groups"]) >= {"control_plane", "workers", "k8s_cluster"}


def test_instances_land_in_the_groups_the_node_stages_use(parsed: dict) -> None:
    groups = parsed["groups"]
    assert groups["control_plane"] == ["orchestrate-cp-1", "orchestrate-cp-2", "orchestrate-cp-3"]
    assert groups["workers"] == ["orchestrate-worker-1", "orchestrate-worker-2", "orchestrate-worker-3"]
    assert groups["k8s_cluster"] == sorted(groups["control_plane"] + groups["workers"])
    assert groups["zone_europe_west1_b"] == ["orchestrate-cp-1", "orchestrate-worker-1"]
    assert "localhost" in groups["all"] and "localhost" not in groups["k8s_cluster"]


def test_only_the_configured_zones_are_read(parsed: dict) -> None:
    assert "elsewhere" not in parsed["hostvars"]


def test_connection_addresses(parsed: dict) -> None:
    hostvars = parsed["hostvars"]
    assert hostvars["orchestrate-cp-1"] == {"ansible_host": "192.0.2.11", "node_ip": "10.240.0.2",
                                            "node_zone": "europe-west1-b", "node_role": "control-plane"}
    # Without an external address Ansible falls back to the internal one (IAP/bastion setups).
    assert hostvars["orchestrate-worker-3"]["ansible_host"] == "10.240.0.7"


def test_the_api_query_filters_by_cluster_label_and_running(parsed: dict) -> None:
    [call] = parsed["calls"]
    assert call["project"] == "my-platform-project"
    assert call["link"].endswith("/projects/my-platform-project/aggregated/instances")
    assert "labels.cluster = orchestrate" in call["query"] and "status = RUNNING" in call["query"]


def test_group_vars_give_the_nodes_ssh_settings() -> None:
    cluster_vars = yaml.safe_load((INVENTORY / "group_vars/k8s_cluster.yml").read_text())
    assert cluster_vars["ansible_user"] == "{{ gce_ssh_user }}"
    assert cluster_vars["ansible_ssh_private_key_file"] == "{{ gce_ssh_private_key_file }}"
    assert cluster_vars["ansible_become"] is True


def test_platform_variables_other_stages_read() -> None:
    platform = yaml.safe_load((INVENTORY / "group_vars/all/platform.yml").read_text())
    assert platform["platform_cloud"] == "gce" and platform["platform_mode"] == "apply"
    assert platform["platform_kube_minor"] == "1.36"
    assert platform["platform_kube_version"].startswith("1.36.")
    assert platform["platform_kubeconfig"].endswith("build/kubeconfig")
    for name in ("platform_pod_cidr", "platform_service_cidr", "platform_node_cidr"):
        assert "/" in platform[name]


def test_no_credentials_in_the_inventory() -> None:
    for path in INVENTORY.rglob("*.yml"):
        text = path.read_text()
        assert "private_key_id" not in text and "BEGIN PRIVATE KEY" not in text, path
