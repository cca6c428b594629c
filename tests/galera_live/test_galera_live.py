"""The Galera entry logic, probes, recovery decision and backups of roles/mariadb_galera on live
MariaDB + Galera members (one per network namespace; see galera_harness.py for what is real and
what stands in for Kubernetes). The scenarios run in order on one cluster, as its life would go;
a writer inserts numbered rows through the member the writer rule picks during all of them, and
each scenario ends with every acknowledged row on every member.

Select them with `pytest -m galera_live`; they skip (saying why) where namespaces cannot be made.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Dict, List, Set

import pytest

from ansible_collections.orchestrate.platform.plugins.filter.galera import galera_bootstrap_candidate
from conftest import RESULTS
from galera_harness import Container, Manifests, Member, Network, Writer, container_env, container_of, fqdn, \
    materialise_volumes, wait_until

Cluster = Dict[str, Any]
SIZE = 3
SYNC_TIMEOUT = 120


def scenario(name: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    def mark(function: Callable[..., None]) -> Callable[..., None]:
        function.scenario = name  # type: ignore[attr-defined]
        return function
    return mark


def members_of(cluster: Cluster) -> List[Member]:
    return cluster["members"]


def wait_synced(members: List[Member], timeout: float = SYNC_TIMEOUT) -> float:
    """Seconds until every member is Primary, Synced and sees a cluster of SIZE; fails with the
    members' states when that does not happen in time."""
    start = time.time()

    def done() -> bool:
        dead = [m.name for m in members if not m.running()]
        assert not dead, "members exited: %s\n%s" % (dead, "\n".join(m.name + ":\n" + m.last_start_log()[-3000:] for m in members))
        return all(m.synced(SIZE) for m in members)

    if not wait_until(done, timeout, every=0.25):
        states = {m.name: {k: m.status().get(k) for k in ("wsrep_local_state_comment", "wsrep_cluster_size", "wsrep_cluster_status")}
                  for m in members}
        pytest.fail("not size %d Synced within %ds: %s\n%s" % (SIZE, timeout, states,
                                                               "\n".join(m.name + ":\n" + m.last_start_log()[-3000:] for m in members)))
    return time.time() - start


def rows_on(member: Member) -> Set[int]:
    result = member.sql("SELECT id FROM harness.writes", timeout=60)
    assert result.returncode == 0, result.stderr
    return {int(line) for line in result.stdout.split()}


def check_rows(cluster: Cluster, writer: Writer, figures: Dict[str, Any]) -> None:
    """Every acknowledged row is on every member (after the members applied what they received)."""
    members = members_of(cluster)
    with writer.lock:
        acked = set(writer.acked)
    wait_until(lambda: len({m.status().get("wsrep_last_committed") for m in members}) == 1, 20)
    missing = {m.name: sorted(acked - rows_on(m))[:20] for m in members}
    figures.update({"acked_rows": len(acked), "failed_inserts": writer.failed})
    assert not any(missing.values()), "acknowledged rows missing: %s" % missing


def state_uuid(member: Member) -> str:
    return member.status().get("wsrep_cluster_state_uuid", "")


def bootstraps(members: List[Member]) -> List[str]:
    return [m.name for m in members if "starting mariadbd (bootstrap" in m.last_start_log()]


def writes_continue(writer: Writer, seconds: float) -> None:
    before = len(writer.acked)
    time.sleep(seconds)
    assert len(writer.acked) > before, "the writer acknowledged nothing for %.0f s" % seconds


