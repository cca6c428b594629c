"""playbooks/ha_test.yml in check mode against a real API server: the prober's objects are
checked with a server-side dry run, nothing is created, no fault is injected and the play ends
at once (it used to wait five minutes for a prober pod that check mode never creates, then fail)."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import pytest

from project import run_playbook

pytestmark = [pytest.mark.live, pytest.mark.slow,
              pytest.mark.skipif(not os.environ.get("KUBECONFIG"), reason="KUBECONFIG is not set: no API server to check against")]


def test_check_mode_creates_nothing_and_ends_without_waiting(tmp_path: Path) -> None:
    from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_client import Client

    api = Client(os.environ["KUBECONFIG"], None, pool_size=1, timeout=30.0)
    namespace = "ha-check-%s" % uuid.uuid4().hex[:6]
    api.request("POST", "/api/v1/namespaces", body={"metadata": {"name": namespace}})
    try:
        settings = {"platform_mode": "apply", "platform_kubeconfig": os.environ["KUBECONFIG"], "ha_test_namespace": namespace,
                    "ha_test_writes_enabled": False, "ha_test_report_dir": str(tmp_path / "reports"),
                    "ha_test_secrets_dir": str(tmp_path / "secrets")}
        began = time.monotonic()
        result = run_playbook(["playbooks/ha_test.yml", "--check", "--tags", "ha_test_wordpress_pod", "-e", json.dumps(settings)],
                              timeout=300)
        took = time.monotonic() - began
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
        assert "were checked against the cluster; no fault is injected and nothing is measured" in " ".join(result.stdout.split())
        assert took < 120, "check mode waited %.0f s" % took
        for kind in ("jobs", "configmaps"):
            group = "/apis/batch/v1" if kind == "jobs" else "/api/v1"
            items = api.request("GET", "%s/namespaces/%s/%s" % (group, namespace, kind)).get("items") or []
            assert not [i["metadata"]["name"] for i in items if i["metadata"]["name"].startswith("ha-prober")], kind
        assert not (tmp_path / "reports").exists()
    finally:
        api.request("DELETE", "/api/v1/namespaces/%s" % namespace)
