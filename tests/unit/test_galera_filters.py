"""Unit tests of plugins/filter/galera.py (bootstrap and writer decisions), and of the shell
rule in roles/mariadb_galera/files/galera-start.sh, which must decide exactly the same."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

from ansible_collections.orchestrate.platform.plugins.filter.galera import (
    ZERO_UUID,
    FilterModule,
    GaleraDecisionError,
    galera_bootstrap_candidate,
    galera_grastate,
    galera_member_state,
    galera_recovered,
    galera_should_bootstrap,
    galera_writer,
    ordinal,
)
from project import ROOT

START_SCRIPT = ROOT / "roles/mariadb_galera/files/galera-start.sh"
UUID_A = "8bcf4a34-aedb-11ec-8a2c-2b1b8f6e1f0a"
UUID_B = "2c1d9e88-aedb-11ec-9f3e-7a4b1c2d3e4f"
MEMBERS = ["mariadb-galera-0", "mariadb-galera-1", "mariadb-galera-2"]


def member(index: int, seqno: int, uuid: str = UUID_A, safe: bool = False) -> Dict[str, Any]:
    return {"name": "mariadb-galera-%d" % index, "uuid": uuid, "seqno": seqno, "safe_to_bootstrap": safe}


GRASTATE_CLEAN = """# GALERA saved state
version: 2.1
uuid:    8bcf4a34-aedb-11ec-8a2c-2b1b8f6e1f0a
seqno:   1234
safe_to_bootstrap: 1
"""

GRASTATE_CRASHED = """# GALERA saved state
version: 2.1
uuid:    8bcf4a34-aedb-11ec-8a2c-2b1b8f6e1f0a
seqno:   -1
safe_to_bootstrap: 0
"""

RECOVER_LOG = """2026-11-28  2:00:01 0 [Note] InnoDB: Starting crash recovery from checkpoint LSN=4711
2026-11-28  2:00:02 0 [Note] WSREP: Recovered position: 8bcf4a34-aedb-11ec-8a2c-2b1b8f6e1f0a:1290
"""

# (states, expected winner) shared by the Python filter and the shell rule.
CASES = [
    pytest.param([member(0, 10), member(1, 12), member(2, 11)], "mariadb-galera-1", id="highest-seqno"),
    pytest.param([member(0, 12), member(1, 12), member(2, 12, safe=True)], "mariadb-galera-2", id="tie-safe-to-bootstrap"),
    pytest.param([member(0, 12), member(1, 12), member(2, 12)], "mariadb-galera-0", id="tie-lowest-ordinal"),
    pytest.param([member(2, 12), member(1, 12), member(0, 11)], "mariadb-galera-1", id="tie-lowest-ordinal-unsorted"),
    pytest.param([member(0, 7, safe=True), member(1, 9), member(2, 8)], "mariadb-galera-1", id="seqno-beats-safe-flag"),
    pytest.param([member(i, -1, ZERO_UUID) for i in range(3)], "mariadb-galera-0", id="fresh-cluster"),
    pytest.param([member(0, -1, ZERO_UUID), member(1, 40), member(2, 41)], "mariadb-galera-2", id="empty-member-joins-history"),
    pytest.param([member(0, 3), member(10, 3), member(9, 3)], "mariadb-galera-0", id="ordinal-is-numeric"),
    pytest.param([member(1, 3), member(10, 3), member(9, 3)], "mariadb-galera-1", id="ordinal-1-before-9-and-10"),
]

# (states, members whose position is unknown, the member a forced bootstrap would use): no member
# may bootstrap by itself, in the Python filter and in the shell rule alike (fail closed).
BLOCKED = [
    pytest.param([member(0, -1, safe=True), member(1, 5), member(2, -1)], ["mariadb-galera-0", "mariadb-galera-2"],
                 "mariadb-galera-1", id="history-but-seqno-unknown"),
    pytest.param([member(i, -1) for i in (2, 1, 0)], ["mariadb-galera-0", "mariadb-galera-1", "mariadb-galera-2"],
                 "mariadb-galera-0", id="all-unknown"),
    pytest.param([member(0, 10), dict(member(1, -1), position_known=False), member(2, 12)], ["mariadb-galera-1"],
                 "mariadb-galera-2", id="recovery-failed-on-one"),
    pytest.param([member(0, 7), dict(member(1, -1, ZERO_UUID), position_known="0"), member(2, 7)], ["mariadb-galera-1"],
                 "mariadb-galera-0", id="data-without-grastate-and-recovery-failed"),
]


# -- parsing ----------------------------------------------------------------------------------


def test_grastate_of_a_clean_shutdown() -> None:
    assert galera_grastate(GRASTATE_CLEAN) == {"uuid": UUID_A, "seqno": 1234, "safe_to_bootstrap": True}


@pytest.mark.parametrize("text", ["", None, "garbage\n", "uuid: not-a-uuid\nseqno: x\n"])
def test_missing_or_broken_grastate_is_a_member_without_history(text: Optional[str]) -> None:
    assert galera_grastate(text) == {"uuid": ZERO_UUID, "seqno": -1, "safe_to_bootstrap": False}


def test_recovered_position_takes_the_last_line() -> None:
    log = RECOVER_LOG + "... WSREP: Recovered position: %s:1300\n" % UUID_A
    assert galera_recovered(log) == {"uuid": UUID_A, "seqno": 1300}
    assert galera_recovered("no position here") is None


def test_member_state_uses_the_recovered_seqno_after_a_crash() -> None:
    state = galera_member_state("mariadb-galera-1", GRASTATE_CRASHED, RECOVER_LOG)
    assert state == {"name": "mariadb-galera-1", "uuid": UUID_A, "seqno": 1290, "safe_to_bootstrap": False, "position_known": True}


def test_member_state_after_a_crash_without_a_recovered_position_is_unknown() -> None:
    state = galera_member_state("mariadb-galera-1", GRASTATE_CRASHED, "InnoDB: Invalid redo log header\n")
    assert (state["uuid"], state["seqno"], state["position_known"]) == (UUID_A, -1, False)


def test_member_state_keeps_a_clean_seqno_and_ignores_the_log() -> None:
    assert galera_member_state("m-0", GRASTATE_CLEAN, RECOVER_LOG)["seqno"] == 1234


def test_member_state_without_any_data() -> None:
    assert galera_member_state("m-0", None, None)["seqno"] == -1


@pytest.mark.parametrize("name, value", [("mariadb-galera-0", 0), ("db-12", 12), ("nodigits", 1 << 30)])
def test_ordinal(name: str, value: int) -> None:
    assert ordinal(name) == value


# -- bootstrap decision -------------------------------------------------------------------------


@pytest.mark.parametrize("states, winner", CASES)
def test_bootstrap_candidate(states: List[Dict[str, Any]], winner: str) -> None:
    assert galera_bootstrap_candidate(states)["member"] == winner


@pytest.mark.parametrize("states, unknown, forced", BLOCKED)
def test_an_unknown_position_blocks_the_automatic_bootstrap(states: List[Dict[str, Any]], unknown: List[str], forced: str) -> None:
    decision = galera_bootstrap_candidate(states, MEMBERS)
    assert decision["complete"] is True
    assert decision["automatic"] is False and decision["unknown"] == unknown
    assert decision["member"] == forced
    assert "unknown" in decision["reason"] and all(name in decision["reason"] for name in unknown)
    assert not any(galera_should_bootstrap(name, states, MEMBERS) for name in MEMBERS)


def test_complete_and_missing_members() -> None:
    decision = galera_bootstrap_candidate([member(0, 5), member(2, 4)], MEMBERS)
    assert decision["member"] == "mariadb-galera-0"
    assert decision["complete"] is False and decision["missing"] == ["mariadb-galera-1"]
    assert decision["automatic"] is False
    assert galera_bootstrap_candidate([member(i, 5) for i in range(3)], MEMBERS)["complete"] is True


def test_should_bootstrap_only_with_every_member_and_only_the_winner() -> None:
    everyone = [member(0, 5), member(1, 9), member(2, 7)]
    assert galera_should_bootstrap("mariadb-galera-1", everyone, MEMBERS)
    assert not galera_should_bootstrap("mariadb-galera-0", everyone, MEMBERS)
    assert not galera_should_bootstrap("mariadb-galera-1", everyone[:2], MEMBERS)


def test_reasons_explain_the_choice() -> None:
    assert "highest committed seqno 12" in galera_bootstrap_candidate([member(0, 10), member(1, 12)])["reason"]
    tie = galera_bootstrap_candidate([member(0, 12), member(1, 12, safe=True)])
    assert "tie of 2" in tie["reason"] and "safe_to_bootstrap" in tie["reason"]
    fresh = galera_bootstrap_candidate([member(i, -1, ZERO_UUID) for i in range(3)])
    assert fresh["fresh"] and "new cluster" in fresh["reason"]


def test_different_histories_are_refused() -> None:
    with pytest.raises(GaleraDecisionError, match="different cluster histories"):
        galera_bootstrap_candidate([member(0, 10, UUID_A), member(1, 12, UUID_B)])


@pytest.mark.parametrize("states", [[], [member(0, 1), member(0, 2)], [{"uuid": UUID_A, "seqno": 1}]])
def test_unusable_inputs_are_refused(states: List[Dict[str, Any]]) -> None:
    with pytest.raises(GaleraDecisionError):
        galera_bootstrap_candidate(states)


def test_string_values_from_shell_output_are_accepted() -> None:
    states = [{"name": "m-0", "uuid": UUID_A.upper(), "seqno": "12", "safe_to_bootstrap": "1"},
              {"name": "m-1", "uuid": UUID_A, "seqno": " 12 ", "safe_to_bootstrap": "0"}]
    assert galera_bootstrap_candidate(states)["member"] == "m-0"


# -- writer -----------------------------------------------------------------------------------------


def ready(*flags: bool) -> List[Dict[str, Any]]:
    return [{"name": "mariadb-galera-%d" % i, "ready": flag} for i, flag in enumerate(flags)]


def test_writer_is_the_lowest_ready_ordinal() -> None:
    assert galera_writer(ready(True, True, True)) == "mariadb-galera-0"
    assert galera_writer(ready(False, True, True)) == "mariadb-galera-1"


def test_writer_stays_while_ready_and_moves_when_not() -> None:
    assert galera_writer(ready(True, True, True), current="mariadb-galera-2") == "mariadb-galera-2"
    assert galera_writer(ready(True, True, False), current="mariadb-galera-2") == "mariadb-galera-0"
    assert galera_writer(ready(True, True, True), current="gone-7") == "mariadb-galera-0"


def test_no_writer_without_a_ready_member() -> None:
    assert galera_writer(ready(False, False, False)) is None
    assert galera_writer([]) is None


def test_filters_are_registered() -> None:
    assert set(FilterModule().filters()) == {
        "galera_grastate", "galera_recovered", "galera_member_state",
        "galera_bootstrap_candidate", "galera_should_bootstrap", "galera_writer",
    }


# -- the shell rule of the container entry script decides the same --------------------------------


def shell(function: str, stdin: str = "", *args: str, env: Optional[Dict[str, str]] = None) -> str:
    bash = shutil.which("bash")
    if not bash:
        pytest.skip("bash is not installed")
    command = 'source "$1"; shift; "$@"'
    result = subprocess.run([bash, "-c", command, "galera", str(START_SCRIPT), function, *args], input=stdin,
                            capture_output=True, text=True, check=True, env=env, timeout=30)
    return result.stdout.strip()


def as_lines(states: List[Dict[str, Any]]) -> str:
    return "".join("%s %s %s %d %s\n" % (s["name"], s["uuid"], s["seqno"], 1 if s["safe_to_bootstrap"] else 0,
                                         "0" if str(s.get("position_known", "1")).lower() in ("0", "false") else "1")
                   for s in states)


@pytest.mark.parametrize("states, winner", CASES)
def test_shell_rule_matches_the_filter(states: List[Dict[str, Any]], winner: str) -> None:
    assert shell("choose_bootstrap", as_lines(states)) == winner == galera_bootstrap_candidate(states)["member"]


@pytest.mark.parametrize("states, unknown, forced", BLOCKED)
def test_shell_rule_refuses_an_unknown_position(states: List[Dict[str, Any]], unknown: List[str], forced: str) -> None:
    answer = shell("choose_bootstrap", as_lines(states))
    assert answer.startswith("ERROR") and "unknown" in answer, answer
    assert all(name in answer for name in unknown)
    assert not galera_bootstrap_candidate(states)["automatic"]


def test_shell_rule_refuses_different_histories() -> None:
    assert shell("choose_bootstrap", as_lines([member(0, 10, UUID_A), member(1, 12, UUID_B)])).startswith("ERROR")


def test_shell_local_state_reads_grastate(tmp_path: Path) -> None:
    (tmp_path / "grastate.dat").write_text(GRASTATE_CLEAN)
    env = {"PATH": "/usr/bin:/bin", "GALERA_DATADIR": str(tmp_path), "GALERA_RUN_DIR": str(tmp_path), "POD_NAME": "mariadb-galera-2"}
    assert shell("local_state", env=env) == "mariadb-galera-2 %s 1234 1 1" % UUID_A


def test_shell_local_state_of_an_empty_member(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "GALERA_DATADIR": str(tmp_path), "GALERA_RUN_DIR": str(tmp_path), "POD_NAME": "mariadb-galera-0"}
    assert shell("local_state", env=env) == "mariadb-galera-0 %s -1 0 1" % ZERO_UUID


def test_shell_local_state_recovers_the_seqno_after_a_crash(tmp_path: Path) -> None:
    # A stand-in for mariadbd --wsrep-recover that writes the log the real one writes.
    (tmp_path / "bin").mkdir()
    fake = tmp_path / "bin" / "mariadbd"
    fake.write_text('#!/bin/sh\nfor a; do case "$a" in --log-error=*) cat > "${a#--log-error=}" <<EOF\n%sEOF\n;; esac; done\n' % RECOVER_LOG)
    fake.chmod(0o755)
    (tmp_path / "grastate.dat").write_text(GRASTATE_CRASHED)
    (tmp_path / "mysql").mkdir()
    env = {"PATH": "%s:/usr/bin:/bin" % (tmp_path / "bin"), "GALERA_DATADIR": str(tmp_path), "GALERA_RUN_DIR": str(tmp_path),
           "POD_NAME": "mariadb-galera-1"}
    assert shell("local_state", env=env) == "mariadb-galera-1 %s 1290 0 1" % UUID_A
    python = galera_member_state("mariadb-galera-1", GRASTATE_CRASHED, RECOVER_LOG)
    assert (python["uuid"], python["seqno"]) == (UUID_A, 1290)


def fake_mariadbd(tmp_path: Path, log: str, status: int = 0) -> Path:
    """A stand-in for mariadbd --wsrep-recover that writes `log` where --log-error points and exits with `status`."""
    (tmp_path / "bin").mkdir(exist_ok=True)
    fake = tmp_path / "bin" / "mariadbd"
    fake.write_text('#!/bin/sh\nfor a; do case "$a" in --log-error=*) cat > "${a#--log-error=}" <<EOF\n%sEOF\n;; esac; done\nexit %d\n'
                    % (log, status))
    fake.chmod(0o755)
    return tmp_path / "bin"


@pytest.mark.parametrize("log, status", [("InnoDB: Invalid redo log header\n", 1), ("InnoDB: started\n", 0)], ids=["fails", "no-position"])
def test_shell_local_state_of_an_unrecoverable_member_is_unknown_and_ignores_a_stale_log(tmp_path: Path, log: str, status: int) -> None:
    """--wsrep-recover fails or prints nothing: position_known 0, whatever an earlier run left in the
    (restart-surviving) run directory's recovery log."""
    bindir = fake_mariadbd(tmp_path, log, status)
    (tmp_path / "wsrep-recover.log").write_text(RECOVER_LOG)  # a stale log of an earlier start
    (tmp_path / "grastate.dat").write_text(GRASTATE_CRASHED)
    (tmp_path / "mysql").mkdir()
    env = {"PATH": "%s:/usr/bin:/bin" % bindir, "GALERA_DATADIR": str(tmp_path), "GALERA_RUN_DIR": str(tmp_path),
           "POD_NAME": "mariadb-galera-1"}
    line = shell("local_state", env=env)
    assert line == "mariadb-galera-1 %s -1 0 0" % UUID_A
    name, uuid, seqno, safe, known = line.split()
    assert not galera_bootstrap_candidate([{"name": name, "uuid": uuid, "seqno": seqno, "safe_to_bootstrap": safe,
                                            "position_known": known}, member(0, 5), member(2, 6)])["automatic"]


