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
        self.first = first
        self.second = second
        self.files = load_tree(root)
        self.objects: List[Obj] = [obj for objs in self.files.values() for obj in objs]

    def of_kind(self, *kinds: str) -> List[Obj]:
        return [obj for obj in self.objects if obj.get("kind") in kinds]
