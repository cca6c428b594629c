"""The rendered platform: files and objects, loaded once per test session."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any, Dict, List

import yaml

Obj = Dict[str, Any]


def load_tree(root: Path) -> Dict[str, List[Obj]]:
    """Every rendered file (relative path) with the objects it holds."""
    return {
        str(path.relative_to(root)): [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
        for path in sorted(root.rglob("*.yaml"))
    }


class Rendered:
    def __init__(self, root: Path, first: subprocess.CompletedProcess, second: subprocess.CompletedProcess) -> None:
        self.root = root
        # The run's build directory (platform_build_dir) and what it changed in the checkout's build/.
        self.build = root.parent
        self.checkout_changed: List[str] = []
        self.first = first
        self.second = second
        self.files = load_tree(root)
        self.objects: List[Obj] = [obj for objs in self.files.values() for obj in objs]

    def of_kind(self, *kinds: str) -> List[Obj]:
        return [obj for obj in self.objects if obj.get("kind") in kinds]


def under(rendered: Rendered, prefix: str, kind: str) -> List[Obj]:
    """The objects of `kind` rendered under `prefix` (`<stage>/<role>/`); fails when nothing at all
    was rendered there (the stage playbook is not imported by site.yml)."""
    if not any(path.startswith(prefix) for path in rendered.files):
        raise AssertionError("site.yml rendered nothing under %s: is its stage playbook imported by site.yml?" % prefix)
    return [obj for path, objs in rendered.files.items() if path.startswith(prefix) for obj in objs if obj.get("kind") == kind]


def only(rendered: Rendered, prefix: str, kind: str, name: str = "") -> Obj:
    """The single object of `kind` (and `name`, when given) under `prefix`."""
    found = [obj for obj in under(rendered, prefix, kind) if not name or obj["metadata"]["name"] == name]
    assert len(found) == 1, "expected one %s %s under %s, found %d" % (kind, name, prefix, len(found))
    return found[0]


def container(workload: Obj, name: str) -> Obj:
    """The container (or init container) called `name` of a workload's pod template."""
    spec = ((workload.get("spec") or {}).get("template") or {}).get("spec") or {}
    if workload.get("kind") == "CronJob":
        job = ((workload.get("spec") or {}).get("jobTemplate") or {}).get("spec") or {}
        spec = (job.get("template") or {}).get("spec") or {}
    return next(c for c in list(spec.get("initContainers") or []) + list(spec.get("containers") or []) if c["name"] == name)
