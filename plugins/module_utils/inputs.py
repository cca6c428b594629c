# -*- coding: utf-8 -*-
# Copyright: orchestrate.platform developers
# Apache License 2.0 (see LICENSE)
"""Check a role's variables against its meta/argument_specs.yml and say what is wrong in one
short line per problem: the variable, the bad value and what is allowed.

Ansible's own role argument validation prints the whole specification when it fails (about a
hundred lines for a large role) and stops at the first role; the check_inputs action uses this
module to check every selected role at once and report every problem together."""

from __future__ import annotations

import re
from typing import Any, Dict, List, Mapping

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import RequiredError

VALUE_WIDTH = 80
SPEC_KEYS = ("type", "required", "choices", "elements", "options", "default", "no_log", "aliases")


def _validator_spec(options: Mapping[str, Any]) -> Dict[str, Any]:
    """The argument spec without its documentation keys (description, version_added ...)."""
    spec = {}
    for name, option in options.items():
        entry = {key: value for key, value in (option or {}).items() if key in SPEC_KEYS}
        if isinstance(entry.get("options"), Mapping):
            entry["options"] = _validator_spec(entry["options"])
        spec[name] = entry
    return spec


def allowed(option: Mapping[str, Any]) -> str:
    """What an option accepts, in words: its choices, or its type (and element type)."""
    if option.get("choices"):
        return "one of %s" % ", ".join(str(choice) for choice in option["choices"])
    kind = option.get("type", "str")
    if kind == "list" and option.get("elements"):
        return "a list of %s" % option["elements"]
    return ("an %s" if kind[0] in "aeiou" else "a %s") % kind


def shown(value: Any, secret: bool) -> str:
    if secret:
        return "(hidden: no_log)"
    text = repr(value)
    return text if len(text) <= VALUE_WIDTH else text[: VALUE_WIDTH - 3] + "..."


def summary(option: Mapping[str, Any]) -> str:
    """The first sentence of an option's description."""
    description = option.get("description") or ""
    if isinstance(description, list):
        description = " ".join(str(line) for line in description)
    return re.split(r"(?<=\.)\s", str(description).strip(), maxsplit=1)[0]


def problems(role: str, options: Mapping[str, Any], values: Mapping[str, Any]) -> List[str]:
    """One line per problem of `values` (the role's variables that are set) against `options`."""
    result = ArgumentSpecValidator(_validator_spec(options)).validate(dict(values))
    lines: List[str] = []
    for error in result.errors:
        if isinstance(error, RequiredError):
            missing, _, where = str(error).split(":", 1)[-1].partition(" found in ")
            if where:  # a sub-option: "reason found in network_policies_matrix -> flows"
                lines.append("%s: %s has an entry without %s, which is required" % (role, where.strip(), missing.strip()))
                continue
            names = set(re.findall(r"\w+", missing))
            lines.extend("%s: %s is not set; it must be %s (%s)" % (role, name, allowed(option), summary(option))
                         for name, option in options.items() if name in names)
            continue
        message = str(error)
        named = [name for name in options if re.search(r"\b%s\b" % re.escape(name), message)]
        if named and "got:" not in message:
            name = named[0]
            option = options[name]
            message = "%s is %s; it must be %s" % (name, shown(values.get(name), bool(option.get("no_log"))), allowed(option))
        lines.append("%s: %s" % (role, message))
    return lines
