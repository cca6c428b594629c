"""Reading roles' argument specs and defaults, and deriving inputs that must be refused."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import yaml

from project import ROLES

Spec = Dict[str, Any]


def role_names() -> List[str]:
    return sorted(path.parent.parent.name for path in ROLES.glob("*/meta/argument_specs.yml"))


def roles_without_specs() -> List[str]:
    return sorted(p.name for p in ROLES.iterdir() if p.is_dir() and not (p / "meta/argument_specs.yml").exists())


def allowed_prefixes(role: str) -> tuple:
    """A role's variables start with its name; platform_* are the inventory-wide settings, and the
    gce_* infrastructure roles share the one gce_* variable model of inventories/gce."""
    shared = ("gce_",) if role.startswith("gce_") else ()
    return (role + "_", "platform_") + shared


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text()) if path.exists() else None


def entry_points(role: str) -> Dict[str, Spec]:
    return (load_yaml(ROLES / role / "meta/argument_specs.yml") or {}).get("argument_specs") or {}


def main_options(role: str) -> Dict[str, Spec]:
    return entry_points(role).get("main", {}).get("options") or {}


def defaults(role: str) -> Dict[str, Any]:
    return load_yaml(ROLES / role / "defaults/main.yml") or {}


# Values that a validator of the given type must refuse (and a short label for test ids).
WRONG_TYPE: Dict[str, Any] = {
    "int": "not-a-number",
    "float": "not-a-number",
    "bool": "not-a-boolean",
    "list": {"a": "mapping"},
    "dict": "not-a-mapping",
}


@dataclass(frozen=True)
class BadInput:
    role: str
    option: str
    value: Any
    why: str

    @property
    def id(self) -> str:
        return "%s-%s" % (self.option, self.why)


def placeholder(spec: Spec) -> Any:
    """A valid value for an option (used for required options while another one is under test)."""
    if spec.get("choices"):
        return spec["choices"][0]
    return {"int": 1, "float": 1.0, "bool": True, "list": [], "dict": {}, "path": "/tmp"}.get(spec.get("type", "str"), "x")


def required_params(options: Dict[str, Spec], skip: Optional[str] = None) -> Dict[str, Any]:
    return {name: placeholder(spec) for name, spec in options.items() if spec.get("required") and name != skip}


def bad_inputs(role: str) -> Iterator[BadInput]:
    """For every option: an unknown choice, a value of the wrong type, or its absence when required."""
    for option, spec in sorted(main_options(role).items()):
        if spec.get("choices"):
            yield BadInput(role, option, "bogus-choice", "unknown-choice")
        elif spec.get("type") in WRONG_TYPE and not (spec.get("type") == "list" and spec.get("elements") is None):
            yield BadInput(role, option, WRONG_TYPE[spec["type"]], "wrong-type")
        if spec.get("required"):
            yield BadInput(role, option, None, "missing")
