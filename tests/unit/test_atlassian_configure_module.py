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


LICENCE = "AAAB" + "Um9sZUNvbmZpZ3VyZVRlc3RMaWNlbmNl" * 10 + "X02ab"


def role_step(tmp_path: Path, servers: Dict[str, StandIn], extra: Dict[str, Any]) -> Path:
    """The roles' own configure step (tasks/configure.yml), as an applied run calls it after the
    manifests: the generated admin password is what manifests_secret registered."""
    tasks = []
    for product, server in servers.items():
        tasks.append({"name": "Run the %s role's configure step" % product, "ansible.builtin.include_role": {
            "name": "orchestrate.platform.%s" % product, "tasks_from": "configure"},
            "vars": dict({"__%s_admin" % product: {"data": {"password": server.instance.password}},
                          "%s_configure_url" % product: server.url, "%s_configure_validate_certs" % product: False,
                          "platform_mode": "apply"}, **extra.get(product, {}))})
    path = tmp_path / "role-step.yml"
    path.write_text(yaml.safe_dump([{"name": "Configure", "hosts": "localhost", "connection": "local", "gather_facts": False,
                                     "tasks": tasks}], sort_keys=False))
    return path


def test_the_roles_configure_step_with_a_licence_configures_both_apps(tmp_path: Path, standins: Dict[str, StandIn]) -> None:
    path = role_step(tmp_path, standins, {"jira": {"jira_license": LICENCE}, "confluence": {"confluence_license": LICENCE}})
    first = run_playbook([str(path)])
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
    assert recap(first.stdout)["changed"] == 2
    assert any(p["key"] == "CR" for p in standins["jira"].instance.projects)
    assert "PLAT" in standins["confluence"].instance.spaces
    # Jira's statuses and workflow cannot be made over REST: the play says what is left.
    assert "statuses to create by hand" in first.stdout
    second = run_playbook([str(path)])
    assert recap(second.stdout)["changed"] == 0
    assert LICENCE not in first.stdout + second.stdout
    assert standins["jira"].instance.password not in first.stdout + second.stdout


def test_the_roles_configure_step_without_a_licence_says_what_to_do_and_sends_nothing(tmp_path: Path, standins: Dict[str, StandIn]) -> None:
    result = run_playbook([str(role_step(tmp_path, standins, {}))])
    assert result.returncode == 0, result.stdout[-3000:]
    for app in ("Jira", "Confluence"):
        assert "%s has no licence (%s_license is empty)" % (app, app.lower()) in result.stdout
        assert "starts at its setup screen" in result.stdout
    assert "Next: put a Data Center or evaluation licence into jira_license" in result.stdout
    assert all(s.instance.requests == [] for s in standins.values())
