"""Generated secrets survive a fresh checkout: manifests_secrets on the in-memory API.

The cluster's Secret wins over the controller's file, the file over a new value; rotation is
the only way to a new value once one exists; an API that cannot be read stops the run.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any, Dict, Optional

import pytest

from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_apply import Applier, ApplyOptions
from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_applyset import ApplySet
from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_client import ApiError
from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_objects import ManifestError
from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_secrets import (
    KeySpec,
    SecretRef,
    cluster_reader,
    keep,
    read_file,
    resolve,
    store,
)

from fake_api import FakeApi

NS, NAME = "db", "credentials"


def put_secret(api: FakeApi, data: Dict[str, str], namespace: str = NS, name: str = NAME) -> None:
    """A Secret in the fake cluster, written by another field manager (as a previous run would)."""
    if api.get("", "Namespace", "", namespace) is None:
        api.request("PATCH", "/api/v1/namespaces/%s" % namespace, {"fieldManager": "setup"},
                    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}
    api.request("PATCH", "/api/v1/namespaces/%s/secrets/%s" % (namespace, name), {"fieldManager": "setup"}, body)


def password(tmp: Path, key: str = "root-password", **extra: Any) -> KeySpec:
    return KeySpec(key=key, file=str(tmp / ("file-" + key)), length=32, **extra)


def run(api: Optional[FakeApi], specs: list, rotate: bool = False) -> Dict[str, Any]:
    keys = [spec.key for spec in specs] if rotate else []
    result = resolve(NS, NAME, specs, cluster_reader(api.request) if api else None, rotate=keys)
    store(result, specs)
    return {"values": result.data, "origins": result.origins}


def test_secret_in_the_cluster_is_kept_on_a_fresh_checkout(tmp_path: Path) -> None:
    api = FakeApi()
    put_secret(api, {"root-password": "in-use-by-mariadb"})
    spec = password(tmp_path)
    out = run(api, [spec])
    assert out["values"] == {"root-password": "in-use-by-mariadb"}
    assert out["origins"] == {"root-password": "cluster"}
    # The new checkout's file now holds the value in use (not a new one).
    assert read_file(spec.file, spec) == "in-use-by-mariadb"
    assert (Path(spec.file).stat().st_mode & 0o777) == 0o600


def test_cluster_wins_over_a_stale_local_file(tmp_path: Path) -> None:
    api = FakeApi()
    put_secret(api, {"root-password": "in-use"})
    spec = password(tmp_path)
    Path(spec.file).write_text("from-another-machine\n")
    assert run(api, [spec])["values"] == {"root-password": "in-use"}
    assert Path(spec.file).read_text() == "in-use\n"


def test_generated_only_when_neither_exists_then_kept(tmp_path: Path) -> None:
    api = FakeApi()
    spec = password(tmp_path)
    first = run(api, [spec])
    assert first["origins"] == {"root-password": "generated"}
    value = first["values"]["root-password"]
    assert len(value) == 32 and value.isalnum()
    # The Secret is not applied yet (e.g. a failed run): the file keeps the value.
    assert run(api, [spec])["values"] == {"root-password": value}
    put_secret(api, {"root-password": value})
    again = run(api, [spec])
    assert again["values"] == {"root-password": value} and again["origins"] == {"root-password": "cluster"}


def test_render_mode_uses_and_makes_the_local_files(tmp_path: Path) -> None:
    spec = password(tmp_path)
    Path(spec.file).write_text("from-ansible-password salt=abc\n")  # ansible.builtin.password's format
    assert run(None, [spec])["values"] == {"root-password": "from-ansible-password"}
    other = password(tmp_path, key="sst-password")
    made = run(None, [other])
    assert made["origins"] == {"sst-password": "generated"} and Path(other.file).is_file()


def test_rotation_makes_a_new_value_and_keeps_it(tmp_path: Path) -> None:
    api = FakeApi()
    put_secret(api, {"root-password": "old"})
    spec = password(tmp_path)
    rotated = run(api, [spec], rotate=True)
    assert rotated["origins"] == {"root-password": "rotated"}
    new = rotated["values"]["root-password"]
    assert new != "old" and read_file(spec.file, spec) == new


def test_a_copy_follows_its_source_secret(tmp_path: Path) -> None:
    api = FakeApi()
    put_secret(api, {"user-password": "galera-user"}, namespace="mariadb", name="galera")
    put_secret(api, {"db-password": "stale-copy"})
    spec = password(tmp_path, key="db-password", source=SecretRef("mariadb", "galera", "user-password"))
    out = run(api, [spec])
    assert out["values"] == {"db-password": "galera-user"}
    assert out["origins"] == {"db-password": "cluster mariadb/galera"}
    # A copy is never rotated on its own: it follows the source.
    assert run(api, [spec], rotate=True)["values"] == {"db-password": "galera-user"}


def test_a_copy_falls_back_to_its_own_secret_then_the_file(tmp_path: Path) -> None:
    api = FakeApi()
    put_secret(api, {"db-password": "own"})
    spec = password(tmp_path, key="db-password", source=SecretRef("mariadb", "galera", "user-password"))
    assert run(api, [spec])["values"] == {"db-password": "own"}


def test_keys_made_by_another_tool_are_restored_byte_for_byte_or_left_missing(tmp_path: Path) -> None:
    api = FakeApi()
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    put_secret(api, {"tls.crt": pem})
    cert = KeySpec("tls.crt", str(tmp_path / "tls.crt"))
    key = KeySpec("tls.key", str(tmp_path / "tls.key"))
    out = run(api, [cert, key])
    assert out["values"] == {"tls.crt": pem} and out["origins"] == {"tls.crt": "cluster", "tls.key": "missing"}
    assert Path(cert.file).read_text() == pem and not Path(key.file).exists()
    # Rotation forgets them, so that the certificate tool makes new ones.
    rotated = run(api, [cert, key], rotate=True)
    assert rotated["values"] == {} and not Path(cert.file).exists()


def test_an_unreadable_cluster_stops_the_run_and_writes_nothing(tmp_path: Path) -> None:
    def forbidden(method: str, path: str, *args: Any, **kwargs: Any) -> Any:
        raise ApiError(403, "Forbidden", 'secrets "credentials" is forbidden')

    spec = password(tmp_path)
    with pytest.raises(ManifestError, match="cannot read Secret db/credentials"):
        resolve(NS, NAME, [spec], cluster_reader(forbidden))
    assert not Path(spec.file).exists()


def test_what_the_engine_applied_is_read_back(tmp_path: Path) -> None:
    """The engine applies stringData as data; the reader decodes it: one round trip."""
    api = FakeApi()
    put_secret(api, {}, namespace="kube-system", name="unrelated")  # the ApplySet's namespace
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": NAME, "namespace": NS},
              "type": "Opaque", "stringData": {"root-password": "applied-by-the-engine"}}
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}
    options = ApplyOptions(wait=False, concurrency=2)
    Applier(api, ApplySet("orchestrate.platform.db", "kube-system"), options).run([namespace, secret])
    assert run(api, [password(tmp_path)])["values"] == {"root-password": "applied-by-the-engine"}


def test_check_mode_reads_but_writes_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    api = FakeApi()
    put_secret(api, {"root-password": "in-use"})

    class FakeClient:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self.request = api.request

    monkeypatch.setattr(
        "ansible_collections.orchestrate.platform.plugins.module_utils.manifests_client.Client", FakeClient)
    params = {"namespace": NS, "name": NAME, "directory": str(tmp_path), "mode": "apply", "rotate": [],
              "keys": [{"key": "root-password", "file": "root", "length": 32}, {"key": "new", "file": "new", "length": 8}]}
    checked = keep(params, check_mode=True)
    assert checked["data"]["root-password"] == "in-use" and checked["files"] == [] and checked["changed"]
    assert list(tmp_path.iterdir()) == []
    done = keep(params, check_mode=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new", "root"] and done["changed"]
    assert keep(params, check_mode=False)["changed"] is False


def test_a_key_listed_twice_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="listed twice"):
        resolve(NS, NAME, [password(tmp_path), password(tmp_path)], None)


def test_only_the_named_keys_rotate(tmp_path: Path) -> None:
    api = FakeApi()
    put_secret(api, {"auth-key": "old-key", "admin-password": "initial"})
    specs = [password(tmp_path, key="auth-key"), password(tmp_path, key="admin-password")]
    result = resolve(NS, NAME, specs, cluster_reader(api.request), rotate=["auth-key"])
    assert result.data["admin-password"] == "initial" and result.data["auth-key"] != "old-key"
    with pytest.raises(ManifestError, match="cannot rotate nonce-key"):
        resolve(NS, NAME, specs, None, rotate=["nonce-key"])
