# -*- coding: utf-8 -*-
# Copyright: orchestrate.platform developers
# Apache License 2.0 (see LICENSE)
"""Post-install configuration of Jira and Confluence Data Center through their REST APIs, with
atlassian-python-api as the client. Idempotent: everything is read first, and only what is
missing (or differs, for Confluence templates) is created or updated; in check mode nothing is
sent but reads.

Jira: a project for change requests, the issue type "Change" and its custom fields (risk, impact,
implementation plan, rollback plan, change window). Jira Data Center's REST API has no call that
creates statuses or workflows: the workflow with review and approval states is checked, and
when it is missing the result says how to make it (docs/runbooks/change-requests-jira.md).

Confluence: a space for the team, its page templates (runbook, post-incident review,
architecture decision record) and the section pages of its page tree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence

# Custom field types of Jira Data Center (type key, searcher key) by the short names the roles use.
JIRA_FIELD_TYPES: Dict[str, tuple] = {
    "textfield": ("com.atlassian.jira.plugin.system.customfieldtypes:textfield",
                  "com.atlassian.jira.plugin.system.customfieldtypes:textsearcher"),
    "textarea": ("com.atlassian.jira.plugin.system.customfieldtypes:textarea",
                 "com.atlassian.jira.plugin.system.customfieldtypes:textsearcher"),
    "datetime": ("com.atlassian.jira.plugin.system.customfieldtypes:datetime",
                 "com.atlassian.jira.plugin.system.customfieldtypes:datetimerange"),
}
RUNNING = "RUNNING"


class ConfigureError(Exception):
    """The instance cannot be configured as asked (a conflicting object, an unknown field type)."""


@dataclass
class Outcome:
    """What a run did (`changes`, one line each) and what is left to a person (`messages`)."""

    state: str = ""
    changes: List[str] = field(default_factory=list)
    messages: List[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def _names(items: Optional[Iterable[Mapping[str, Any]]]) -> Dict[str, Mapping[str, Any]]:
    return {str(item.get("name")): item for item in items or [] if item.get("name") is not None}


def ensure(present: bool, create: Callable[[], object], change: str, check: bool, outcome: Outcome) -> bool:
    """The find-or-create step of every object: nothing when it is `present`; otherwise `create()`
    (not in check mode, where nothing but reads is sent) and the `change` recorded. Whether the
    object exists now (in check mode: False for one that would be created)."""
    if present:
        return True
    if not check:
        create()
    outcome.changes.append(change)
    return not check


def app_state(client: Any) -> str:
    """The state the application reports on /status (RUNNING, FIRST_RUN, STARTING, ...)."""
    answer = client.get("status")
    return str((answer or {}).get("state", "")) if isinstance(answer, Mapping) else ""


def start_outcome(client: Any, app: str) -> Outcome:
    """The outcome of a run, with the application's state; an application that is not RUNNING
    (its setup screen not finished) gets the message of what to do, and nothing is configured."""
    outcome = Outcome(state=app_state(client))
    if outcome.state != RUNNING:
        outcome.messages.append("%s reports %s, not RUNNING: finish its setup screen (docs/atlassian.md), then run again"
                                % (app, outcome.state or "no state"))
    return outcome


# -- Jira ------------------------------------------------------------------------------------


def ensure_issue_type(jira: Any, spec: Mapping[str, Any], check: bool, outcome: Outcome) -> None:
    ensure(spec["name"] in _names(jira.get_issue_types()),
           lambda: jira.create_issue_type(spec["name"], description=spec.get("description", ""), type="standard"),
           "issue type %s created" % spec["name"], check, outcome)


def ensure_fields(jira: Any, fields: Sequence[Mapping[str, Any]], check: bool, outcome: Outcome) -> None:
    existing = {name: item for name, item in _names(jira.get_all_fields()).items()}
    for wanted in fields:
        if wanted["type"] not in JIRA_FIELD_TYPES:
            raise ConfigureError("field %s: type %s is none of %s" % (wanted["name"], wanted["type"], ", ".join(sorted(JIRA_FIELD_TYPES))))
        type_key, searcher = JIRA_FIELD_TYPES[wanted["type"]]
        found = existing.get(wanted["name"])
        if found is not None:
            custom = (found.get("schema") or {}).get("custom")
            if custom and custom != type_key:
                raise ConfigureError("field %s exists with type %s, not %s: rename one of them" % (wanted["name"], custom, type_key))
        ensure(found is not None,
               lambda: jira.create_custom_field(wanted["name"], type_key, search_key=searcher, description=wanted.get("description")),
               "field %s (%s) created" % (wanted["name"], wanted["type"]), check, outcome)


def ensure_project(jira: Any, spec: Mapping[str, Any], check: bool, outcome: Outcome) -> bool:
    """Whether the project exists now (in check mode: False when it would be created)."""
    projects = {str(p.get("key")): p for p in jira.get_all_projects() or []}
    if spec["key"] in projects and projects[spec["key"]].get("name") != spec["name"]:
        outcome.messages.append("project %s exists as %r, not %r: left as it is" % (spec["key"], projects[spec["key"]].get("name"), spec["name"]))
    # A business project with the default schemes: the default issue type scheme holds every
    # issue type, Change included.
    return ensure(spec["key"] in projects,
                  lambda: jira.create_project_from_raw_json({
                      "key": spec["key"], "name": spec["name"], "projectTypeKey": "business",
                      "lead": spec["lead"], "description": spec.get("description", ""),
                  }),
                  "project %s (%s) created" % (spec["key"], spec["name"]), check, outcome)


def ensure_components(jira: Any, key: str, names: Sequence[str], check: bool, outcome: Outcome, project_exists: bool = True) -> None:
    """One component per stage of the platform (the runbook's JQL and the --tags name the same things)."""
    existing = _names(jira.get_project_components(key)) if project_exists else {}
    for name in names:
        ensure(name in existing, lambda: jira.create_component({"project": key, "name": name}),
               "component %s of %s created" % (name, key), check, outcome)


def check_workflow(jira: Any, spec: Mapping[str, Any], outcome: Outcome) -> None:
    """No REST call of Jira Data Center creates statuses or workflows: say what is missing."""
    statuses = _names(jira.get_all_statuses())
    missing_statuses = [s for s in spec.get("statuses", []) if s not in statuses]
    if missing_statuses:
        outcome.messages.append("statuses to create by hand (Administration > Issues > Statuses; no REST API in Jira Data Center): %s"
                                % ", ".join(missing_statuses))
    if spec["name"] not in _names(jira.get_all_workflows()):
        outcome.messages.append("workflow %r to create by hand from these statuses and assign to issue type Change of the project"
                                " (docs/runbooks/change-requests-jira.md, section The Jira project)" % spec["name"])


def configure_jira(jira: Any, spec: Mapping[str, Any], check: bool = False) -> Outcome:
    outcome = start_outcome(jira, "Jira")
    if outcome.state != RUNNING:
        return outcome
    ensure_issue_type(jira, spec["issue_type"], check, outcome)
    ensure_fields(jira, spec.get("fields", []), check, outcome)
    exists = ensure_project(jira, spec["project"], check, outcome)
    ensure_components(jira, spec["project"]["key"], spec["project"].get("components", []), check, outcome, project_exists=exists)
    check_workflow(jira, spec["workflow"], outcome)
    return outcome


# -- Confluence --------------------------------------------------------------------------------


def space_exists(confluence: Any, key: str) -> bool:
    try:
        return bool(confluence.get_space(key))
    except Exception as exc:  # the client raises ApiError (404) or HTTPError for a missing space
        response = getattr(exc, "response", None) or getattr(getattr(exc, "reason", None), "response", None)
        if getattr(response, "status_code", None) == 404 or "no space" in str(exc).lower():
            return False
        raise


def ensure_space(confluence: Any, spec: Mapping[str, Any], check: bool, outcome: Outcome) -> bool:
    """Whether the space exists now (in check mode: False when it would be created)."""
    return ensure(space_exists(confluence, spec["key"]),
                  lambda: confluence.create_space({
                      "key": spec["key"], "name": spec["name"],
                      "description": {"plain": {"value": spec.get("description", ""), "representation": "plain"}},
                  }),
                  "space %s (%s) created" % (spec["key"], spec["name"]), check, outcome)


def _storage(template: Mapping[str, Any]) -> str:
    return str(((template.get("body") or {}).get("storage") or {}).get("value", "")).strip()


def ensure_templates(confluence: Any, space: str, templates: Sequence[Mapping[str, Any]], check: bool, outcome: Outcome,
                     space_exists_now: bool = True) -> None:
    existing = _names(confluence.get_content_templates(space, expand="body")) if space_exists_now else {}
    for wanted in templates:
        body = {"storage": {"value": wanted["body"].strip(), "representation": "storage"}}
        found = existing.get(wanted["name"])
        ensure(found is not None and _storage(found) == wanted["body"].strip(),
               lambda: confluence.create_or_update_template(
                   wanted["name"], body, template_type="page",
                   template_id=found.get("templateId") if found is not None else None,
                   description=wanted.get("description"), space=space),
               "template %s %s" % (wanted["name"], "updated" if found is not None else "created"), check, outcome)


def ensure_pages(confluence: Any, space: str, pages: Sequence[Mapping[str, Any]], check: bool, outcome: Outcome,
                 space_exists_now: bool = True) -> None:
    """The space's section pages under its home page, created when missing and never rewritten
    afterwards (people edit them)."""
    if not pages:
        return
    home = None
    if space_exists_now:
        home = ((confluence.get_space(space, expand="homepage") or {}).get("homepage") or {}).get("id")
    for page in pages:
        found = (confluence.get_page_by_title(space, page["title"]) or {}).get("results") if space_exists_now else []
        ensure(bool(found), lambda: confluence.create_page(space, page["title"], page["body"].strip(), parent_id=home,
                                                           representation="storage"),
               "page %s created" % page["title"], check, outcome)


def configure_confluence(confluence: Any, spec: Mapping[str, Any], check: bool = False) -> Outcome:
    outcome = start_outcome(confluence, "Confluence")
    if outcome.state != RUNNING:
        return outcome
    exists = ensure_space(confluence, spec["space"], check, outcome)
    ensure_templates(confluence, spec["space"]["key"], spec.get("templates", []), check, outcome, space_exists_now=exists)
    ensure_pages(confluence, spec["space"]["key"], spec.get("pages", []), check, outcome, space_exists_now=exists)
    return outcome
