"""Static kubeconfig credentials, and when the full `kubernetes` loader is needed instead."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any, Dict

import pytest
import yaml

from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_kubeconfig import (
    Scratch,
    kubeconfig_path,
    load,
    static_credentials,
)
from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_objects import ManifestError


def config(user: Dict[str, Any], cluster: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "current-context": "main",
        "contexts": [{"name": "main", "context": {"cluster": "c", "user": "u"}},
                     {"name": "other", "context": {"cluster": "c", "user": "x"}}],
        "clusters": [{"name": "c", "cluster": dict({"server": "https://api.example:6443/"}, **cluster)}],
        "users": [{"name": "u", "user": user}, {"name": "x", "user": {"exec": {"command": "gke-gcloud-auth-plugin"}}}],
    }


def test_inline_certificates_are_written_privately(tmp_path: Path) -> None:
    ca = base64.b64encode(b"CA").decode()
    cfg = config({"client-certificate-data": base64.b64encode(b"CERT").decode(), "client-key-data": base64.b64encode(b"KEY").decode()},
                 {"certificate-authority-data": ca})
    creds = static_credentials(cfg, None, str(tmp_path), Scratch())
    assert creds is not None and creds.server == "https://api.example:6443" and creds.verify
    assert Path(str(creds.ca_file)).read_bytes() == b"CA"
    assert Path(str(creds.key_file)).read_bytes() == b"KEY"
    assert Path(str(creds.key_file)).stat().st_mode & 0o777 == 0o600


def test_relative_files_and_token_file(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("s3cret\n")
    cfg = config({"tokenFile": str(tmp_path / "token")}, {"certificate-authority": "ca.crt", "insecure-skip-tls-verify": True})
    creds = static_credentials(cfg, None, str(tmp_path), Scratch())
    assert creds is not None
    assert creds.ca_file == str(tmp_path / "ca.crt") and creds.token == "s3cret" and not creds.verify


def test_exec_users_need_the_full_loader(tmp_path: Path) -> None:
    assert static_credentials(config({}, {}), "other", str(tmp_path), Scratch()) is None


def test_unknown_context_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="no context named 'nope'"):
        static_credentials(config({}, {}), "nope", str(tmp_path), Scratch())


def test_paths_and_merged_kubeconfigs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config({"token": "t"}, {})))
    monkeypatch.setenv("KUBECONFIG", str(path))
    assert kubeconfig_path(None) == str(path)
    creds = load(None, None)
    assert creds is not None and creds.token == "t"
    monkeypatch.setenv("KUBECONFIG", "%s:%s" % (path, path))
    assert load(None, None) is None
    with pytest.raises(ManifestError, match="cannot read kubeconfig"):
        load(str(tmp_path / "missing"), None)
