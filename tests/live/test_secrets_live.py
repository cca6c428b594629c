"""Generated secrets survive a fresh checkout, on a real API server (KUBECONFIG).

The mariadb_galera and wordpress roles are applied (waits off: there may be no kubelet) into
namespaces of this test; then again from an empty secrets directory, as a new checkout or a
second operator's machine would: the Secrets must keep their values, the run must report
nothing changed, and the empty directory must now hold the values in use. WordPress's
database password must be the Galera user's password; rotation must change the salts only.
"""

from __future__ import annotations

import base64
import os
import re
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from project import run_playbook

HERE = Path(__file__).resolve().parent
pytestmark = [
    pytest.mark.live,
    pytest.mark.slow,
    pytest.mark.skipif(not os.environ.get("KUBECONFIG"), reason="KUBECONFIG is not set: no cluster to keep secrets in"),
]


@pytest.fixture(scope="module")
def core(api: Any) -> Any:
    return api.CoreV1Api()


@pytest.fixture(scope="module")
def prefix(core: Any) -> Iterator[str]:
    kubernetes = pytest.importorskip("kubernetes")
    name = "secrets-live-%s" % uuid.uuid4().hex[:6]
    for suffix in ("-db", "-web"):
        core.create_namespace(kubernetes.client.V1Namespace(metadata=kubernetes.client.V1ObjectMeta(name=name + suffix)))
    yield name
    for suffix in ("-db", "-web"):
        core.delete_namespace(name + suffix)


def play(prefix: str, secrets_dir: Path, *extra: str) -> Tuple[int, List[str]]:
    """The run's changed count and the names of the tasks that reported a change."""
    args = [str(HERE / "secrets.yml"), "-e", "platform_mode=apply", "-e", "platform_wait=false",
            "-e", "platform_kubeconfig=%s" % os.environ["KUBECONFIG"], "-e", "live_namespace=%s" % prefix,
            "-e", "platform_secrets_dir=%s" % secrets_dir]
    for item in extra:
        args += ["-e", item]
    result = run_playbook(args)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    match = re.search(r"localhost\s+:\s+ok=\d+\s+changed=(\d+)", result.stdout)
    assert match, result.stdout[-2000:]
    chunks = result.stdout.split("TASK [")[1:]
    tasks = [c.split("]", 1)[0] for c in chunks if re.search(r"^changed: ", c, re.M)]
    return int(match.group(1)), tasks


def data(core: Any, namespace: str, name: str) -> Dict[str, str]:
    secret = core.read_namespaced_secret(name, namespace)
    return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}


def test_a_fresh_checkout_keeps_the_secrets_in_use(core: Any, prefix: str, tmp_path: Path) -> None:
    first_dir, fresh_dir = tmp_path / "operator-a", tmp_path / "new-checkout"
    play(prefix, first_dir)
    galera = data(core, prefix + "-db", "mariadb-galera-credentials")
    wordpress = data(core, prefix + "-web", "wordpress-credentials")
    assert set(galera) >= {"root-password", "user-password", "sst-password", "exporter-password", "backup-password", "restore-password"}
    assert len(wordpress) == 10
    assert wordpress["db-password"] == galera["user-password"]

    # A new checkout: no build/secrets at all. Nothing may change in the cluster; only the two
    # local copies are written (from the cluster's values), and the run after that is 0 changed.
    changed, tasks = play(prefix, fresh_dir)
    assert changed == 2 and all(t.endswith(("Keep the generated passwords", "Keep the generated passwords, keys and salts"))
                                for t in tasks), tasks
    assert play(prefix, fresh_dir)[0] == 0
    assert data(core, prefix + "-db", "mariadb-galera-credentials") == galera
    assert data(core, prefix + "-web", "wordpress-credentials") == wordpress
    assert (fresh_dir / "mariadb-root-password").read_text().strip() == galera["root-password"]
    assert (fresh_dir / "wordpress-auth-key").read_text().strip() == wordpress["auth-key"]

    # Rotation is explicit: the salts change, the passwords stay.
    assert play(prefix, fresh_dir, "wordpress_rotate_secrets=true")[0] >= 1
    rotated = data(core, prefix + "-web", "wordpress-credentials")
    assert rotated["db-password"] == wordpress["db-password"] and rotated["admin-password"] == wordpress["admin-password"]
    assert all(rotated[k] != wordpress[k] for k in rotated if k not in ("db-password", "admin-password"))
    assert data(core, prefix + "-db", "mariadb-galera-credentials") == galera
