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
