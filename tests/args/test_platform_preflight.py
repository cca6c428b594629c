"""playbooks/platform.yml refuses bad storage, gateway and metrics-server settings before anything
is rendered or applied: the first play checks every role's argument specs and preflight asserts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict

import pytest

from project import run_playbook

pytestmark = pytest.mark.slow


def run_platform(tmp_path: Path, extra: Dict[str, Any]) -> str:
    target = tmp_path / "manifests"
    result = run_playbook(["playbooks/platform.yml", "-e", "platform_render_dir=%s" % target, "-e", json.dumps(extra)])
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert "PLAY [Platform stage - check the inputs" in output
    assert "PLAY [Platform stage - storage, gateway and metrics-server]" not in output, "a role ran after a failed check"
    assert not target.exists(), "something was rendered although the checks failed"
    return output


@pytest.mark.parametrize("extra, named", [
    # argument specs: choices and types
    ({"storage_rwx_backend": "gluster"}, "storage_rwx_backend"),
    ({"storage_pd_type": "pd-floppy"}, "storage_pd_type"),
    ({"gateway_tls_source": "letsencrypt"}, "gateway_tls_source"),
    ({"gateway_http_nodeport": "eighty"}, "gateway_http_nodeport"),
    ({"metrics_server_replicas": "two"}, "metrics_server_replicas"),
    # preflight asserts: hostname format, NodePort range, required settings
    ({"platform_domain": "Not_A_Host!"}, "gateway_domain (platform_domain)"),
    ({"platform_domain": "localhost"}, "gateway_domain (platform_domain)"),
    ({"platform_gateway_http_nodeport": 80}, "gateway_http_nodeport (platform_gateway_http_nodeport)"),
    ({"platform_gateway_https_nodeport": 32768}, "gateway_https_nodeport (platform_gateway_https_nodeport)"),
    ({"platform_gateway_http_nodeport": 30443}, "two different NodePorts"),
    ({"gateway_tls_source": "acme"}, "gateway_acme_email"),
    ({"storage_nfs_server": "nfs server!"}, "storage_nfs_server (platform_nfs_server)"),
    ({"storage_nfs_share": "relative/path"}, "storage_nfs_share"),
    ({"metrics_server_version": "v0.8.1"}, "metrics_server_version"),
    ({"storage_pd_disk_labels": {"cluster": ""}}, "storage_pd_disk_labels"),
    ({"storage_pd_disk_labels": {"cluster": "Other Cluster"}}, "storage_pd_disk_labels"),
    ({"storage_pd_csi_key_file": "/nonexistent/key.json"}, "storage_pd_csi_key_file (platform_pd_csi_key_file)"),
])
def test_bad_value_stops_before_anything_is_rendered(tmp_path: Path, extra: Dict[str, Any], named: str) -> None:
    assert named in run_platform(tmp_path, extra)


def test_apply_mode_needs_pinned_checksums_and_an_nfs_server(tmp_path: Path) -> None:
    output = run_platform(tmp_path, {"platform_mode": "apply"})
    assert "storage_nfs_server (platform_nfs_server)" in output
    unpinned = [{"name": "snapshot-crd-volumesnapshotclasses.yaml", "url": "https://example.invalid/x.yaml", "checksum": ""}]
    output = run_platform(tmp_path, {"platform_mode": "apply", "platform_nfs_server": "10.240.0.50", "storage_manifests": unpinned})
    assert "storage_manifests[0] (snapshot-crd-volumesnapshotclasses.yaml)" in output
    assert "checksum" in output
    # Outside GCE nobody makes the PD CSI controller's key: applying needs it named.
    output = run_platform(tmp_path, {"platform_mode": "apply", "platform_nfs_server": "10.240.0.50"})
    assert "storage_pd_csi_key_file (platform_pd_csi_key_file)" in output


def test_valid_overrides_pass_the_checks(tmp_path: Path) -> None:
    target = tmp_path / "manifests"
    extra = {"platform_domain": "apps.example.org", "platform_gateway_http_nodeport": 31000,
             "platform_gateway_https_nodeport": 31001, "storage_rwx_backend": "filestore",
             "platform_nfs_server": "10.20.30.40", "gateway_secrets_dir": str(tmp_path / "secrets")}
    result = run_playbook(["playbooks/platform.yml", "-e", "platform_render_dir=%s" % target, "-e", json.dumps(extra)])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert (target / "platform/storage/42-storageclass-rwx.yaml").read_text().count("10.20.30.40") == 1