def test_entry_script_bootstraps_a_lone_member_and_writes_its_config(tmp_path: Path) -> None:
    """The whole main() path for one member: no peer runs, every member (itself) reported, so it
    bootstraps through the image's entrypoint with --wsrep-new-cluster (fakes stand in for socat
    and docker-entrypoint.sh)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "socat").write_text("#!/bin/sh\nexec sleep 30\n")
    (bindir / "docker-entrypoint.sh").write_text('#!/bin/sh\necho "$@" > "%s"\n' % (tmp_path / "started"))
    for tool in bindir.iterdir():
        tool.chmod(0o755)
    (tmp_path / "grastate.dat").write_text(GRASTATE_CLEAN.replace("safe_to_bootstrap: 1", "safe_to_bootstrap: 0"))
    secret = tmp_path / "sst-password"
    secret.write_text("secret")
    env = {"PATH": "%s:/usr/bin:/bin" % bindir, "GALERA_DATADIR": str(tmp_path), "GALERA_RUN_DIR": str(tmp_path),
           "POD_NAME": "db-0", "POD_NAMESPACE": "mariadb", "POD_IP": "10.0.0.5", "GALERA_STATEFULSET": "db",
           "GALERA_SERVICE": "db-peers", "GALERA_REPLICAS": "1", "GALERA_CLUSTER_DOMAIN": "cluster.local",
           "GALERA_SST_PASSWORD_FILE": str(secret), "GALERA_POLL_SECONDS": "1", "GALERA_EXCHANGE_PORT": "1"}
    result = subprocess.run(["bash", str(START_SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    runtime = tmp_path / "conf.d" / "99-runtime.cnf"
    assert (tmp_path / "started").read_text().split() == [
        "mariadbd", "--defaults-extra-file=%s" % runtime, "--datadir=%s" % tmp_path, "--wsrep-new-cluster"]
    assert (tmp_path / "galera-phase").read_text().strip() == "bootstrap"
    assert "safe_to_bootstrap: 1" in (tmp_path / "grastate.dat").read_text()
    assert runtime.stat().st_mode & 0o777 == 0o600
    assert "wsrep_sst_auth=mariabackup:secret" in runtime.read_text()
    assert "wsrep_cluster_address=gcomm://db-0.db-peers.mariadb.svc.cluster.local" in runtime.read_text()
    assert "has the most recent state" in result.stderr


FAKE_SOCAT = r'''#!/usr/bin/env python3
# Stand-in for `socat -T 5 TCP-LISTEN:<port>,bind=<ip>,reuseaddr,fork SYSTEM:cat <file>`.
import socket, sys
listen = dict(p.split("=", 1) for p in sys.argv[3].split(",")[1:] if "=" in p)
port = int(sys.argv[3].split(",")[0].split(":")[1])
path = sys.argv[4].split(" ", 1)[1]
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((listen["bind"], port))
server.listen(8)
while True:
    conn, _ = server.accept()
    with open(path, "rb") as handle:
        conn.sendall(handle.read())
    conn.close()
'''

FAKE_ENTRYPOINT = r'''#!/usr/bin/env python3
# Stand-in for the image's docker-entrypoint.sh: records how mariadbd was started; a member
# that bootstraps keeps the Galera port open for a while, as a running cluster would.
import os, socket, sys, time
with open(os.environ["GALERA_RUN_DIR"] + "/started", "w") as handle:
    handle.write(" ".join(sys.argv[1:]))
if "--wsrep-new-cluster" in sys.argv:
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((os.environ["POD_IP"], int(os.environ["GALERA_GCOMM_PORT"])))
    server.listen(8)
    server.settimeout(1)
    end = time.time() + float(os.environ.get("FAKE_GALERA_SECONDS", "8"))
    while time.time() < end:
        try:
            server.accept()[0].close()
        except OSError:
            pass
'''


def start_members(tmp_path: Path, seqnos: Dict[int, int], ports: tuple) -> List[subprocess.Popen]:
    """One entry-script process per member, on 127.0.0.<ordinal + 1>, with fakes for socat and
    the image's entrypoint; member addresses become loopback addresses, everything else is the
    script as shipped."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    (bindir / "socat").write_text(FAKE_SOCAT)
    (bindir / "docker-entrypoint.sh").write_text(FAKE_ENTRYPOINT)
    for tool in bindir.iterdir():
        tool.chmod(0o755)
    processes = []
    secret = tmp_path / "sst-password"
    secret.write_text("secret")
    for index, seqno in seqnos.items():
        home = tmp_path / ("db-%d" % index)
        home.mkdir()
        (home / "grastate.dat").write_text(GRASTATE_CLEAN.replace("1234", str(seqno)).replace("safe_to_bootstrap: 1", "safe_to_bootstrap: 0"))
        env = {"PATH": "%s:/usr/bin:/bin" % bindir, "GALERA_DATADIR": str(home), "GALERA_RUN_DIR": str(home),
               "POD_NAME": "db-%d" % index, "POD_NAMESPACE": "mariadb", "POD_IP": "127.0.0.%d" % (index + 1),
               "GALERA_STATEFULSET": "db", "GALERA_SERVICE": "db-peers", "GALERA_REPLICAS": "3",
               "GALERA_CLUSTER_DOMAIN": "cluster.local", "GALERA_SST_PASSWORD_FILE": str(secret), "GALERA_POLL_SECONDS": "1",
               "GALERA_EXCHANGE_PORT": str(ports[0]), "GALERA_GCOMM_PORT": str(ports[1])}
        command = 'source "$1"; member_host() { echo "127.0.0.$(( ${1##*-} + 1 ))"; }; main'
        processes.append(subprocess.Popen(["bash", "-c", command, "galera", str(START_SCRIPT)], env=env,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return processes


def test_three_members_after_a_full_outage_bootstrap_from_the_highest_seqno(tmp_path: Path) -> None:
    """The state exchange between three real processes on 127.0.0.1-3: every member publishes its
    state, all agree on the member with the highest seqno, it bootstraps, the others join it."""
    seqnos = {0: 10, 1: 12, 2: 11}
    processes = start_members(tmp_path, seqnos, ports=(14444, 14567))
    outputs = []
    for process in processes:
        try:
            outputs.append(process.communicate(timeout=90))
        finally:
            process.kill()
    logs = "\n".join(err for _, err in outputs)
    started = {i: (tmp_path / ("db-%d" % i) / "started").read_text().split()[-1] for i in seqnos}
    assert started == {0: "--datadir=%s" % (tmp_path / "db-0"), 1: "--wsrep-new-cluster", 2: "--datadir=%s" % (tmp_path / "db-2")}, logs
    assert "safe_to_bootstrap: 1" in (tmp_path / "db-1" / "grastate.dat").read_text()
    assert "db-1 runs Galera: joining the cluster" in logs


def test_a_missing_member_blocks_the_bootstrap_until_an_operator_forces_it(tmp_path: Path) -> None:
    """Two of three members: nobody bootstraps on its own (the missing one may hold the newest
    transactions); the force file written by galera_recover.yml makes the chosen one bootstrap."""
    processes = start_members(tmp_path, {0: 10, 1: 12}, ports=(15444, 15567))
    try:
        time.sleep(6)
        assert not any((tmp_path / name / "started").exists() for name in ("db-0", "db-1"))
        (tmp_path / "db-1" / "galera-force-bootstrap").write_text("test")
        outputs = [process.communicate(timeout=60) for process in processes]
    finally:
        for process in processes:
            process.kill()
    logs = "\n".join(err for _, err in outputs)
    assert "2 of 3 members reported" in logs
    assert (tmp_path / "db-1" / "started").read_text().split()[-1] == "--wsrep-new-cluster", logs
    assert "--wsrep-new-cluster" not in (tmp_path / "db-0" / "started").read_text(), logs


# -- the writer elector (roles/mariadb_galera/files/galera-writer.py) ------------------------------


@pytest.fixture()
def elector(monkeypatch: pytest.MonkeyPatch) -> Any:
    import importlib.util
    import sys

    path = ROOT / "roles/mariadb_galera/files/galera-writer.py"
    # The elector imports `galera` from its own directory in the pod; here it is the plugin.
    from ansible_collections.orchestrate.platform.plugins.filter import galera

    monkeypatch.setitem(sys.modules, "galera", galera)
    spec = importlib.util.spec_from_file_location("galera_writer_under_test", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pod(name: str, ready: bool, writer: bool = False, deleting: bool = False) -> Dict[str, Any]:
    metadata: Dict[str, Any] = {"name": name, "labels": {"orchestrate.platform/galera-writer": "true"} if writer else {}}
    if deleting:
        metadata["deletionTimestamp"] = "2026-11-28T02:00:00Z"
    return {"metadata": metadata, "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def run_round(elector: Any, pods: List[Dict[str, Any]]) -> List[tuple]:
    calls: List[tuple] = []

    def call(method: str, path: str, body: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        calls.append((method, path.rsplit("/", 1)[-1], body))
        return {"items": pods} if method == "GET" else {}

    elector.call = call
    elector.elect_once()
    return [(c[1], c[2]["metadata"]["labels"]["orchestrate.platform/galera-writer"]) for c in calls if c[0] == "PATCH"]


def test_elector_labels_the_first_ready_member(elector: Any) -> None:
    assert run_round(elector, [pod("db-0", True), pod("db-1", True), pod("db-2", True)]) == [("db-0", "true")]


def test_elector_keeps_a_ready_writer(elector: Any) -> None:
    assert run_round(elector, [pod("db-0", True), pod("db-1", True, writer=True), pod("db-2", True)]) == []


def test_elector_removes_the_old_label_before_setting_the_new_one(elector: Any) -> None:
    patches = run_round(elector, [pod("db-0", False, writer=True), pod("db-1", True), pod("db-2", True)])
    assert patches == [("db-0", None), ("db-1", "true")]


def test_elector_treats_a_terminating_writer_as_gone(elector: Any) -> None:
    patches = run_round(elector, [pod("db-0", True, writer=True, deleting=True), pod("db-1", True)])
    assert patches == [("db-0", None), ("db-1", "true")]


def test_elector_leaves_no_writer_when_nobody_is_ready_and_fixes_two_writers(elector: Any) -> None:
    assert run_round(elector, [pod("db-0", False, writer=True), pod("db-1", False)]) == [("db-0", None)]
    assert run_round(elector, [pod("db-0", True, writer=True), pod("db-1", True, writer=True)]) == [("db-1", None)]
