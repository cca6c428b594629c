"""The HA test's writer (roles/ha_test/files/ha-writer.sh) against a real MariaDB server
(Debian's mariadbd on loopback, started by the test): numbered writes are acknowledged, a
server restart in the middle shows as unacknowledged writes and loses no acknowledged one, and
a row removed behind the writer's back is caught by the integrity check."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Dict, Iterator, List

import pytest

from ansible_collections.orchestrate.platform.plugins.module_utils.ha_metrics import integrity
from ansible_collections.orchestrate.platform.plugins.module_utils.ha_probe import Log, ReadBack, Write, parse_lines
from project import ROOT

WRITER = ROOT / "roles/ha_test/files/ha-writer.sh"
PASSWORD = "HaTestPassword123"

pytestmark = pytest.mark.skipif(not (shutil.which("mariadbd") or Path("/usr/sbin/mariadbd").exists())
                                or not shutil.which("mariadb-install-db"),
                                reason="Debian's mariadb-server is not installed (scripts/install-system-deps.sh installs it)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, home: Path) -> None:
        self.home, self.port = home, free_port()
        self.data, self.sock = home / "data", home / "mysqld.sock"
        self.proc: subprocess.Popen | None = None

    def install(self) -> None:
        subprocess.run(["mariadb-install-db", "--no-defaults", "--datadir=%s" % self.data, "--user=root",
                        "--auth-root-authentication-method=socket", "--skip-test-db"],
                       check=True, capture_output=True, timeout=180)

    def start(self) -> None:
        mariadbd = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
        self.proc = subprocess.Popen([mariadbd, "--no-defaults", "--datadir=%s" % self.data, "--socket=%s" % self.sock,
                                      "--port=%d" % self.port, "--bind-address=127.0.0.1", "--user=root",
                                      "--pid-file=%s" % (self.home / "mysqld.pid"), "--skip-log-bin",
                                      "--innodb-buffer-pool-size=16M", "--log-error=%s" % (self.home / "error.log")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.sql("SELECT 1").returncode == 0:
                return
            time.sleep(0.3)
        raise AssertionError("mariadbd did not start: %s" % (self.home / "error.log").read_text()[-2000:])

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.terminate()
        self.proc.wait(60)

    def sql(self, statement: str) -> subprocess.CompletedProcess:
        return subprocess.run(["mariadb", "--no-defaults", "--socket=%s" % self.sock, "-uroot", "-N", "-B", "-e", statement],
                              capture_output=True, text=True, timeout=30)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    found = Server(tmp_path_factory.mktemp("mariadb"))
    found.install()
    found.start()
    created = found.sql("CREATE DATABASE ha_test; CREATE USER 'ha_test'@'127.0.0.1' IDENTIFIED BY '%s';"
                        " GRANT CREATE, INSERT, SELECT ON ha_test.* TO 'ha_test'@'127.0.0.1';" % PASSWORD)
    assert created.returncode == 0, created.stderr
    yield found
    if found.proc and found.proc.poll() is None:
        found.stop()


def writer(server: Server, tmp: Path, run: str, count: int, interval: float = 0.05) -> subprocess.Popen:
    (tmp / "password").write_text(PASSWORD)
    env: Dict[str, str] = dict(os.environ, WRITER_TARGET="mariadb", WRITER_RUN=run, WRITER_HOST="127.0.0.1",
                               WRITER_PORT=str(server.port), WRITER_USER="ha_test", WRITER_DATABASE="ha_test",
                               WRITER_PASSWORD_FILE=str(tmp / "password"), WRITER_COUNT=str(count),
                               WRITER_INTERVAL=str(interval), WRITER_TIMEOUT="2", WRITER_SETUP_TRIES="20",
                               WRITER_READBACK_TRIES="60", WRITER_STOP_FILE=str(tmp / "stop"))
    return subprocess.Popen(["/bin/bash", str(WRITER)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def events(proc: subprocess.Popen) -> Log:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return Log(parse_lines(out.splitlines()))


def test_every_write_acknowledged_and_read_back(server: Server, tmp_path: Path) -> None:
    log = events(writer(server, tmp_path, "steady", 20))
    writes: List[Write] = log.writes()
    assert [w.seq for w in writes] == list(range(20)) and all(w.ok for w in writes)
    assert all(0 <= w.latency < 2 for w in writes) and all(b.mono > a.mono for a, b in zip(writes, writes[1:]))
    check = integrity(writes, log.readbacks())
    assert check.ok and check.acknowledged == 20 and check.read_back == 20


def test_a_restart_in_the_middle_loses_no_acknowledged_write(server: Server, tmp_path: Path) -> None:
    proc = writer(server, tmp_path, "restart", 10_000, interval=0.05)
    time.sleep(2.0)
    server.stop()
    time.sleep(2.0)
    server.start()
    time.sleep(2.0)
    (tmp_path / "stop").touch()
    log = events(proc)
    writes = log.writes()
    failed = [w for w in writes if not w.ok]
    assert failed, "no write failed while the server was down"
    assert len(writes) - len(failed) > 10 and writes[-1].ok
    assert all(w.error for w in failed)
    check = integrity(writes, log.readbacks())
    assert check.ok, check.lost


def test_a_row_removed_behind_the_writers_back_is_caught(server: Server, tmp_path: Path) -> None:
    first = events(writer(server, tmp_path, "tampered", 5))
    assert server.sql("DELETE FROM ha_test.writes WHERE run = 'tampered' AND seq = 2").returncode == 0
    again = events(writer(server, tmp_path, "tampered", 0))
    readback: List[ReadBack] = again.readbacks()
    assert readback[0].seqs == [0, 1, 3, 4]
    assert integrity(first.writes(), readback).lost == [2]
