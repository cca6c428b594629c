# -*- coding: utf-8 -*-
# Copyright: orchestrate.platform developers
# Apache License 2.0 (see LICENSE)
"""Which roles a run with --tags/--skip-tags will run, so that preflight checks, fact gathering
and the roles' own argument validation (which Ansible tags `always`) happen only for them.

- orchestrate.platform.run_roles(stages, run_tags, skip_tags): the roles, in stage order
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, List, Mapping, Sequence

SELECT_ALL = {"all", "tagged"}


def _stages_of(stages: Mapping[str, Sequence[str]]) -> Dict[str, List[str]]:
    """role -> the stages (tags) whose plays run it, in stage order."""
    found: Dict[str, List[str]] = {}
    for stage, roles in stages.items():
        for role in roles:
            found.setdefault(role, []).append(stage)
    return found


def _selected(role: str, role_stages: Sequence[str], run: Iterable[str]) -> bool:
    for tag in run:
        if tag in SELECT_ALL or tag == role or tag.startswith(role + "_"):
            return True
        if tag in role_stages or any(tag == stage + "_preflight" for stage in role_stages):
            return True
    return False


def run_roles(stages: Mapping[str, Sequence[str]], run_tags: Sequence[str] = ("all",),
              skip_tags: Sequence[str] = ()) -> List[str]:
    """The roles whose tasks a run selects: a role runs when a run tag is its stage, its name or one
    of its step tags (<role>_<step>, <stage>_preflight); it is skipped, as Ansible skips its tasks,
    when a skip tag is its name or one of its stages."""
    run = list(run_tags or ["all"])
    skip = set(skip_tags or [])
    return [
        role for role, role_stages in _stages_of(stages).items()
        if _selected(role, role_stages, run) and role not in skip and not skip.intersection(role_stages)
    ]


class FilterModule:
    def filters(self) -> Dict[str, Callable[..., Any]]:
        return {"run_roles": run_roles}
