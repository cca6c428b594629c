"""module_utils/platform_vars.py: the one rule by which the action plugins (manifests,
manifests_secret, ha_experiment) take their options from the platform_* variables."""

from __future__ import annotations

from typing import Any

from ansible_collections.orchestrate.platform.plugins.module_utils.platform_vars import PLATFORM_VARIABLES, inherit


def untemplated(value: Any) -> Any:
    return value


def test_an_unset_option_takes_the_variable() -> None:
    args = inherit({}, {"platform_kubeconfig": "build/kubeconfig"}, ["kubeconfig"], untemplated)
    assert args == {"kubeconfig": "build/kubeconfig"}


def test_the_task_value_wins_over_the_variable() -> None:
    args = inherit({"mode": "render"}, {"platform_mode": "apply"}, ["mode"], untemplated)
    assert args == {"mode": "render"}


def test_false_zero_and_empty_values_are_inherited_as_set_on_purpose() -> None:
    task_vars = {"platform_wait": False, "platform_wait_timeout": 0, "platform_kube_context": ""}
    args = inherit({}, task_vars, ["wait", "wait_timeout", "context"], untemplated)
    assert args == {"wait": False, "wait_timeout": 0, "context": ""}


def test_a_task_option_given_as_none_counts_as_unset() -> None:
    assert inherit({"wait": None}, {"platform_wait": False}, ["wait"], untemplated) == {"wait": False}


def test_an_unset_variable_or_one_that_templates_to_none_leaves_the_option_unset() -> None:
    templates = {"{{ nothing }}": None}
    args = inherit({}, {"platform_kube_context": "{{ nothing }}"}, ["context", "kubeconfig"], templates.get)
    assert args == {}


def test_the_variable_is_templated() -> None:
    args = inherit({}, {"platform_mode": "{{ m }}"}, ["mode"], {"{{ m }}": "apply"}.get)
    assert args == {"mode": "apply"}


def test_only_the_options_asked_for_are_taken_and_the_arguments_are_not_modified() -> None:
    original = {"role": "demo"}
    args = inherit(original, {"platform_mode": "apply", "platform_wait": True}, ["mode"], untemplated)
    assert args == {"role": "demo", "mode": "apply"}
    assert original == {"role": "demo"}


def test_the_options_of_every_action_plugin_have_a_variable() -> None:
    # manifests inherits every one; manifests_secret mode/kubeconfig/context; ha_experiment kubeconfig/context.
    assert {"mode", "kubeconfig", "context", "wait", "render_dir"} <= set(PLATFORM_VARIABLES)
    assert all(variable.startswith("platform_") for variable in PLATFORM_VARIABLES.values())
