"""Every role validates its inputs: specs match defaults, and bad values are refused by name."""

from __future__ import annotations

from typing import Any, Dict, List

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

import specs

ROLES = specs.role_names()
BAD = [bad for role in ROLES for bad in specs.bad_inputs(role)]


def validate(options: Dict[str, Any], params: Dict[str, Any]) -> List[str]:
    return list(ArgumentSpecValidator(options).validate(params).error_messages)


def test_every_role_has_argument_specs() -> None:
    assert ROLES, "no role found"
    assert not specs.roles_without_specs()


@pytest.mark.parametrize("role", ROLES)
def test_specs_and_defaults_list_the_same_variables(role: str) -> None:
    options = specs.main_options(role)
    required = {name for name, spec in options.items() if spec.get("required")}
    assert set(specs.defaults(role)) == set(options) - required, (
        "defaults/main.yml and meta/argument_specs.yml (main) disagree for role %s" % role
    )
    assert not required & set(specs.defaults(role)), "required options must not have defaults"


@pytest.mark.parametrize("role", ROLES)
def test_every_option_is_described_typed_and_prefixed(role: str) -> None:
    for entry, spec in specs.entry_points(role).items():
        for name, option in (spec.get("options") or {}).items():
            assert option.get("description"), "%s (%s): %s has no description" % (role, entry, name)
            assert option.get("type"), "%s (%s): %s has no type" % (role, entry, name)
            assert name.startswith(specs.allowed_prefixes(role)), (
                "%s (%s): %s is not prefixed with the role name" % (role, entry, name)
            )


@pytest.mark.parametrize("role", ROLES)
def test_defaults_pass_their_own_specs(role: str) -> None:
    options = specs.main_options(role)
    literal = {k: v for k, v in specs.defaults(role).items() if not (isinstance(v, str) and "{{" in v)}
    assert not validate(options, dict(specs.required_params(options), **literal))


@pytest.mark.parametrize("bad", BAD, ids=[bad.role + ":" + bad.id for bad in BAD])
def test_bad_input_is_refused_naming_the_variable(bad: specs.BadInput) -> None:
    options = specs.main_options(bad.role)
    params = specs.required_params(options, skip=bad.option)
    if bad.value is not None:
        params[bad.option] = bad.value
    errors = validate(options, params)
    assert errors, "%s=%r was accepted" % (bad.option, bad.value)
    assert any(bad.option in error for error in errors), errors


def test_the_generator_covers_choices_types_and_required() -> None:
    options = {
        "r_level": {"type": "str", "choices": ["a", "b"]},
        "r_count": {"type": "int"},
        "r_name": {"type": "str", "required": True},
        "r_free": {"type": "str"},
    }
    import unittest.mock

    with unittest.mock.patch.object(specs, "main_options", return_value=options):
        found = {(bad.option, bad.why) for bad in specs.bad_inputs("r")}
    assert found == {("r_level", "unknown-choice"), ("r_count", "wrong-type"), ("r_name", "missing")}


@pytest.mark.parametrize("role", [role for role in ROLES if "preflight" in specs.entry_points(role)])
def test_the_preflight_entry_point_checks_what_main_does(role: str) -> None:
    """playbooks/preflight.yml includes each role's `preflight` tasks without Ansible's validation
    (rolespec_validate: false) right after check_inputs checked the `main` specs: the same ones."""
    entries = specs.entry_points(role)
    assert entries["preflight"].get("options") == entries["main"].get("options"), role
