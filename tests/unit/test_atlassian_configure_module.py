"""orchestrate.platform.atlassian_configure through ansible-playbook against the loopback stand-ins:
changed on the first run, ok on the second, check mode sends nothing, the password never shows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest
import yaml

from atlassian_standin import StandIn, start
from project import run_playbook
from test_atlassian_configure import CONFLUENCE, JIRA

pytestmark = pytest.mark.slow


@pytest.fixture()
def standins() -> Iterator[Dict[str, StandIn]]:
    servers = {"jira": start("jira"), "confluence": start("confluence")}
    yield servers
    for server in servers.values():
        server.close()


def playbook(tmp_path: Path, servers: Dict[str, StandIn]) -> Path:
    tasks = []
    for product, spec in (("jira", JIRA), ("confluence", CONFLUENCE)):
        server = servers[product]
        tasks.append({"name": "Configure %s" % product, "orchestrate.platform.atlassian_configure": {
            "product": product, "url": server.url, "username": server.instance.username,
            "password": server.instance.password, "validate_certs": False, product: spec}, "register": "__%s" % product})
        tasks.append({"name": "Show %s" % product, "ansible.builtin.debug": {"msg": "%s={{ __%s.changes | to_json }}" % (product, product)}})
    path = tmp_path / "configure.yml"
    path.write_text(yaml.safe_dump([{"name": "Configure", "hosts": "localhost", "connection": "local", "gather_facts": False,
                                     "tasks": tasks}], sort_keys=False))
    return path


def recap(output: str) -> Dict[str, int]:
    line = next(l for l in output.splitlines() if l.startswith("localhost") and "ok=" in l)
    return {k: int(v) for k, v in (part.split("=") for part in line.split(":", 1)[1].split())}


def test_configure_twice_and_in_check_mode(tmp_path: Path, standins: Dict[str, StandIn]) -> None:
    path = playbook(tmp_path, standins)
    check = run_playbook([str(path), "--check"])
    assert check.returncode == 0, check.stdout[-3000:] + check.stderr[-2000:]
    assert recap(check.stdout)["changed"] == 2
    assert all(s.instance.changing() == [] for s in standins.values())

    first = run_playbook([str(path)])
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
    assert recap(first.stdout)["changed"] == 2
    assert "project CR (Change requests) created" in first.stdout and "template Runbook created" in first.stdout
    writes = {name: len(s.instance.changing()) for name, s in standins.items()}
    assert all(writes.values())

    second = run_playbook([str(path)])
    assert second.returncode == 0, second.stdout[-3000:]
    assert recap(second.stdout)["changed"] == 0
    assert {name: len(s.instance.changing()) for name, s in standins.items()} == writes
    for output in (check.stdout, first.stdout, second.stdout):
        assert standins["jira"].instance.password not in output


def test_a_wrong_password_fails_the_task_without_showing_it(tmp_path: Path, standins: Dict[str, StandIn]) -> None:
    for server in standins.values():
        server.instance.password = "the-real-one"
    path = playbook(tmp_path, standins)
    text = path.read_text().replace("the-real-one", "not-the-real-one")
    path.write_text(text)
    result = run_playbook([str(path)])
    assert result.returncode != 0
    assert "jira at %s" % standins["jira"].url in result.stdout and "401" in result.stdout
    assert "not-the-real-one" not in result.stdout
