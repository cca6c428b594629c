"""The infra roles' decision logic against an in-memory stand-in of the Google Cloud APIs.

A throw-away `google.cloud` collection whose modules keep resources in a JSON file is put in
front of the real one; playbooks/infra.yml and playbooks/destroy.yml then run unchanged.
This proves the *roles'* behaviour - look up, act only on the difference, second run 0
changed, check mode, destroy twice, PersistentVolume disks kept unless asked - including
the stand-in's copy of google.cloud #330 (the instance module reports `changed` for an
existing instance). It does NOT prove that Google's APIs accept the requests: that is
tests/live/test_gce.py, which needs credentials. The IAM REST calls are switched off here
(gce_instances_manage_iam=false) because they do not go through google.cloud modules.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Dict, List

import pytest

from project import ROOT, run_playbook

pytestmark = pytest.mark.slow

WRITE = [
    "gcp_compute_network", "gcp_compute_subnetwork", "gcp_compute_firewall", "gcp_compute_address",
    "gcp_compute_instance", "gcp_compute_instance_group", "gcp_compute_region_health_check",
    "gcp_compute_region_backend_service", "gcp_compute_forwarding_rule", "gcp_iam_service_account",
    "gcp_compute_disk", "gcp_compute_region_disk", "gcp_iam_role", "gcp_filestore_instance",
]
INFO = [name + "_info" for name in WRITE]

# One module source, specialised by KIND. It reads its arguments the way every new-style
# module does and answers like google.cloud: info modules support check mode, others do not.
FAKE = r'''#!/usr/bin/python
import fcntl, json, os, re, sys
from ansible.module_utils.basic import _load_params

KIND = "@KIND@"
COMPUTE = "https://www.googleapis.com/compute/v1/projects/%s"
COLLECTION = {
    "gcp_compute_network": ("global", "networks"), "gcp_compute_firewall": ("global", "firewalls"),
    "gcp_compute_subnetwork": ("region", "subnetworks"), "gcp_compute_address": ("region", "addresses"),
    "gcp_compute_region_health_check": ("region", "healthChecks"),
    "gcp_compute_region_backend_service": ("region", "backendServices"),
    "gcp_compute_forwarding_rule": ("region", "forwardingRules"), "gcp_compute_region_disk": ("region", "disks"),
    "gcp_compute_instance": ("zone", "instances"), "gcp_compute_instance_group": ("zone", "instanceGroups"),
    "gcp_compute_disk": ("zone", "disks"), "gcp_iam_service_account": ("iam", "serviceAccounts"),
    "gcp_iam_role": ("iam", "roles"), "gcp_filestore_instance": ("zone", "filestoreInstances"),
}
SPECIAL = {"ip_address": "IPAddress", "ip_protocol": "IPProtocol"}
SKIP = {"project", "auth_kind", "scopes", "service_account_file", "service_account_contents",
        "service_account_email", "access_token", "env_type", "state", "filters"}


def camel(key):
    if key in SPECIAL:
        return SPECIAL[key]
    head, rest = key.split("_")[0], key.split("_")[1:]
    return head + "".join(p.title() for p in rest)


def api(value):
    if isinstance(value, dict):
        if set(value) == {"selfLink"}:
            return value["selfLink"]
        return dict((camel(k), api(v)) for k, v in value.items() if v is not None)
    if isinstance(value, list):
        return [api(v) for v in value]
    return value


def lookup(resource, key):
    for part in key.split("."):
        resource = resource.get(part) if isinstance(resource, dict) else None
    return resource


def matches(resource, filters):
    for item in filters or []:
        m = re.match(r'^\(?\s*([\w.]+)\s*=\s*"?([^")]*?)"?\s*\)?$', item)
        if str(lookup(resource, m.group(1))) != m.group(2).strip():
            return False
    return True


def done(**result):
    print(json.dumps(result))
    sys.exit(0)


def main():
    params = _load_params()
    check = params.get("_ansible_check_mode", False)
    args = dict((k, v) for k, v in params.items() if not k.startswith("_"))
    kind = KIND[:-5] if KIND.endswith("_info") else KIND
    scope, collection = COLLECTION[kind]
    path = os.environ["FAKE_GCE_STATE"]
    with open(path + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = json.load(open(path)) if os.path.exists(path) else {}
        items = state.setdefault(collection, {})
        project = args.get("project") or "none"
        where = args.get(scope) if scope in ("zone", "region") else None
        if KIND.endswith("_info"):
            found = [r for r in items.values()
                     if (where is None or r.get(scope, "").rsplit("/", 1)[-1] == where) and matches(r, args.get("filters"))]
            done(changed=False, resources=found)
        if check:
            done(changed=False, skipped=True, msg="remote module (%s) does not support check mode" % KIND)
        name = args["name"]
        key = "%s/%s" % (where or "global", name)
        current = items.get(key)
        if args.get("state", "present") == "absent":
            if current is None:
                done(changed=False)
            del items[key]
            state.setdefault("_log", []).append("delete %s %s" % (collection, key))
            json.dump(state, open(path, "w"), indent=1)
            done(changed=True)
        resource = api(dict((k, v) for k, v in args.items() if k not in SKIP))
        base = COMPUTE % project
        if scope == "zone":
            resource["zone"] = "%s/zones/%s" % (base, where)
            resource["selfLink"] = "%s/zones/%s/%s/%s" % (base, where, collection, name)
        elif scope == "region":
            resource["region"] = "%s/regions/%s" % (base, where)
            resource["selfLink"] = "%s/regions/%s/%s/%s" % (base, where, collection, name)
        elif scope == "global":
            resource["selfLink"] = "%s/global/%s/%s" % (base, collection, name)
        else:
            resource["email"] = name
        counter = state.setdefault("_counter", 10)
        if kind == "gcp_compute_instance":
            if current is not None:
                done(changed=True, **current)           # google.cloud #330: always "changed"
            resource["status"] = "RUNNING"
            for nic in resource.get("networkInterfaces", []):
                nic["networkIP"] = "10.240.0.%d" % counter
                for ac in nic.get("accessConfigs", []):
                    ac["natIP"] = "192.0.2.%d" % counter
            resource["tags"] = {"items": resource.get("tags", {}).get("items", [])}
        if kind == "gcp_filestore_instance" and current is None:
            for net in resource.get("networks", []):
                net["ipAddresses"] = ["10.250.0.%d" % counter]
        if kind == "gcp_compute_address" and current is None:
            internal = resource.get("addressType") == "INTERNAL"
            resource["address"] = ("10.240.0.%d" if internal else "198.51.100.%d") % counter
        if kind == "gcp_compute_instance_group":
            members = [m.rsplit("/", 1)[-1] for m in resource.pop("instances", []) or []]
            resource["size"], resource["members"] = len(members), sorted(members)
            if current is not None:                      # members are added silently
                current["size"], current["members"] = resource["size"], resource["members"]
                json.dump(state, open(path, "w"), indent=1)
                done(changed=False, **current)
        if kind == "gcp_compute_firewall" and current is not None:
            done(changed=False, **current)               # firewall rules are not updated in place
        state["_counter"] = counter + 1
        if current is not None and all(current.get(k) == v for k, v in resource.items()):
            done(changed=False, **current)
        items[key] = dict(current or {}, **resource)
        state.setdefault("_log", []).append("%s %s %s" % ("update" if current else "create", collection, key))
        json.dump(state, open(path, "w"), indent=1)
        done(changed=True, **items[key])


main()
'''

VALID: Dict[str, Any] = {
    "gce_project": "orchestrate-test-0000",
    "gce_network_admin_cidrs": ["198.51.100.7/32"],
    "gce_instances_ssh_public_keys": ["debian:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleKeyForTests test"],
    "gce_instances_manage_iam": False,
}
RECAP = re.compile(r"^localhost\s*:\s*ok=\d+\s+changed=(\d+)\s+unreachable=0\s+failed=0", re.M)


@pytest.fixture()
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    collection = tmp_path / "collections/ansible_collections/google/cloud"
    (collection / "plugins/modules").mkdir(parents=True)
    (collection / "meta").mkdir()
    for kind in WRITE + INFO:
        (collection / "plugins/modules" / (kind + ".py")).write_text(FAKE.replace("@KIND@", kind))
    (collection / "meta/runtime.yml").write_text(
        "---\nrequires_ansible: '>=2.15'\naction_groups:\n  gcp:\n" + "".join("    - %s\n" % m for m in WRITE + INFO))
    (collection / "galaxy.yml").write_text("namespace: google\nname: cloud\nversion: 0.0.1\n")
    for name in ("GCP_SERVICE_ACCOUNT_FILE", "GCP_SERVICE_ACCOUNT_CONTENTS", "GCP_ACCESS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    state = tmp_path / "gce.json"
    state.write_text(json.dumps({"disks": {
        "europe-west1-b/pvc-1111": {"name": "pvc-1111", "zone": "https://www.googleapis.com/compute/v1/projects/orchestrate-test-0000/zones/europe-west1-b",
                                    "description": '{"kubernetes.io/created-for/pv/name":"pvc-1111"}', "labels": {"cluster": "orchestrate"},
                                    "selfLink": "https://www.googleapis.com/compute/v1/projects/orchestrate-test-0000/zones/europe-west1-b/disks/pvc-1111"},
        "europe-west1-b/pvc-2222": {"name": "pvc-2222", "zone": "https://www.googleapis.com/compute/v1/projects/orchestrate-test-0000/zones/europe-west1-b",
                                    "description": '{"kubernetes.io/created-for/pv/name":"pvc-2222"}', "labels": {"cluster": "another"},
                                    "selfLink": "https://www.googleapis.com/compute/v1/projects/orchestrate-test-0000/zones/europe-west1-b/disks/pvc-2222"},
        # Made by a PD CSI driver with the same description scheme but no cluster label (another
        # cluster's, or ours before the label existed): listed, never deleted.
        "europe-west1-c/pvc-3333": {"name": "pvc-3333", "zone": "https://www.googleapis.com/compute/v1/projects/orchestrate-test-0000/zones/europe-west1-c",
                                    "description": '{"kubernetes.io/created-for/pv/name":"pvc-3333"}',
                                    "selfLink": "https://www.googleapis.com/compute/v1/projects/orchestrate-test-0000/zones/europe-west1-c/disks/pvc-3333"},
    }}))
    return tmp_path


def play(fake: Path, playbook: str, *extra: str) -> str:
    env = {
        "ANSIBLE_COLLECTIONS_PATH": "%s:%s" % (fake / "collections", ROOT / "collections"),
        "FAKE_GCE_STATE": str(fake / "gce.json"),
        "GCP_AUTH_KIND": "application",
    }
    result = run_playbook([playbook, "-i", "inventories/gce", "-e", json.dumps(VALID), *extra], extra_env=env, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    return output


def flat(output: str) -> str:
    """The output with every run of whitespace as one space (the YAML callback wraps long messages)."""
    return " ".join(output.split())


def changed(output: str) -> int:
    found = RECAP.findall(output)
    assert found, output[-3000:]
    return int(found[-1])


def state(fake: Path) -> Dict[str, Any]:
    return json.loads((fake / "gce.json").read_text())


def names(fake: Path, collection: str) -> List[str]:
    return sorted(r.get("name") or r.get("email") for r in state(fake).get(collection, {}).values())


def test_infra_converges_is_idempotent_repairs_drift_and_destroys_twice(fake: Path) -> None:
    # Check mode on an empty project: lookups run, nothing is created, nothing fails.
    dry = play(fake, "playbooks/infra.yml", "--check")
    assert changed(dry) == 0 and not state(fake).get("networks") and not state(fake).get("instances")
    assert "unknown in check mode" in dry

    first = play(fake, "playbooks/infra.yml")
    assert changed(first) > 0
    # The nodes' endpoint is the internal load balancer's address in the subnet; operators use the external one.
    assert re.search(r"Kubernetes API endpoint of the nodes \(internal load balancer, kubeadm controlPlaneEndpoint\): 10\.240\.0\.\d+:6443", flat(first))
    assert re.search(r"Kubernetes API for operators \(external load balancer, from gce_network_admin_cidrs\): 198\.51\.100\.\d+:6443", flat(first))
    # The RWX backend (Filestore by default on GCE) exists and its address is published for storage.
    filestore = state(fake)["filestoreInstances"]["europe-west1-b/orchestrate-rwx"]
    assert filestore["tier"] == "BASIC_HDD" and filestore["fileShares"] == [{"name": "platform", "capacityGb": 1024}]
    assert filestore["networks"][0]["network"] == "orchestrate-net" and filestore["labels"]["rwx-of"] == "orchestrate"
    assert re.search(r"RWX backend \(filestore\): 10\.250\.0\.\d+:/platform", flat(first))

    assert names(fake, "networks") == ["orchestrate-net"]
    assert names(fake, "subnetworks") == ["orchestrate-subnet"]
    assert names(fake, "serviceAccounts") == ["orchestrate-nodes@orchestrate-test-0000.iam.gserviceaccount.com",
                                              "orchestrate-pd-csi@orchestrate-test-0000.iam.gserviceaccount.com"]
    instances = state(fake)["instances"]
    assert sorted(i["name"] for i in instances.values()) == [
        "orchestrate-cp-1", "orchestrate-cp-2", "orchestrate-cp-3",
        "orchestrate-worker-1", "orchestrate-worker-2", "orchestrate-worker-3"]
    cp1 = instances["europe-west1-b/orchestrate-cp-1"]
    assert cp1["canIpForward"] is True
    assert cp1["labels"] == {"cluster": "orchestrate", "role": "control-plane", "managed-by": "orchestrate-platform",
                             "environment": "production"}
    assert cp1["tags"]["items"] == ["orchestrate-node", "orchestrate-control-plane"]
    assert cp1["serviceAccounts"][0]["email"] == "orchestrate-nodes@orchestrate-test-0000.iam.gserviceaccount.com"
    # A node's token can write logs and metrics and pull images, nothing more (no cloud-platform).
    assert sorted(cp1["serviceAccounts"][0]["scopes"]) == [
        "https://www.googleapis.com/auth/devstorage.read_only", "https://www.googleapis.com/auth/logging.write",
        "https://www.googleapis.com/auth/monitoring.write"]
    assert cp1["metadata"]["ssh-keys"].startswith("debian:ssh-ed25519 ")
    assert names(fake, "firewalls") == sorted([
        "orchestrate-fw-admin-ssh", "orchestrate-fw-admin-api", "orchestrate-fw-nodes-to-cp", "orchestrate-fw-etcd-peers",
        "orchestrate-fw-node-to-node", "orchestrate-fw-hc-api", "orchestrate-fw-hc-gateway", "orchestrate-fw-gateway-clients"])
    # No rule depends on the nodes' ephemeral external addresses: they reach the API through the
    # internal load balancer from their internal addresses (fw-nodes-to-cp, by tag), operators
    # through the external one from the admin CIDRs only.
    firewalls = state(fake)["firewalls"]
    assert firewalls["global/orchestrate-fw-nodes-to-cp"]["sourceTags"] == ["orchestrate-node"]
    assert firewalls["global/orchestrate-fw-admin-api"]["sourceRanges"] == ["198.51.100.7/32"]
    assert "130.211.0.0/22" in firewalls["global/orchestrate-fw-hc-api"]["sourceRanges"]  # the internal LB's probers
    assert names(fake, "addresses") == ["orchestrate-api", "orchestrate-api-internal", "orchestrate-gateway"]
    internal = state(fake)["addresses"]["europe-west1/orchestrate-api-internal"]
    assert internal["addressType"] == "INTERNAL" and internal["purpose"] == "GCE_ENDPOINT"
    assert internal["subnetwork"].endswith("/regions/europe-west1/subnetworks/orchestrate-subnet")
    assert names(fake, "healthChecks") == ["orchestrate-api-hc", "orchestrate-api-internal-hc", "orchestrate-gateway-hc"]
    groups = state(fake)["instanceGroups"]
    assert sorted(g["name"] for g in groups.values()) == sorted(
        ["orchestrate-cp-europe-west1-%s" % z for z in "bcd"] + ["orchestrate-workers-europe-west1-%s" % z for z in "bcd"])
    # The API groups start empty: the cluster stage adds each control-plane VM once its API server
    # is healthy (a backend that is still joining would reach itself through the load balancer).
    assert {g["name"]: g["size"] for g in groups.values()} == dict(
        [("orchestrate-cp-europe-west1-%s" % z, 0) for z in "bcd"] + [("orchestrate-workers-europe-west1-%s" % z, 1) for z in "bcd"])
    services = state(fake)["backendServices"]
    assert services["europe-west1/orchestrate-api"]["loadBalancingScheme"] == "EXTERNAL"
    assert len(services["europe-west1/orchestrate-gateway"]["backends"]) == 3
    # The internal API load balancer serves the same per-zone groups, so the cluster stage's
    # backend membership (a VM serves once its API server is healthy) holds for both.
    assert services["europe-west1/orchestrate-api-internal"]["loadBalancingScheme"] == "INTERNAL"
    assert services["europe-west1/orchestrate-api-internal"]["backends"] == services["europe-west1/orchestrate-api"]["backends"]
    assert len(services["europe-west1/orchestrate-api-internal"]["backends"]) == 3
    rules = state(fake)["forwardingRules"]
    assert rules["europe-west1/orchestrate-api"]["ports"] == ["6443"]
    ilb = rules["europe-west1/orchestrate-api-internal"]
    assert ilb["loadBalancingScheme"] == "INTERNAL" and ilb["ports"] == ["6443"] and ilb["IPAddress"] == internal["address"]
    assert ilb["subnetwork"].endswith("/subnetworks/orchestrate-subnet") and ilb["network"].endswith("/networks/orchestrate-net")
    assert ilb["backendService"].endswith("/backendServices/orchestrate-api-internal") and "networkTier" not in ilb
    assert rules["europe-west1/orchestrate-gateway"]["ports"] == ["80", "443"]

    assert changed(play(fake, "playbooks/infra.yml")) == 0, "second run must change nothing"
    assert changed(play(fake, "playbooks/infra.yml", "--check")) == 0

    # Drift: a widened SSH rule and a stale rule of ours are repaired; a foreign rule stays.
    data = state(fake)
    data["firewalls"]["global/orchestrate-fw-admin-ssh"]["sourceRanges"] = ["0.0.0.0/0"]
    # ... and the rule the load balancer role made before the internal load balancer (the nodes'
    # external /32s) goes as well.
    for name in ("orchestrate-fw-old", "orchestrate-lb-api-from-nodes", "someone-elses-rule"):
        data["firewalls"]["global/" + name] = {"name": name, "network": data["firewalls"]["global/orchestrate-fw-hc-api"]["network"],
                                               "allowed": [{"IPProtocol": "tcp", "ports": ["8080"]}], "sourceRanges": ["0.0.0.0/0"]}
    (fake / "gce.json").write_text(json.dumps(data))
    assert changed(play(fake, "playbooks/infra.yml")) > 0
    firewalls = state(fake)["firewalls"]
    assert firewalls["global/orchestrate-fw-admin-ssh"]["sourceRanges"] == ["198.51.100.7/32"]
    assert "global/orchestrate-fw-old" not in firewalls and "global/someone-elses-rule" in firewalls
    assert "global/orchestrate-lb-api-from-nodes" not in firewalls
    assert changed(play(fake, "playbooks/infra.yml")) == 0

    # Scale the workers up: one instance is created and the LB groups follow.
    assert changed(play(fake, "playbooks/infra.yml", "-e", "gce_instances_worker_count=4")) > 0
    assert state(fake)["instanceGroups"]["europe-west1-b/orchestrate-workers-europe-west1-b"]["size"] == 2
    assert changed(play(fake, "playbooks/infra.yml", "-e", "gce_instances_worker_count=4")) == 0

    destroyed = play(fake, "playbooks/destroy.yml", "-e", "confirm_destroy=yes")
    assert changed(destroyed) > 0
    assert "kept (pass -e destroy_pvc_disks=yes to delete them)" in destroyed
    left = state(fake)
    for collection in ("instances", "instanceGroups", "addresses", "healthChecks",
                       "backendServices", "forwardingRules", "serviceAccounts"):
        assert not left.get(collection), collection
    # The RWX data is kept without destroy_pvc_disks, and with it the network its peering uses.
    assert names(fake, "filestoreInstances") == ["orchestrate-rwx"]
    assert names(fake, "networks") == ["orchestrate-net"] and names(fake, "subnetworks") == ["orchestrate-subnet"]
    assert "Filestore europe-west1-b/orchestrate-rwx - kept (pass -e destroy_pvc_disks=yes to delete it)" in flat(destroyed)
    # The network is the cluster's own: every rule on it goes (GCE refuses to delete a network with rules).
    assert names(fake, "firewalls") == []
    assert names(fake, "disks") == ["pvc-1111", "pvc-2222", "pvc-3333"]
    assert changed(play(fake, "playbooks/destroy.yml", "-e", "confirm_destroy=yes")) == 0, "second destroy must change nothing"

    purged = play(fake, "playbooks/destroy.yml", "-e", "confirm_destroy=yes", "-e", "destroy_pvc_disks=yes")
    assert names(fake, "disks") == ["pvc-2222", "pvc-3333"], "only disks labelled cluster=orchestrate are deleted"
    assert "1 pvc-* disk(s) carry no cluster label" in flat(purged) and "zones/europe-west1-c/disks/pvc-3333" in purged
    # The same confirmation deletes the RWX data, and then the network can go.
    assert not state(fake).get("filestoreInstances") and not state(fake).get("networks") and not state(fake).get("subnetworks")
    assert changed(play(fake, "playbooks/destroy.yml", "-e", "confirm_destroy=yes", "-e", "destroy_pvc_disks=yes")) == 0


def test_nfs_vm_backend_exports_a_kept_disk_to_the_nodes_only(fake: Path) -> None:
    nfs = ("-e", "platform_rwx_backend=nfs-vm")
    first = play(fake, "playbooks/infra.yml", *nfs)
    assert not state(fake).get("filestoreInstances")
    disk = state(fake)["disks"]["europe-west1-b/orchestrate-rwx-data"]
    assert disk["labels"]["rwx-of"] == "orchestrate" and "cluster" not in disk["labels"]
    vm = state(fake)["instances"]["europe-west1-b/orchestrate-rwx"]
    assert vm["tags"]["items"] == ["orchestrate-nfs"] and "cluster" not in vm["labels"]
    assert "serviceAccounts" not in vm, "the NFS VM calls no Google API and gets no token"
    data = [d for d in vm["disks"] if not d.get("boot")][0]
    assert data["autoDelete"] is False and data["source"].endswith("/disks/orchestrate-rwx-data")
    assert "/srv/nfs/platform 10.240.0.0/24(rw,sync,no_subtree_check,no_root_squash)" in vm["metadata"]["startup-script"]
    rule = state(fake)["firewalls"]["global/orchestrate-fw-nodes-to-nfs"]
    assert rule["sourceTags"] == ["orchestrate-node"] and rule["targetTags"] == ["orchestrate-nfs"]
    assert rule["allowed"] == [{"IPProtocol": "tcp", "ports": ["2049"]}]
    assert re.search(r"RWX backend \(nfs-vm\): 10\.240\.0\.\d+:/srv/nfs/platform", flat(first))
    assert changed(play(fake, "playbooks/infra.yml", *nfs)) == 0

    destroyed = play(fake, "playbooks/destroy.yml", "-e", "confirm_destroy=yes", *nfs)
    assert changed(destroyed) > 0 and not state(fake).get("instances") and not state(fake).get("networks")
    assert "orchestrate-rwx-data" in names(fake, "disks"), "the NFS data disk is kept without destroy_pvc_disks"
    play(fake, "playbooks/destroy.yml", "-e", "confirm_destroy=yes", "-e", "destroy_pvc_disks=yes", *nfs)
    assert "orchestrate-rwx-data" not in names(fake, "disks")


API_BACKENDS = """
- name: Cluster stage's call of the API backends
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Set the API backends
      ansible.builtin.include_role:
        name: orchestrate.platform.gce_loadbalancer
        tasks_from: api_backends
