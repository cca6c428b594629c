# -*- coding: utf-8 -*-
# Copyright: orchestrate.platform developers
# Apache License 2.0 (see LICENSE)
"""Action of orchestrate.platform.check_inputs: every named role's variables (inventory and
extra vars over the role's defaults, templated on the controller) against its argument specs,
all roles at once, one short line per problem (see module_utils/inputs.py)."""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional

import yaml
from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase
from ansible.template import trust_as_template

from ansible_collections.orchestrate.platform.plugins.module_utils.inputs import problems

COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _load(path: str) -> Dict[str, Any]:
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


def _trusted(value: Any) -> Any:
    """A role default as Ansible would see it: its strings may be templates (role files are trusted)."""
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, list):
        return [_trusted(item) for item in value]
    if isinstance(value, dict):
        return {key: _trusted(item) for key, item in value.items()}
    return value


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def _role_problems(self, role: str, entry_point: str, task_vars: Dict[str, Any]) -> List[str]:
        role_path = os.path.join(COLLECTION_ROOT, "roles", role)
        specs = _load(os.path.join(role_path, "meta", "argument_specs.yml")).get("argument_specs") or {}
        if entry_point not in specs:
            return ["%s: no argument spec entry point %r in %s/meta/argument_specs.yml" % (role, entry_point, role_path)]
        options = specs[entry_point].get("options") or {}
        defaults = _trusted(_load(os.path.join(role_path, "defaults", "main.yml")))
        templar = self._templar.copy_with_new_env(available_variables={**defaults, **task_vars, "role_path": role_path})
        values: Dict[str, Any] = {}
        lines: List[str] = []
        for name in options:
            if name not in task_vars and name not in defaults:
                continue
            raw = task_vars[name] if name in task_vars else defaults[name]
            try:
                values[name] = templar.template(raw)
            except AnsibleError as error:
                lines.append("%s: %s cannot be computed: %s" % (role, name, str(error).splitlines()[0]))
        return lines + problems(role, options, {k: v for k, v in values.items() if v is not None})

    def run(self, tmp: Any = None, task_vars: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        roles = self._task.args.get("roles") or []
        entry_point = self._task.args.get("entry_point", "main")
        found: List[str] = []
        for role in roles:
            found.extend(self._role_problems(str(role), entry_point, task_vars))
        result["changed"] = False
        if found:
            # Only the message: the callback prints every returned key, and once is enough.
            result["failed"] = True
            result["msg"] = "\n".join(["%d bad or missing setting(s); nothing was changed:" % len(found), *found])
        else:
            result.update(problems=[], checked=list(roles),
                          msg="the variables of %d role(s) match their argument specs" % len(roles))
        return result