@scenario("1-first-start")
def test_first_start_one_member_bootstraps_the_others_join_by_sst(cluster: Cluster, writer: Writer) -> None:
    members = members_of(cluster)
    figures = RESULTS.scenario("1-first-start")
    start = time.time()
    for member in members:
        member.start()
    figures["seconds_to_synced"] = round(wait_synced(members, timeout=240), 1)
    assert bootstraps(members) == ["mariadb-galera-0"], "expected exactly mariadb-galera-0 to bootstrap a new cluster"
    kinds = {m.name: m.transfer() for m in members}
    figures["transfers"] = kinds
    assert kinds == {"mariadb-galera-0": "bootstrap", "mariadb-galera-1": "SST", "mariadb-galera-2": "SST"}, kinds
    uuids = {state_uuid(m) for m in members}
    assert len(uuids) == 1
    cluster["state_uuid"] = uuids.pop()
    figures["state_uuid"] = cluster["state_uuid"]
    result = members[0].sql("CREATE DATABASE harness; CREATE TABLE harness.writes (id INT PRIMARY KEY, member VARCHAR(32), "
                            "at TIMESTAMP(6) DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB")
    assert result.returncode == 0, result.stderr
    writer.start()
    assert wait_until(lambda: writer.current == "mariadb-galera-0", 20), writer.history
    writes_continue(writer, 3)
    figures["seconds"] = round(time.time() - start, 1)
    check_rows(cluster, writer, figures)


def restart_and_measure(member: Member, members: List[Member]) -> float:
    member.start()
    return round(wait_synced(members), 1)


def quiesce(cluster: Cluster, writer: Writer) -> None:
    """Pause the writer and wait until every member has applied the same last transaction."""
    writer.pause()
    members = members_of(cluster)
    assert wait_until(lambda: len({m.status().get("wsrep_last_committed") for m in members}) == 1, 30)


@scenario("2-kill-one-member")
def test_a_killed_member_rejoins_by_ist(cluster: Cluster, writer: Writer) -> None:
    members = members_of(cluster)
    figures = RESULTS.scenario("2-kill-one-member")
    victim = members[1]
    assert writer.current != victim.name
    victim.kill()
    assert wait_until(lambda: members[0].status().get("wsrep_cluster_size") == "2", 60), members[0].status()
    writes_continue(writer, 3)
    figures["seqno_in_grastate_after_kill"] = victim.grastate().get("seqno")
    figures["seconds_to_synced"] = restart_and_measure(victim, members)
    figures["transfer"] = victim.transfer()
    assert figures["transfer"] == "IST", victim.last_start_log()[-4000:]
    assert "from position" in victim.last_start_log(), "the recovered position was not handed to mariadbd"
    assert {state_uuid(m) for m in members} == {cluster["state_uuid"]}
    check_rows(cluster, writer, figures)


@scenario("3-rolling-restart")
def test_rolling_restart_one_member_at_a_time_the_writer_moves_by_the_rule(cluster: Cluster, writer: Writer) -> None:
    members = members_of(cluster)
    figures = RESULTS.scenario("3-rolling-restart")
    figures["steps"] = []
    for member in reversed(members):  # the StatefulSet's rolling update goes from the highest ordinal down
        was_writer = writer.current == member.name
        member.stop()
        if was_writer:
            assert wait_until(lambda: writer.current not in (None, member.name), 20), writer.history
        writes_continue(writer, 2)
        seconds = restart_and_measure(member, members)
        step = {"member": member.name, "was_writer": was_writer, "transfer": member.transfer(), "seconds_to_synced": seconds,
                "writer_after": writer.current}
        figures["steps"].append(step)
        assert step["transfer"] == "IST", member.last_start_log()[-4000:]
    # The writer left mariadb-galera-0 when it stopped and did not flap back when it returned; it
    # moves only when its member stops being ready (an IST donor may be briefly not Synced).
    figures["writer_history"] = [name for _, name in writer.history]
    assert writer.current not in (None, "mariadb-galera-0"), writer.history
    assert figures["writer_history"][-1] != "mariadb-galera-0" and "mariadb-galera-1" in figures["writer_history"]
    check_rows(cluster, writer, figures)


