"""The post-install configuration (module_utils/atlassian_config.py, client atlassian-python-api)
against stand-ins of the Jira and Confluence REST APIs on loopback (tests/unit/atlassian_standin.py):
a first run creates, a second run that finds everything sends no changing request, a partly
configured instance is completed, check mode only reads, an instance at its setup screen is left
alone. What is ensured is read from the roles' vars, so the tests follow the roles."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Dict, Iterator

import jinja2
import pytest
import yaml
from atlassian import Confluence, Jira

from ansible_collections.orchestrate.platform.plugins.module_utils.atlassian_config import (
    ConfigureError,
    configure_confluence,
    configure_jira,
)
from atlassian_standin import Instance, StandIn, start
from project import ROLES


def role_configuration(role: str) -> Dict[str, Any]:
    """`_<role>_configuration` of the role's vars, templated with the role's defaults (and the
    role's files for lookup('ansible.builtin.file', ...))."""
    defaults = yaml.safe_load((ROLES / role / "defaults/main.yml").read_text())
    variables = yaml.safe_load((ROLES / role / "vars/main.yml").read_text())
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined)
    environment.globals["lookup"] = lambda kind, name: (ROLES / role / "files" / name).read_text()

    def render(value: Any) -> Any:
        if isinstance(value, str):
            return environment.from_string(value).render(**defaults)
        if isinstance(value, list):
            return [render(v) for v in value]
        if isinstance(value, dict):
            return {k: render(v) for k, v in value.items()}
        return value

    return render(variables["_%s_configuration" % role])


JIRA = role_configuration("jira")
CONFLUENCE = role_configuration("confluence")


@pytest.fixture()
def jira_standin() -> Iterator[StandIn]:
    server = start("jira")
    yield server
    server.close()


@pytest.fixture()
def confluence_standin() -> Iterator[StandIn]:
    server = start("confluence")
    yield server
    server.close()


def jira_client(server: StandIn) -> Jira:
    return Jira(url=server.url, username=server.instance.username, password=server.instance.password, timeout=10)


def confluence_client(server: StandIn) -> Confluence:
    return Confluence(url=server.url, username=server.instance.username, password=server.instance.password, timeout=10)


# -- Jira ----------------------------------------------------------------------------------------


def test_the_role_asks_for_what_the_runbook_describes() -> None:
    assert JIRA["issue_type"]["name"] == "Change"
    assert [f["name"] for f in JIRA["fields"]] == [
        "Risk", "Impact", "Implementation plan", "Rollback plan", "Change window start", "Change window end"]
    assert {"In review", "Approved"} <= set(JIRA["workflow"]["statuses"])
    assert [t["name"] for t in CONFLUENCE["templates"]] == ["Runbook", "Post-incident review", "Architecture decision record"]
    assert all(t["body"].lstrip().startswith("<h2>") for t in CONFLUENCE["templates"])
    assert [p["title"] for p in CONFLUENCE["pages"]] == ["On-call", "Runbooks", "Incidents", "Decisions", "Releases", "Meeting notes"]
    assert JIRA["project"]["components"] == ["infra", "cluster", "security", "platform", "observability", "apps", "process"]


def test_jira_first_run_creates_everything_then_a_second_run_changes_nothing(jira_standin: StandIn) -> None:
    first = configure_jira(jira_client(jira_standin), JIRA)
    state = jira_standin.instance
    assert first.changed and first.state == "RUNNING"
    assert "Change" in {t["name"] for t in state.issue_types}
    created = {f["name"]: f for f in state.fields if f.get("custom")}
    assert set(created) == {f["name"] for f in JIRA["fields"]}
    assert created["Change window start"]["schema"]["custom"].endswith(":datetime")
    assert created["Rollback plan"]["schema"]["custom"].endswith(":textarea")
    assert created["Risk"]["searcherKey"].endswith(":textsearcher")
    project = next(p for p in state.projects if p["key"] == "CR")
    assert project["projectTypeKey"] == "business" and project["lead"] == "platform-admin"
    assert [c["name"] for c in state.components["CR"]] == JIRA["project"]["components"]
    # The stand-in starts with Jira's default statuses and workflow: the CR ones are reported, not faked.
    assert any("statuses to create by hand" in m and "In review" in m for m in first.messages)
    assert any("Change request workflow" in m for m in first.messages)
    writes = len(state.changing())
    assert writes == 1 + len(JIRA["fields"]) + 1 + len(JIRA["project"]["components"])

    second = configure_jira(jira_client(jira_standin), JIRA)
    assert not second.changed and second.changes == []
    assert len(state.changing()) == writes, "a second run sent %s" % state.changing()[writes:]


