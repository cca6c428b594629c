"""The gcs target's upload and download steps (roles/mariadb_galera/files/backup-*.sh) run with
a stand-in `rclone` on PATH that keeps ":gcs:<bucket>/<path>" in a local directory. This checks
the scripts' own logic (which file goes up, the size check, which backup "latest" is, the
errors); rclone's GCS backend itself is not exercised here."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Dict

import pytest

from project import ROLES

FILES = ROLES / "mariadb_galera" / "files"
# The stand-in: copyto and lsf (--files-only, --include, --format s), nothing else.
FAKE_RCLONE = r'''#!/usr/bin/env python3
import fnmatch, os, shutil, sys
store = os.environ["FAKE_GCS"]
def local(p):
    return os.path.join(store, p[len(":gcs:"):]) if p.startswith(":gcs:") else p
args = sys.argv[1:]
if args[0] == "copyto":
    src, dst = local(args[1]), local(args[2])
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if os.environ.get("FAKE_TRUNCATE"):
        open(dst, "wb").write(open(src, "rb").read()[:1])
    else:
        shutil.copyfile(src, dst)
elif args[0] == "lsf":
    target = local(next(a for a in args[1:] if a.startswith(":gcs:")))
    include = args[args.index("--include") + 1] if "--include" in args else "*"
    if "--format" in args:
        print(os.path.getsize(target)) if os.path.isfile(target) else None
    elif os.path.isdir(target):
        for name in sorted(os.listdir(target)):
            if fnmatch.fnmatch(name, include):
                print(name)
else:
    sys.exit("unexpected rclone %s" % args)
'''


@pytest.fixture()
def env(tmp_path: Path) -> Dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "rclone").write_text(FAKE_RCLONE)
    (bin_dir / "rclone").chmod(0o755)
    (tmp_path / "gcs").mkdir()
    (tmp_path / "backup").mkdir()
    return dict(os.environ, PATH="%s:%s" % (bin_dir, os.environ["PATH"]), FAKE_GCS=str(tmp_path / "gcs"),
                BACKUP_DIR=str(tmp_path / "backup"), BACKUP_PREFIX="mariadb-galera", BACKUP_BUCKET="acme",
                BACKUP_BUCKET_PATH="mariadb-galera")


def run(script: str, env: Dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["/bin/sh", str(FILES / script), *args], env=env, capture_output=True, text=True, check=False)


def test_upload_copies_the_dump_and_checks_its_size(env: Dict[str, str]) -> None:
    dump = Path(env["BACKUP_DIR"]) / "mariadb-galera-20261201T021700Z.sql.gz"
    dump.write_bytes(b"\x1f\x8b dump")
    result = run("backup-upload.sh", env)
    assert result.returncode == 0, result.stderr
    assert "UPLOADED=gs://acme/mariadb-galera/mariadb-galera-20261201T021700Z.sql.gz" in result.stdout
    assert (Path(env["FAKE_GCS"]) / "acme/mariadb-galera" / dump.name).read_bytes() == dump.read_bytes()


def test_upload_fails_on_a_short_object_or_a_missing_dump(env: Dict[str, str]) -> None:
    missing = run("backup-upload.sh", env)
    assert missing.returncode != 0 and "the dump step wrote nothing" in missing.stderr
    (Path(env["BACKUP_DIR"]) / "mariadb-galera-20261201T021700Z.sql.gz").write_bytes(b"0123456789")
    short = run("backup-upload.sh", dict(env, FAKE_TRUNCATE="1"))
    assert short.returncode != 0 and "has 1 bytes, the dump 10" in short.stderr


def test_download_takes_the_newest_or_the_named_backup(env: Dict[str, str]) -> None:
    folder = Path(env["FAKE_GCS"]) / "acme" / "mariadb-galera"
    folder.mkdir(parents=True)
    for stamp in ("20261129T021700Z", "20261201T021700Z", "20261130T021700Z"):
        (folder / ("mariadb-galera-%s.sql.gz" % stamp)).write_text(stamp)
    (folder / "other-20261231T000000Z.sql.gz").write_text("not ours")
    latest = run("backup-download.sh", env, "latest")
    assert latest.returncode == 0, latest.stderr
    assert "DOWNLOADED=mariadb-galera-20261201T021700Z.sql.gz" in latest.stdout
    named = run("backup-download.sh", env, "mariadb-galera-20261129T021700Z.sql.gz")
    assert named.returncode == 0 and (Path(env["BACKUP_DIR"]) / "mariadb-galera-20261129T021700Z.sql.gz").read_text() == "20261129T021700Z"


def test_download_fails_when_the_bucket_folder_has_no_backup(env: Dict[str, str]) -> None:
    result = run("backup-download.sh", env)
    assert result.returncode != 0 and "no backup mariadb-galera-*.sql.gz in gs://acme/mariadb-galera" in result.stderr