@scenario("4-full-outage")
def test_full_outage_the_highest_seqno_bootstraps_and_history_survives(cluster: Cluster, writer: Writer) -> None:
    members = members_of(cluster)
    figures = RESULTS.scenario("4-full-outage")
    behind = next(m for m in members if m.name != writer.current)
    behind.kill()  # one member first: the others go on without it, so the positions are uneven
    others = [m for m in members if m is not behind]
    assert wait_until(lambda: others[0].status().get("wsrep_cluster_size") == "2", 60)
    writes_continue(writer, 3)
    for member in others:
        member.kill()
    last_kill = time.time()
    seqnos = {m.name: m.grastate().get("seqno") for m in members}
    figures["grastate_seqno_after_kill"] = seqnos
    assert set(seqnos.values()) == {"-1"}, seqnos
    for member in members:
        member.start()
    last_start = time.time()
    wait_synced(members)
    figures["seconds_last_kill_to_synced"] = round(time.time() - last_kill, 1)
    figures["seconds_last_start_to_synced"] = round(time.time() - last_start, 1)
    published = {m.name: m.published_state() for m in members}
    figures["recovered_states"] = {name: " ".join(state[1:]) for name, state in published.items()}
    starters = bootstraps(members)
    assert len(starters) == 1, starters
    best = max(members, key=lambda m: int(published[m.name][2]))
    assert starters == [best.name] and best is not behind, (starters, published)
    assert int(published[behind.name][2]) < int(published[best.name][2]), published
    figures["bootstrapped"] = best.name
    figures["transfers"] = {m.name: m.transfer() for m in members}
    assert figures["transfers"][behind.name] == "IST", behind.last_start_log()[-4000:]
    assert all(figures["transfers"][m.name] in ("IST", "none") for m in members if m is not best), figures["transfers"]
    assert {state_uuid(m) for m in members} == {cluster["state_uuid"]}, "the cluster history did not survive the outage"
    assert figures["seconds_last_start_to_synced"] < 60
    check_rows(cluster, writer, figures)


@scenario("5-clean-shutdown")
def test_clean_shutdown_of_all_members_safe_to_bootstrap_decides(cluster: Cluster, writer: Writer) -> None:
    members = members_of(cluster)
    figures = RESULTS.scenario("5-clean-shutdown")
    quiesce(cluster, writer)
    order = [members[0], members[2], members[1]]
    for member in order:
        member.stop()
    states = {m.name: m.grastate() for m in members}
    figures["grastate_after_shutdown"] = {n: "%s safe_to_bootstrap=%s" % (s.get("seqno"), s.get("safe_to_bootstrap")) for n, s in states.items()}
    # A clean shutdown writes the committed seqno (each member's leave is an ordered event, so the
    # last member out also has the highest seqno) and marks only the last one safe_to_bootstrap.
    assert "-1" not in {s["seqno"] for s in states.values()}, states
    assert [n for n, s in states.items() if s.get("safe_to_bootstrap") == "1"] == [order[-1].name], states
    assert max(states, key=lambda n: int(states[n]["seqno"])) == order[-1].name, states
    for member in members:
        member.start()
    start = time.time()
    wait_synced(members)
    figures["seconds_to_synced"] = round(time.time() - start, 1)
    assert bootstraps(members) == [order[-1].name], "the member marked safe_to_bootstrap must bootstrap"
    figures["bootstrapped"] = order[-1].name
    assert {state_uuid(m) for m in members} == {cluster["state_uuid"]}
    writer.resume()
    writes_continue(writer, 2)
    check_rows(cluster, writer, figures)


def corrupt_redo_log(member: Member) -> None:
    log = member.data / "ib_logfile0"
    with log.open("r+b") as handle:
        handle.write(os.urandom(64 * 1024))


