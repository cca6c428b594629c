# -*- coding: utf-8 -*-
# Copyright: orchestrate.platform developers
# Apache License 2.0 (see LICENSE)
"""Task options that a play or inventory sets once for every role through the platform_*
variables (mode, kubeconfig, context ...), shared by the action plugins of the collection.

A task's own value wins. Otherwise the variable's value is taken once it is templated, unless it
is None (unset, or a template that gives nothing): false, 0 and "" are values a user sets on
purpose (`platform_wait: false` turns waiting off), so a truthiness test would drop them."""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, Mapping

# Option of the task -> variable that supplies it when the task does not.
PLATFORM_VARIABLES = {
    "mode": "platform_mode",
    "render_dir": "platform_render_dir",
    "kubeconfig": "platform_kubeconfig",
    "context": "platform_kube_context",
    "kube_minor": "platform_kube_minor",
    "wait": "platform_wait",
    "wait_timeout": "platform_wait_timeout",
    "applyset_namespace": "platform_applyset_namespace",
    "execution": "platform_engine_execution",
}


def inherit(args: Mapping[str, Any], task_vars: Mapping[str, Any], options: Iterable[str],
            template: Callable[[Any], Any]) -> Dict[str, Any]:
    """A copy of `args` where each of `options` the task leaves unset (None) takes the value of its
    platform_* variable, templated with `template`, when that value is not None."""
    completed = dict(args)
    for option in options:
        variable = PLATFORM_VARIABLES[option]
        if completed.get(option) is not None or task_vars.get(variable) is None:
            continue
        value = template(task_vars[variable])
        if value is not None:
            completed[option] = value
    return completed
