# -*- coding: utf-8 -*-
# Copyright: orchestrate.platform developers
# Apache License 2.0 (see LICENSE)
"""Filters of the Atlassian roles (jira, confluence); the logic is in module_utils/atlassian_sizes.py.

- orchestrate.platform.atlassian_jvm_mib('2048m') -> 2048.0
- orchestrate.platform.atlassian_quantity_mib('4Gi') -> 4096.0
- orchestrate.platform.atlassian_required_memory_mib(max_heap, code_cache) -> 1.5 x their sum, MiB
- orchestrate.platform.atlassian_license_problem(text) -> '' or why it is no licence
"""

from __future__ import annotations

from typing import Any, Callable, Dict

from ansible.errors import AnsibleFilterError

from ansible_collections.orchestrate.platform.plugins.module_utils.atlassian_sizes import (
    SizeError,
    jvm_mib,
    license_problem,
    quantity_mib,
    required_memory_mib,
)


def _filter(function: Callable[..., Any]) -> Callable[..., Any]:
    def wrapped(*args: Any) -> Any:
        try:
            return function(*args)
        except SizeError as exc:
            raise AnsibleFilterError(str(exc))
    wrapped.__name__ = function.__name__
    wrapped.__doc__ = function.__doc__
    return wrapped


class FilterModule:
    def filters(self) -> Dict[str, Callable[..., Any]]:
        return {
            "atlassian_jvm_mib": _filter(jvm_mib),
            "atlassian_quantity_mib": _filter(quantity_mib),
            "atlassian_required_memory_mib": _filter(required_memory_mib),
            "atlassian_license_problem": license_problem,
        }
