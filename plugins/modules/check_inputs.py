#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: orchestrate.platform developers
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: check_inputs
short_description: Check the variables of several roles against their argument specs, reporting every problem at once
version_added: "0.1.0"
description:
  - For each role in O(roles), takes the variables its C(meta/argument_specs.yml) entry point
    declares (inventory, play and extra vars over the role's C(defaults/main.yml), templated on
    the controller) and validates them.
  - Fails with one line per problem, naming the role, the variable, the bad value and what is
    allowed; values of C(no_log) options are not shown. Every role is checked before it fails, so
    a first run reports all missing settings together.
  - Runs on the controller only (action plugin); it changes nothing and supports check mode.
options:
  roles:
    description: Names of this collection's roles to check.
    type: list
    elements: str
    required: true
  entry_point:
    description: The argument spec entry point to check against.
    type: str
    default: main
attributes:
  check_mode:
    support: full
author:
  - orchestrate.platform developers
"""

EXAMPLES = r"""
- name: Check the inputs of the roles this run selects
  orchestrate.platform.check_inputs:
    roles: [storage, gateway, wordpress]
"""

RETURN = r"""
problems:
  description: Empty when all are valid (on failure the problems are the lines of C(msg)).
  returned: success
  type: list
  elements: str
checked:
  description: The roles checked.
  returned: success
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule


def main() -> None:
    # The check itself is the action plugin (it needs the controller's templar and role files).
    module = AnsibleModule(argument_spec=dict(roles=dict(type="list", elements="str", required=True),
                                              entry_point=dict(type="str", default="main")),
                           supports_check_mode=True)
    module.fail_json(msg="orchestrate.platform.check_inputs runs on the controller through its action plugin")


if __name__ == "__main__":
    main()