def test_jira_partly_configured_is_completed(jira_standin: StandIn) -> None:
    state = jira_standin.instance
    state.issue_types.append({"id": "10050", "name": "Change", "subtask": False})
    state.fields.append({"id": "customfield_10060", "name": "Risk", "custom": True,
                         "schema": {"type": "string", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:textfield"}})
    state.projects.append({"id": "10070", "key": "CR", "name": "Change requests", "projectTypeKey": "business"})
    state.components["CR"] = [{"id": "10080", "name": "infra"}]
    outcome = configure_jira(jira_client(jira_standin), JIRA)
    assert sorted(outcome.changes) == sorted(
        ["field %s (%s) created" % (f["name"], f["type"]) for f in JIRA["fields"] if f["name"] != "Risk"]
        + ["component %s of CR created" % c for c in JIRA["project"]["components"] if c != "infra"])
    assert [p for m, p, _ in state.changing() if p.endswith("/issuetype") or p.endswith("/project")] == []
    assert [f["name"] for f in state.fields].count("Risk") == 1


def test_jira_with_the_workflow_in_place_reports_nothing_left(jira_standin: StandIn) -> None:
    state = jira_standin.instance
    state.statuses.extend({"id": str(20000 + n), "name": s} for n, s in enumerate(JIRA["workflow"]["statuses"]))
    state.workflows.append({"name": JIRA["workflow"]["name"], "description": "", "steps": 8})
    outcome = configure_jira(jira_client(jira_standin), JIRA)
    assert outcome.messages == []


def test_jira_check_mode_only_reads(jira_standin: StandIn) -> None:
    outcome = configure_jira(jira_client(jira_standin), JIRA, check=True)
    assert outcome.changed and "project CR (Change requests) created" in outcome.changes
    assert jira_standin.instance.changing() == []
    assert len([c for c in outcome.changes if c.startswith("component ")]) == len(JIRA["project"]["components"])


def test_jira_at_its_setup_screen_is_left_alone(jira_standin: StandIn) -> None:
    jira_standin.instance.state = "FIRST_RUN"
    outcome = configure_jira(jira_client(jira_standin), JIRA)
    assert not outcome.changed and "FIRST_RUN" in outcome.messages[0] and "setup screen" in outcome.messages[0]
    assert [path for _, path, _ in jira_standin.instance.requests] == ["/status"]


def test_jira_field_of_another_type_is_an_error_not_a_duplicate(jira_standin: StandIn) -> None:
    jira_standin.instance.fields.append({"id": "customfield_1", "name": "Risk", "custom": True,
                                         "schema": {"custom": "com.atlassian.jira.plugin.system.customfieldtypes:select"}})
    with pytest.raises(ConfigureError, match="field Risk exists with type .*select"):
        configure_jira(jira_client(jira_standin), JIRA)


def test_jira_wrong_password_fails_loudly(jira_standin: StandIn) -> None:
    client = Jira(url=jira_standin.url, username="platform-admin", password="wrong", timeout=10)
    with pytest.raises(Exception) as raised:
        configure_jira(client, JIRA)
    assert "401" in str(raised.value) or "authenticated" in str(raised.value).lower()
    assert jira_standin.instance.changing() == []


# -- Confluence ------------------------------------------------------------------------------------


def test_confluence_first_run_creates_the_space_and_templates_then_nothing(confluence_standin: StandIn) -> None:
    state = confluence_standin.instance
    first = configure_confluence(confluence_client(confluence_standin), CONFLUENCE)
    assert first.changed
    assert state.spaces["PLAT"]["name"] == "Platform team"
    assert sorted(t["name"] for t in state.templates) == sorted(t["name"] for t in CONFLUENCE["templates"])
    assert all(t["space"] == {"key": "PLAT"} and t["templateType"] == "page" for t in state.templates)
    assert all(t["body"]["storage"]["representation"] == "storage" for t in state.templates)
    home = state.spaces["PLAT"]["homepage"]["id"]
    sections = [p for p in state.pages if p["ancestors"]]
    assert [p["title"] for p in sections] == [p["title"] for p in CONFLUENCE["pages"]]
    assert all(p["ancestors"] == [{"type": "page", "id": home}] for p in sections)
    writes = len(state.changing())
    assert writes == 1 + len(CONFLUENCE["templates"]) + len(CONFLUENCE["pages"])

    second = configure_confluence(confluence_client(confluence_standin), CONFLUENCE)
    assert not second.changed
    assert len(state.changing()) == writes, "a second run sent %s" % state.changing()[writes:]


def test_confluence_partly_configured_is_completed_and_a_changed_template_restored(confluence_standin: StandIn) -> None:
    state = confluence_standin.instance
    state.spaces["PLAT"] = {"id": 1, "key": "PLAT", "name": "Platform team", "type": "global",
                            "homepage": {"id": "900", "type": "page", "title": "Platform team Home"}}
    state.pages.append({"id": "901", "type": "page", "title": "On-call", "space": {"key": "PLAT"},
                        "ancestors": [{"type": "page", "id": "900"}],
                        "body": {"storage": {"value": "<p>Our rota, edited by the team</p>", "representation": "storage"}}})
    runbook = next(t for t in CONFLUENCE["templates"] if t["name"] == "Runbook")
    state.templates.append({"templateId": "500", "name": "Runbook", "templateType": "page", "space": {"key": "PLAT"},
                            "body": {"storage": {"value": "<p>edited by hand</p>", "representation": "storage"}}})
    outcome = configure_confluence(confluence_client(confluence_standin), CONFLUENCE)
    assert sorted(outcome.changes) == sorted(["template Runbook updated", "template Post-incident review created",
                                              "template Architecture decision record created"]
                                             + ["page %s created" % p["title"] for p in CONFLUENCE["pages"] if p["title"] != "On-call"])
    # A section page the team has edited is never rewritten.
    assert next(p for p in state.pages if p["title"] == "On-call")["body"]["storage"]["value"] == "<p>Our rota, edited by the team</p>"
    methods = [(m, p) for m, p, _ in state.changing()]
    assert ("PUT", "/rest/api/template") in methods and not any(p == "/rest/api/space" for _, p in methods)
    kept = next(t for t in state.templates if t["templateId"] == "500")
    assert kept["body"]["storage"]["value"] == runbook["body"].strip()


def test_confluence_check_mode_on_an_empty_instance_only_reads(confluence_standin: StandIn) -> None:
    outcome = configure_confluence(confluence_client(confluence_standin), CONFLUENCE, check=True)
    assert len(outcome.changes) == 1 + len(CONFLUENCE["templates"]) + len(CONFLUENCE["pages"])
    assert confluence_standin.instance.changing() == []


def test_confluence_at_its_setup_screen_is_left_alone(confluence_standin: StandIn) -> None:
    confluence_standin.instance.state = "FIRST_RUN"
    outcome = configure_confluence(confluence_client(confluence_standin), CONFLUENCE)
    assert not outcome.changed and "FIRST_RUN" in outcome.messages[0]
    assert [path for _, path, _ in confluence_standin.instance.requests] == ["/status"]


def test_the_stand_in_refuses_requests_without_credentials(confluence_standin: StandIn) -> None:
    client = Confluence(url=confluence_standin.url, timeout=10)
    with pytest.raises(Exception):
        client.get_space("PLAT")