"""


def api_members(fake: Path) -> Dict[str, List[str]]:
    return {g["name"]: g.get("members", []) for g in state(fake)["instanceGroups"].values() if g["name"].startswith("orchestrate-cp-")}


def test_api_backends_follow_the_cluster_stage_and_the_infra_stage_keeps_them(fake: Path) -> None:
    play(fake, "playbooks/infra.yml")
    playbook = fake / "api_backends.yml"
    playbook.write_text(API_BACKENDS)

    def backends(*names: str) -> str:
        return play(fake, str(playbook), "-e", json.dumps({"gce_loadbalancer_api_backends": list(names)}))

    # A new cluster: only the node that runs kubeadm init is a backend.
    assert changed(backends("orchestrate-cp-1")) == 1
    assert api_members(fake) == {"orchestrate-cp-europe-west1-b": ["orchestrate-cp-1"],
                                 "orchestrate-cp-europe-west1-c": [], "orchestrate-cp-europe-west1-d": []}
    assert changed(backends("orchestrate-cp-1")) == 0, "second run must change nothing"
    # After the joins every healthy node serves.
    assert changed(backends("orchestrate-cp-1", "orchestrate-cp-2", "orchestrate-cp-3")) == 1   # one task, two groups
    assert all(len(m) == 1 for m in api_members(fake).values())
    # The infra stage leaves the members alone (it never sets them for the API groups).
    assert changed(play(fake, "playbooks/infra.yml")) == 0
    assert all(len(m) == 1 for m in api_members(fake).values())
    # A node whose API server is down leaves the pool.
    backends("orchestrate-cp-1", "orchestrate-cp-3")
    assert api_members(fake)["orchestrate-cp-europe-west1-c"] == []


SELECTION = """
- name: What api_health would have measured
  hosts: control_plane
  gather_facts: false
  tasks:
    - name: Mark the ready nodes
      ansible.builtin.set_fact:
        __kubeadm_control_plane_api_backend: "{{ inventory_hostname in ready }}"

