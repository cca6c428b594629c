"""The opt-in VM stop of the HA test on a real GCE cluster: the play stops a worker's instance
through the Compute Engine API, the node goes NotReady, WordPress is Ready again on the other
workers, the instance is started and the node is Ready again. It stops a real VM, so it runs
only when asked: KUBECONFIG reaches a platform on GCE, HA_TEST_GCE_PROJECT names its project,
and Google Cloud credentials are in the environment (GCP_AUTH_KIND, GCP_SERVICE_ACCOUNT_FILE)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from project import run_playbook

PROJECT = os.environ.get("HA_TEST_GCE_PROJECT", "")
HAS_CREDENTIALS = bool(os.environ.get("GCP_AUTH_KIND")) and bool(
    os.environ.get("GCP_SERVICE_ACCOUNT_FILE") or os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    or os.environ.get("GCP_AUTH_KIND") == "application")


def _skip_reason() -> str:
    if not os.environ.get("KUBECONFIG"):
        return "KUBECONFIG is not set: no GCE cluster whose worker could be stopped"
    if not HAS_CREDENTIALS:
        return ("no Google Cloud credentials: set GCP_AUTH_KIND=application (with application default credentials) "
                "or GCP_AUTH_KIND=serviceaccount and GCP_SERVICE_ACCOUNT_FILE")
    if not PROJECT:
        return "HA_TEST_GCE_PROJECT is not set: stopping a VM runs only when the project of the cluster is named"
    return ""


pytestmark = [pytest.mark.live, pytest.mark.gce, pytest.mark.slow,
              pytest.mark.skipif(bool(_skip_reason()), reason=_skip_reason() or "-")]


def test_a_stopped_worker_vm_is_survived_and_comes_back(tmp_path: Path) -> None:
    settings = {"platform_mode": "apply", "platform_kubeconfig": os.environ["KUBECONFIG"],
                "ha_test_vm_stop_enabled": True, "ha_test_vm_stop_project": PROJECT,
                "ha_test_report_dir": str(tmp_path), "ha_test_writes_enabled": False,
                "ha_test_label": "GCE, live test of the VM stop"}
    result = run_playbook(["playbooks/ha_test.yml", "--tags", "ha_test_vm_stop", "-e", json.dumps(settings)], timeout=3600)
    reports = sorted(tmp_path.glob("ha-*/report.json"))
    assert reports, result.stdout[-4000:] + result.stderr[-2000:]
    document = json.loads(reports[-1].read_text())
    assert [s["name"] for s in document["skipped"] if s["name"] == "vm_stop"] == [], document["skipped"]
    stopped = next(e for e in document["experiments"] if e["name"] == "vm_stop")
    assert set(stopped["marks"]) == {"node_not_ready", "rescheduled", "node_ready_again"}, stopped
    assert stopped["marks"]["node_not_ready"] < stopped["marks"]["rescheduled"] < stopped["marks"]["node_ready_again"]
    assert result.returncode == 0, document["violations"]