@scenario("6-fail-closed")
def test_unknown_position_blocks_the_bootstrap_until_an_operator_forces_it(cluster: Cluster, writer: Writer) -> None:
    members = members_of(cluster)
    figures = RESULTS.scenario("6-fail-closed")
    quiesce(cluster, writer)
    for member in members:
        member.kill()
    damaged = members[0]
    corrupt_redo_log(damaged)
    for member in members:
        member.start()
    time.sleep(20)
    assert not any("starting mariadbd" in m.last_start_log() for m in members), "a member started without an operator"
    assert all(m.running() for m in members)
    log = damaged.last_start_log()
    assert "--wsrep-recover failed" in log or "printed no position" in log, log[-3000:]
    assert damaged.published_state()[-1] == "0", damaged.published_state()
    waiting = [m for m in members if "position of %s is unknown" % damaged.name in m.last_start_log()]
    figures["members_saying_why"] = [m.name for m in waiting]
    assert len(waiting) == SIZE, [m.last_start_log()[-800:] for m in members]
    reports = [m.report() for m in members]
    decision = galera_bootstrap_candidate([r for r in reports if r.get("phase") == "exchange"], [m.name for m in members])
    figures["decision"] = {k: decision[k] for k in ("member", "automatic", "unknown", "reason")}
    assert decision["automatic"] is False and decision["unknown"] == [damaged.name]
    chosen = next(m for m in members if m.name == decision["member"])
    forced = chosen.exec(["/bin/bash", chosen.probe_script, "force-bootstrap", "galera-live operator"])
    assert forced.returncode == 0, forced.stderr
    start = time.time()
    wait_synced(members)
    figures["seconds_force_to_synced"] = round(time.time() - start, 1)
    assert bootstraps(members) == [chosen.name]
    figures["transfers"] = {m.name: m.transfer() for m in members}
    assert figures["transfers"][damaged.name] == "SST", damaged.last_start_log()[-3000:]
    assert {state_uuid(m) for m in members} == {cluster["state_uuid"]}
    writer.resume()
    writes_continue(writer, 2)
    check_rows(cluster, writer, figures)


@scenario("7-probes")
def test_probes_during_sst_when_not_synced_and_when_alive_but_not_joined(cluster: Cluster, writer: Writer) -> None:
    members = members_of(cluster)
    figures = RESULTS.scenario("7-probes")
    # (a) a joiner receiving a full SST (its volume replaced by an empty one): alive, not ready.
    joiner = members[2]
    joiner.stop()
    for child in joiner.data.iterdir():
        if child.is_dir():
            __import__("shutil").rmtree(child)
        else:
            child.unlink()
    joiner.start()
    samples = []
    deadline = time.time() + SYNC_TIMEOUT
    sst = joiner.data / ".sst"
    while time.time() < deadline and not joiner.synced(SIZE):
        before = sst.exists()
        alive, ready = joiner.probe("alive"), joiner.probe("ready")
        samples.append((before and sst.exists(), alive, ready))  # the transfer ran during both probes
        time.sleep(0.2)
    during_sst = [s for s in samples if s[0]]
    first = next((i for i, s in enumerate(samples) if s[0]), len(samples))
    figures["sst_samples"] = {"total": len(samples), "during_sst": len(during_sst),
                              "alive_during_sst": sum(1 for s in during_sst if s[1]), "ready_during_sst": sum(1 for s in during_sst if s[2]),
                              # after the snapshot is moved into place and before mariadbd answers: the
                              # startup probe (a restarted container runs it again) covers that gap
                              "not_alive_after_sst": sum(1 for s in samples[first:] if not s[0] and not s[1])}
    assert during_sst and all(s[1] for s in during_sst) and not any(s[2] for s in during_sst), samples
    wait_synced(members)
    assert joiner.transfer() == "SST" and joiner.probe("ready") and joiner.probe("alive")
    # (b) desynced (not Synced): not ready, still alive.
    assert joiner.sql("SET GLOBAL wsrep_desync=ON").returncode == 0
    assert wait_until(lambda: not joiner.probe("ready"), 10)
    figures["desynced"] = {"ready": joiner.probe("ready"), "alive": joiner.probe("alive")}
    assert figures["desynced"] == {"ready": False, "alive": True}
    assert joiner.sql("SET GLOBAL wsrep_desync=OFF").returncode == 0
    assert wait_until(lambda: joiner.probe("ready"), 20)
    # (c) alive but not joined (cut off from the others: non-Primary, yet it answers a ping):
    # liveness holds for the grace period, then fails; the kubelet's restart brings it back.
    grace = int(joiner.env["GALERA_LIVENESS_GRACE"])
    Network.link(joiner.ns, up=False)
    assert wait_until(lambda: joiner.status().get("wsrep_cluster_status") not in (None, "Primary"), 60), joiner.status()
    cut = time.time()
    alive_first = joiner.probe("alive")
    assert wait_until(lambda: not joiner.probe("alive"), grace + 15, every=1)
    figures["not_joined"] = {"alive_at_first": alive_first, "seconds_until_liveness_failed": round(time.time() - cut, 1),
                             "grace": grace, "answers_ping": joiner.exec(["mariadb-admin", "--protocol=socket", "-uroot",
                                                                          "--password=" + joiner.root_password, "ping"]).returncode == 0}
    assert alive_first and figures["not_joined"]["seconds_until_liveness_failed"] >= grace - 1
    assert figures["not_joined"]["answers_ping"], "the member should still answer a ping (alive but not joined)"
    joiner.stop()  # the kubelet restarts the container after the liveness failures
    joiner.start()
    time.sleep(3)
    Network.link(joiner.ns, up=True)
    figures["seconds_restart_to_synced"] = round(wait_synced(members), 1)
    figures["transfer_after_restart"] = joiner.transfer()
    assert figures["transfer_after_restart"] == "IST", joiner.last_start_log()[-3000:]
    check_rows(cluster, writer, figures)


