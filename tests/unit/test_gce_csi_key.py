"""gce_instances' csi_key entry point: the PD CSI controller's key is kept like every generated
secret (orchestrate.platform.manifests_secret), against the in-memory API served on loopback and
a stand-in of google.cloud's key module that records what it was asked to create.

A fresh checkout takes the cluster's key instead of minting a new one; a key is created only
when neither the cluster nor this machine has one; an unreadable cluster stops the run before
any key is created (the read-back it replaces skipped the cluster when the kubeconfig was not a
file, and created a second key)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest

from fake_api import FakeApi, served
from project import ROOT, run_playbook

pytestmark = pytest.mark.slow

CLUSTER_KEY = '{"type": "service_account", "private_key_id": "in-the-cluster"}'
LOCAL_KEY = '{"type": "service_account", "private_key_id": "on-this-machine"}'
KEY_FILE = "orchestrate-pd-csi-key.json"

# Stand-in of google.cloud.gcp_iam_service_account_key: writes a new key to `path`, logs the call.
FAKE_KEY_MODULE = r'''#!/usr/bin/python
import json, os
from ansible.module_utils.basic import AnsibleModule

module = AnsibleModule(argument_spec={"service_account": {"type": "dict"}, "private_key_type": {"type": "str"},
                                      "path": {"type": "path"}, "project": {"type": "str"}, "auth_kind": {"type": "str"},
                                      "state": {"type": "str"}}, supports_check_mode=False)
with open(os.environ["FAKE_KEY_LOG"], "a") as log:
    log.write(json.dumps(module.params["service_account"]) + "\n")
with open(module.params["path"], "w") as handle:
    handle.write('{"type": "service_account", "private_key_id": "created"}')
module.exit_json(changed=True)
'''

PLAYBOOK = """
- name: The PD CSI controller's key
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Find or make the key
      ansible.builtin.include_role:
        name: orchestrate.platform.gce_instances
        tasks_from: csi_key
    - name: Show what the storage role gets
      ansible.builtin.debug:
        msg: "published={{ hostvars['localhost'].platform_pd_csi_key_file }}"
"""


@pytest.fixture
def world(tmp_path: Path) -> Iterator[Tuple[FakeApi, Path]]:
    collection = tmp_path / "collections/ansible_collections/google/cloud"
    (collection / "plugins/modules").mkdir(parents=True)
    (collection / "meta").mkdir()
    (collection / "plugins/modules/gcp_iam_service_account_key.py").write_text(FAKE_KEY_MODULE)
    (collection / "meta/runtime.yml").write_text("---\nrequires_ansible: '>=2.15'\n")
    (collection / "galaxy.yml").write_text("namespace: google\nname: cloud\nversion: 0.0.1\n")
    (tmp_path / "playbook.yml").write_text(PLAYBOOK)
    api = FakeApi()
    with served(api, tmp_path):
        yield api, tmp_path


def run(tmp_path: Path, kubeconfig: Path) -> Tuple[int, str]:
    variables = {"gce_project": "orchestrate-test-0000", "gce_cluster_name": "orchestrate", "gce_auth_kind": "application",
                 "platform_mode": "apply", "platform_kubeconfig": str(kubeconfig),
                 "gce_instances_csi_key_dir": str(tmp_path / "secrets")}
    env = {"ANSIBLE_COLLECTIONS_PATH": "%s:%s" % (tmp_path / "collections", ROOT / "collections"),
           "FAKE_KEY_LOG": str(tmp_path / "created.log")}
    result = run_playbook([str(tmp_path / "playbook.yml"), "-e", json.dumps(variables)], extra_env=env)
    return result.returncode, result.stdout + result.stderr


def created(tmp_path: Path) -> List[str]:
    log = tmp_path / "created.log"
    return log.read_text().splitlines() if log.exists() else []


def store_cluster_key(api: FakeApi) -> None:
    api.store[("", "Secret", "storage", "pd-csi-cloud-sa")] = {
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": "pd-csi-cloud-sa", "namespace": "storage", "managedFields": [], "resourceVersion": "1"},
        "data": {"key.json": base64.b64encode(CLUSTER_KEY.encode()).decode()},
    }


def test_a_fresh_checkout_takes_the_key_of_the_cluster(world: Tuple[FakeApi, Path]) -> None:
    api, tmp_path = world
    store_cluster_key(api)
    code, output = run(tmp_path, tmp_path / "kubeconfig")
    assert code == 0, output[-4000:]
    key = tmp_path / "secrets" / KEY_FILE
    assert key.read_text() == CLUSTER_KEY
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert created(tmp_path) == []
    assert "published=%s" % key in output
    assert "in-the-cluster" not in output


def test_the_cluster_key_wins_over_another_copy_on_this_machine(world: Tuple[FakeApi, Path]) -> None:
    api, tmp_path = world
    store_cluster_key(api)
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / KEY_FILE).write_text(LOCAL_KEY)
    code, output = run(tmp_path, tmp_path / "kubeconfig")
    assert code == 0, output[-4000:]
    assert (tmp_path / "secrets" / KEY_FILE).read_text() == CLUSTER_KEY
    assert created(tmp_path) == []


def test_a_key_is_created_once_when_neither_the_cluster_nor_this_machine_has_one(world: Tuple[FakeApi, Path]) -> None:
    _, tmp_path = world
    code, output = run(tmp_path, tmp_path / "kubeconfig")
    assert code == 0, output[-4000:]
    assert [json.loads(line) for line in created(tmp_path)] == [
        {"name": "orchestrate-pd-csi@orchestrate-test-0000.iam.gserviceaccount.com"}]
    assert "created" in (tmp_path / "secrets" / KEY_FILE).read_text()
    # The file now exists: the next run (the Secret still not pushed) keeps it.
    code, output = run(tmp_path, tmp_path / "kubeconfig")
    assert code == 0, output[-4000:]
    assert len(created(tmp_path)) == 1


def test_a_cluster_that_cannot_be_read_stops_the_run_before_a_key_is_created(world: Tuple[FakeApi, Path]) -> None:
    _, tmp_path = world
    code, output = run(tmp_path, tmp_path / "no-such-kubeconfig")
    assert code != 0
    assert "pd-csi-cloud-sa" in output or "no-such-kubeconfig" in output
    assert created(tmp_path) == []
    assert not (tmp_path / "secrets" / KEY_FILE).exists()
