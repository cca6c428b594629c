"""module_utils/inputs.py: one short line per bad or missing setting (issue 13, point 4)."""

from __future__ import annotations

from ansible_collections.orchestrate.platform.plugins.module_utils.inputs import allowed, problems

OPTIONS = {
    "demo_mode": {"type": "str", "choices": ["render", "apply"], "description": "Render or apply. More text."},
    "demo_replicas": {"type": "int", "description": "How many pods."},
    "demo_project": {"type": "str", "required": True, "description": "The project ID. Must exist."},
    "demo_token": {"type": "int", "no_log": True, "description": "A secret number."},
    "demo_ports": {"type": "list", "elements": "int", "description": "Ports."},
}


def test_valid_values_give_no_problem() -> None:
    assert problems("demo", OPTIONS, {"demo_mode": "apply", "demo_replicas": 3, "demo_project": "p"}) == []


def test_a_bad_choice_names_the_variable_the_value_and_the_choices() -> None:
    [line] = problems("demo", OPTIONS, {"demo_mode": "bogus", "demo_project": "p"})
    assert line == "demo: value of demo_mode must be one of: render, apply, got: bogus"


def test_a_bad_type_names_the_value_and_the_type() -> None:
    [line] = problems("demo", OPTIONS, {"demo_replicas": "many", "demo_project": "p"})
    assert line == "demo: demo_replicas is 'many'; it must be an int"


def test_every_missing_variable_gets_its_own_line_with_its_description() -> None:
    lines = problems("demo", dict(OPTIONS, demo_other={"type": "str", "required": True, "description": "Other."}), {})
    assert lines == ["demo: demo_project is not set; it must be a str (The project ID.)",
                     "demo: demo_other is not set; it must be a str (Other.)"]  # in the spec's order


def test_a_secret_value_is_not_shown() -> None:
    [line] = problems("demo", OPTIONS, {"demo_token": "s3cret", "demo_project": "p"})
    assert "hidden" in line and "s3cret" not in line


def test_all_problems_are_reported_together_and_short() -> None:
    lines = problems("demo", OPTIONS, {"demo_mode": "x", "demo_replicas": "y", "demo_ports": ["a"]})
    assert len(lines) == 4
    assert all(len(line) < 200 and "\n" not in line for line in lines)


def test_allowed_in_words() -> None:
    assert allowed(OPTIONS["demo_ports"]) == "a list of int"
    assert allowed({"type": "dict"}) == "a dict"


def test_a_missing_sub_option_names_its_path_not_the_variable_as_unset() -> None:
    options = {"demo_matrix": {"type": "dict", "description": "Flows.", "options": {
        "flows": {"type": "list", "elements": "dict", "options": {
            "to": {"type": "str"}, "reason": {"type": "str", "required": True}}}}}}
    [line] = problems("demo", options, {"demo_matrix": {"flows": [{"to": "x"}]}})
    assert line == "demo: demo_matrix -> flows has an entry without reason, which is required"