- name: The cluster stage's selection
  ansible.builtin.import_playbook: @ROOT@/playbooks/cluster_api_backends.yml
"""


def seed_control_plane(fake: Path) -> Path:
    """Three control-plane instances and their empty API groups, and an inventory that reaches
    the 'nodes' through a local connection (api_backends waits on them for the local route)."""
    data = state(fake)
    base = "https://www.googleapis.com/compute/v1/projects/orchestrate-test-0000/zones/europe-west1-"
    for number, zone in ((1, "b"), (2, "c"), (3, "d")):
        name = "orchestrate-cp-%d" % number
        data.setdefault("instances", {})["europe-west1-%s/%s" % (zone, name)] = {
            "name": name, "zone": base + zone, "selfLink": "%s%s/instances/%s" % (base, zone, name),
            "labels": {"cluster": "orchestrate", "role": "control-plane"}}
        group = "orchestrate-cp-europe-west1-%s" % zone
        data.setdefault("instanceGroups", {})["europe-west1-%s/%s" % (zone, group)] = {
            "name": group, "zone": base + zone, "size": 0, "members": [], "selfLink": "%s%s/instanceGroups/%s" % (base, zone, group)}
    (fake / "gce.json").write_text(json.dumps(data))
    local = {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}
    inventory = fake / "control_plane.yml"
    inventory.write_text(json.dumps({"all": {"children": {"k8s_cluster": {"children": {"control_plane": {"hosts": {
        "orchestrate-cp-%d" % n: local for n in (1, 2, 3)}}}}}}}))
    playbook = fake / "selection.yml"
    playbook.write_text(SELECTION.replace("@ROOT@", str(ROOT)))
    return inventory


def test_cluster_stage_makes_only_ready_nodes_backends_and_waits_for_the_local_route(fake: Path) -> None:
    inventory = seed_control_plane(fake)
    # 127.0.0.1 is routed locally on this machine, as the guest agent routes the LB address on a backend.
    common = ("-i", str(inventory), "-e", json.dumps({"platform_control_plane_endpoint": "127.0.0.1:6443"}))
    output = play(fake, str(fake / "selection.yml"), *common, "-e", json.dumps({"ready": ["orchestrate-cp-1", "orchestrate-cp-3"]}))
    assert "Wait until each backend routes the load balancers' addresses locally" in output
    assert "orchestrate-cp-1: 127.0.0.1" in output and "orchestrate-cp-3: 127.0.0.1" in output
    assert api_members(fake) == {"orchestrate-cp-europe-west1-b": ["orchestrate-cp-1"], "orchestrate-cp-europe-west1-c": [],
                                 "orchestrate-cp-europe-west1-d": ["orchestrate-cp-3"]}
    # A run that left a control-plane node out cannot know its health: the members stay.
    output = play(fake, str(fake / "selection.yml"), *common, "-e", json.dumps({"ready": ["orchestrate-cp-1"]}),
                  "--limit", "localhost,orchestrate-cp-1,orchestrate-cp-2")
    assert re.search(r"API load balancer backends not changed: \[''orchestrate-cp-3''\]\s+were not checked", output), output[-5000:]
    assert api_members(fake)["orchestrate-cp-europe-west1-d"] == ["orchestrate-cp-3"]
