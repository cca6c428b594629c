"""GCE end to end for the infra stage: create -> re-run (0 changed) -> check mode -> inventory
-> destroy -> destroy again (0 changed). It creates billable resources, so it runs only when
asked: GCE_E2E_PROJECT names a project dedicated to the test, GCE_E2E_ADMIN_CIDR is the address
the test runs from, and credentials are in the environment (GCP_AUTH_KIND plus application
default credentials or GCP_SERVICE_ACCOUNT_FILE). Everything is destroyed at the end, even on failure.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from typing import Dict, List

import pytest

from project import ROOT, ansible_env, run_playbook

PROJECT = os.environ.get("GCE_E2E_PROJECT", "")
ADMIN_CIDR = os.environ.get("GCE_E2E_ADMIN_CIDR", "")
HAS_CREDENTIALS = bool(os.environ.get("GCP_AUTH_KIND")) and bool(
    os.environ.get("GCP_SERVICE_ACCOUNT_FILE") or os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    or os.environ.get("GCP_AUTH_KIND") == "application")


def _skip_reason() -> str:
    if not HAS_CREDENTIALS:
        return ("no Google Cloud credentials: set GCP_AUTH_KIND=application (with application default credentials) "
                "or GCP_AUTH_KIND=serviceaccount and GCP_SERVICE_ACCOUNT_FILE")
    if not PROJECT:
        return "GCE_E2E_PROJECT is not set: the e2e test needs a project of its own (it creates billable resources)"
    if not ADMIN_CIDR:
        return "GCE_E2E_ADMIN_CIDR is not set: the address this test runs from, e.g. 198.51.100.7/32"
    return ""


pytestmark = [pytest.mark.gce, pytest.mark.slow, pytest.mark.skipif(bool(_skip_reason()), reason=_skip_reason() or "-")]

SETTINGS: Dict[str, object] = {
    "gce_project": PROJECT,
    "gce_network_admin_cidrs": [ADMIN_CIDR],
    "gce_instances_control_plane_count": int(os.environ.get("GCE_E2E_CONTROL_PLANE", "3")),
    "gce_instances_worker_count": int(os.environ.get("GCE_E2E_WORKERS", "3")),
}
RECAP = re.compile(r"^localhost\s*:\s*ok=\d+\s+changed=(\d+)\s+unreachable=0\s+failed=0", re.M)


def run(playbook: str, *extra: str) -> str:
    result = run_playbook([playbook, "-i", "inventories/gce", "-e", json.dumps(SETTINGS), *extra], timeout=3600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    return output


def changed(output: str) -> int:
    found = RECAP.findall(output)
    assert found, output[-3000:]
    return int(found[-1])


def inventory_groups() -> Dict[str, List[str]]:
    result = subprocess.run([str(os.path.join(os.path.dirname(sys.executable), "ansible-inventory")), "-i",
                             "inventories/gce", "--list"], cwd=ROOT, env=ansible_env(), capture_output=True,
                            text=True, timeout=300, check=True)
    data = json.loads(result.stdout)
    return {name: sorted(value.get("hosts", [])) for name, value in data.items() if isinstance(value, dict)}


def test_infra_create_rerun_checkmode_inventory_destroy() -> None:
    try:
        first = run("playbooks/infra.yml")
        assert changed(first) > 0
        text = " ".join(first.split())
        assert re.search(r"Kubernetes API endpoint of the nodes \(internal load balancer, kubeadm controlPlaneEndpoint\): "
                         r"\d+\.\d+\.\d+\.\d+:6443", text)
        assert re.search(r"Kubernetes API for operators \(external load balancer, from gce_network_admin_cidrs\): "
                         r"\d+\.\d+\.\d+\.\d+:6443", text)

        assert changed(run("playbooks/infra.yml")) == 0, "a second infra run must change nothing"
        assert changed(run("playbooks/infra.yml", "--check")) == 0

        groups = inventory_groups()
        assert len(groups.get("control_plane", [])) == SETTINGS["gce_instances_control_plane_count"]
        assert len(groups.get("workers", [])) == SETTINGS["gce_instances_worker_count"]
    finally:
        destroyed = run("playbooks/destroy.yml", "-e", "confirm_destroy=yes")
    assert changed(destroyed) > 0
    assert changed(run("playbooks/destroy.yml", "-e", "confirm_destroy=yes")) == 0, "a second destroy must change nothing"
    assert not inventory_groups().get("k8s_cluster")
