"""Fixtures of the live Galera harness: the rendered role, the namespaces, three members, the
writer; everything is stopped and removed at the end, also when a scenario fails. The run's
outcomes and figures go to build/galera-live/results.json (scripts/galera-live-report.py turns
them into docs/reports/galera-live.md)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from galera_harness import INITDB_DIR, PEERS, Manifests, Member, Network, Results, Writer, fqdn, run
from project import ROOT, run_playbook

RESULTS = Results(ROOT / "build" / "galera-live" / "results.json")
# Small members for a shared 2-core machine: tiny buffer pool, a gcache still far larger than
# the gaps the scenarios create (so IST is possible), a short liveness grace to see it expire.
OVERRIDES = {
    "mariadb_galera_innodb_buffer_pool_size": "24M",
    "mariadb_galera_gcache_size": "64M",
    "mariadb_galera_liveness_grace": 10,
    "mariadb_galera_max_connections": 40,
    "mariadb_galera_server_options": {"performance_schema": "OFF", "innodb_log_file_size": "16M", "thread_cache_size": 4},
}
TOOLS = ["mariadbd", "mariadb", "mariadb-install-db", "mariabackup", "mariadb-dump", "socat", "ip", "nsenter", "setpriv"]


def namespaces_unavailable() -> str:
    """Why this machine cannot run the harness (empty when it can), detected now."""
    if os.geteuid() != 0:
        return "the live Galera harness needs root to create network namespaces (running as uid %d)" % os.geteuid()
    if shutil.which("ip") is None:
        return "iproute2 (ip) is not installed: run scripts/install-system-deps.sh"
    probe = "g17-probe-%d" % os.getpid()
    result = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True, check=False)
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, check=False)
    if result.returncode != 0:
        return "network namespaces cannot be created here: %s" % result.stderr.strip()
    return ""


def pytest_collection_modifyitems(config: Any, items: List[Any]) -> None:
    here = Path(__file__).parent
    live = [item for item in items if Path(str(item.fspath)).parent == here]
    if not live:
        return
    reason = namespaces_unavailable()
    for item in live:
        item.add_marker(pytest.mark.galera_live)
        # One cluster for the whole session, scenarios in order: with `pytest -n N --dist loadgroup`
        # (make pytest) they must all run on one worker, or each worker builds the same namespaces.
        item.add_marker(pytest.mark.xdist_group(name="galera_live"))
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    scenario = getattr(item.function, "scenario", None)
    if scenario is None or not (report.when == "call" or report.failed or report.skipped):
        return
    entry = RESULTS.scenario(scenario)
    if report.when == "call" or "outcome" not in entry:
        entry["outcome"] = report.outcome
        entry["seconds"] = round(report.duration, 1)
        if report.failed:
            entry["failure"] = str(report.longrepr)[-1500:]
    RESULTS.save()


def remove_tree(path: Path) -> None:
    for _ in range(5):
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            return
        time.sleep(1)
    raise AssertionError("could not remove %s" % path)


def versions() -> Dict[str, str]:
    def package(name: str) -> str:
        return run(["dpkg-query", "--show", "--showformat=${Version}", name], check=False).stdout.strip()

    server = run(["mariadbd", "--version"], check=False).stdout.strip()
    return {"mariadb-server": package("mariadb-server"), "galera-4": package("galera-4"), "mariadb-backup": package("mariadb-backup"),
            "socat": package("socat"), "mariadbd": server, "kernel": os.uname().release}


@pytest.fixture(scope="session")
def manifests(tmp_path_factory: pytest.TempPathFactory) -> Manifests:
    """The role rendered by the project's own playbook (apps stage, render mode), with the small
    sizes above."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    assert not missing, "missing %s: run scripts/install-system-deps.sh (the README's test command does)" % missing
    root = tmp_path_factory.mktemp("galera-render")
    args = ["playbooks/apps.yml", "--tags", "mariadb_galera", "-e", "platform_mode=render", "-e", "platform_render_dir=%s" % root,
            "-e", "mariadb_galera_secrets_dir=%s" % (root / "secrets"), "-e", json.dumps(OVERRIDES)]
    result = run_playbook(args)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    return Manifests.load(root)


@pytest.fixture(scope="session")
def cluster(manifests: Manifests, request: pytest.FixtureRequest) -> Iterator[Dict[str, Any]]:
    """Three member namespaces, a job namespace and the switch; the members are created, not
    started (the first scenario starts them)."""
    Network.destroy(Network.leftovers())
    network = Network()
    # Not under /tmp: the members' own /tmp is a bind mount over it.
    base = Path(tempfile.mkdtemp(prefix="g17-", dir="/var/tmp"))
    created_initdb = not INITDB_DIR.exists()
    members: List[Member] = []
    state: Dict[str, Any] = {"network": network, "base": base}

    def cleanup() -> None:
        # Every step runs even when an earlier one fails; the first error is raised at the end.
        errors: List[BaseException] = []

        def step(action: Any) -> None:
            try:
                action()
            except BaseException as error:  # noqa: B036 - collected and re-raised below
                errors.append(error)

        writer = state.get("writer")
        if writer is not None:
            step(writer.stop)
        for member in members:
            step(lambda member=member: member.stop(timeout=20))
        step(lambda: Network.destroy(list(reversed(network.namespaces)) or Network.leftovers()))
        step(keep_logs)
        step(lambda: remove_tree(base))
        if created_initdb:
            step(lambda: INITDB_DIR.rmdir() if INITDB_DIR.exists() else None)
        RESULTS.data["load_average_at_end"] = [round(x, 1) for x in os.getloadavg()]
        RESULTS.data["cpus"] = os.cpu_count()
        step(RESULTS.save)
        if errors:
            raise errors[0]

    def keep_logs() -> None:
        logs = ROOT / "build" / "galera-live" / "logs"
        shutil.rmtree(logs, ignore_errors=True)
        logs.mkdir(parents=True, exist_ok=True)
        for console in base.glob("*/console.log"):
            shutil.copy(console, logs / ("%s.log" % console.parent.name))

    request.addfinalizer(cleanup)
    INITDB_DIR.mkdir(exist_ok=True)
    RESULTS.data.clear()
    RESULTS.data.update({"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "versions": versions(),
                         "settings": {k: v for k, v in OVERRIDES.items()}, "scenarios": {},
                         "load_average_at_start": [round(x, 1) for x in os.getloadavg()]})
    members.extend(Member(i, manifests, base) for i in range(3))
    hosts = {fqdn(m.name): m.ip for m in members}
    network.create_switch()
    for member in members:
        network.add(member.ns, member.ip, hosts)
    network.add("g17-job", "10.217.17.50", hosts)
    state["members"] = members
    state["peers"] = PEERS
    yield state


@pytest.fixture(scope="session")
def writer(cluster: Dict[str, Any]) -> Writer:
    from ansible_collections.orchestrate.platform.plugins.filter.galera import galera_writer

    if "writer" not in cluster:
        cluster["writer"] = Writer(cluster["members"], galera_writer)
    return cluster["writer"]
