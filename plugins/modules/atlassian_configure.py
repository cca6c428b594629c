#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: orchestrate.platform developers
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: atlassian_configure
short_description: Configure Jira or Confluence Data Center after installation through their REST APIs
version_added: "0.1.0"
description:
  - Reads the application's C(/status) first and does nothing but report when it is not C(RUNNING)
    (for example C(FIRST_RUN), the setup screen).
  - For C(product=jira) ensures an issue type, custom fields and a project (O(jira)), and checks
    the statuses and the workflow, which Jira Data Center's REST API cannot create (the result
    says what is left to do by hand).
  - For C(product=confluence) ensures a space, its page templates and its section pages
    (O(confluence)); a template whose body differs is updated, an existing page is never rewritten.
  - Idempotent; only missing or differing objects are sent. Uses atlassian-python-api.
author:
  - orchestrate.platform developers
attributes:
  check_mode:
    support: full
    details: Reads only; reports what would be created or updated.
  diff_mode:
    support: none
options:
  product:
    description: Which application O(url) is.
    type: str
    required: true
    choices: [jira, confluence]
  url:
    description: Base URL of the application (through the gateway).
    type: str
    required: true
  username:
    description: Administrator login.
    type: str
    required: true
  password:
    description: Administrator password.
    type: str
    required: true
    no_log: true
  validate_certs:
    description: Verify the TLS certificate; C(true), C(false) or the path of a CA bundle.
    type: raw
    default: true
  timeout:
    description: Seconds per request.
    type: int
    default: 60
  jira:
    description: What to ensure in Jira (keys project, issue_type, fields, workflow).
    type: dict
  confluence:
    description: What to ensure in Confluence (keys space, templates, pages).
    type: dict
requirements:
  - atlassian-python-api
"""

EXAMPLES = r"""
- name: Ensure the team space and its templates
  orchestrate.platform.atlassian_configure:
    product: confluence
    url: https://confluence.example.org
    username: platform-admin
    password: "{{ admin_password }}"
    confluence:
      space: {key: TEAM, name: Platform team}
      templates:
        - {name: Runbook, body: "<h2>Purpose</h2><p></p>"}
"""

RETURN = r"""
state:
  description: The state the application reported on /status.
  returned: always
  type: str
changes:
  description: One line per object created or updated (would be, in check mode).
  returned: always
  type: list
  elements: str
messages:
  description: What is left to do by hand, or why nothing was done.
  returned: always
  type: list
  elements: str
"""

from typing import Any, Dict

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.orchestrate.platform.plugins.module_utils.atlassian_config import (
    ConfigureError,
    configure_confluence,
    configure_jira,
)

try:
    from atlassian import Confluence, Jira
    from atlassian.errors import ApiError
    from requests.exceptions import RequestException
    HAS_CLIENT = True
except ImportError:  # pragma: no cover - reported by main()
    HAS_CLIENT = False

ARGUMENT_SPEC: Dict[str, Any] = dict(
    product=dict(type="str", required=True, choices=["jira", "confluence"]),
    url=dict(type="str", required=True),
    username=dict(type="str", required=True),
    password=dict(type="str", required=True, no_log=True),
    validate_certs=dict(type="raw", default=True),
    timeout=dict(type="int", default=60),
    jira=dict(type="dict"),
    confluence=dict(type="dict"),
)


def verify(value: Any) -> Any:
    """requests' `verify`: a bool, or the path of a CA bundle."""
    if isinstance(value, bool):
        return value
    text = str(value).strip()
    if text.lower() in ("true", "yes", "1"):
        return True
    if text.lower() in ("false", "no", "0"):
        return False
    return text


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True,
                           required_if=[("product", "jira", ["jira"]), ("product", "confluence", ["confluence"])])
    if not HAS_CLIENT:
        module.fail_json(msg=missing_required_lib("atlassian-python-api"))
    params = module.params
    client_class = Jira if params["product"] == "jira" else Confluence
    client = client_class(url=params["url"], username=params["username"], password=params["password"],
                          verify_ssl=verify(params["validate_certs"]), timeout=params["timeout"])
    try:
        if params["product"] == "jira":
            outcome = configure_jira(client, params["jira"], check=module.check_mode)
        else:
            outcome = configure_confluence(client, params["confluence"], check=module.check_mode)
    except (ConfigureError, ApiError, RequestException) as exc:
        module.fail_json(msg="%s at %s: %s" % (params["product"], params["url"], exc))
    module.exit_json(changed=outcome.changed, state=outcome.state, changes=outcome.changes, messages=outcome.messages)


if __name__ == "__main__":
    main()