def job(manifests: Manifests, cluster: Cluster, command: List[str], backup_dir: Any) -> Container:
    cron = manifests.get("CronJob")
    spec = container_of(cron, "backup")
    home = cluster["base"] / "backup-job"
    env = container_env(spec, "mariadb-galera-backup-manual", "10.217.17.50")
    mounts = materialise_volumes(manifests, cron, spec, home, {"backup": backup_dir})
    return Container("g17-job", home, env, mounts, command)


@scenario("8-backup-restore")
def test_backup_and_restore_as_a_pair_on_the_running_cluster(cluster: Cluster, writer: Writer, manifests: Manifests) -> None:
    members = members_of(cluster)
    figures = RESULTS.scenario("8-backup-restore")
    by_name = {m.name: m for m in members}
    primary = by_name[writer.current]
    reader = next(m for m in members if m is not primary)
    spec = container_of(manifests.get("CronJob"), "backup")
    env = {e["name"]: e.get("value") for e in spec["env"]}
    # The Services: the read Service to a synced member, the writer Service to the writer.
    hosts = {fqdn(m.name): m.ip for m in members}
    hosts.update({env["BACKUP_SOURCE_HOST"]: reader.ip, env["BACKUP_WRITER_HOST"]: primary.ip})
    Network.write_hosts("g17-job", hosts)
    create = primary.sql("CREATE TABLE posts (id INT PRIMARY KEY, title VARCHAR(64)); INSERT INTO posts "
                         "SELECT seq, CONCAT('post ', seq) FROM seq_1_to_50", database="wordpress")
    assert create.returncode == 0, create.stderr
    backup_dir = cluster["base"] / "backup-volume"
    backup_dir.mkdir()
    __import__("shutil").chown(backup_dir, "mysql", "mysql")
    backup = job(manifests, cluster, list(spec["command"]), backup_dir)
    start = time.time()
    backup.start()
    assert backup.wait(120) == 0, backup.console.read_text()[-3000:]
    figures["backup_seconds"] = round(time.time() - start, 1)
    files = sorted(p.name for p in backup_dir.glob("*.sql.gz"))
    assert len(files) == 1 and "BACKUP_FILE=%s" % files[0] in backup.console.read_text(), files
    figures["backup_file_bytes"] = (backup_dir / files[0]).stat().st_size
    damage = primary.sql("INSERT INTO posts SELECT seq, 'after' FROM seq_51_to_60; DELETE FROM posts WHERE id <= 10", database="wordpress")
    assert damage.returncode == 0, damage.stderr
    restore = job(manifests, cluster, ["/bin/bash", "/opt/backup/restore.sh", "latest"], backup_dir)
    restore.starts = backup.starts
    start = time.time()
    restore.start()
    assert restore.wait(120) == 0, restore.console.read_text()[-3000:]
    figures["restore_seconds"] = round(time.time() - start, 1)
    assert "RESTORED_FILE=%s" % files[0] in restore.last_start_log()
    wait_synced(members)
    for member in members:
        ids = member.sql("SELECT id FROM wordpress.posts").stdout.split()
        assert sorted(map(int, ids)) == list(range(1, 51)), (member.name, ids)
    figures["rows_after_restore"] = 50
    check_rows(cluster, writer, figures)
