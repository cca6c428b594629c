"""Every module's DOCUMENTATION, EXAMPLES and RETURN parse as YAML, and every description is text
(an unquoted "word: rest" inside a description turns it into a mapping, which ansible-doc and
ansible-lint reject)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any, Iterator, List, Tuple

import pytest
import yaml

MODULES = sorted((Path(__file__).resolve().parents[2] / "plugins" / "modules").glob("*.py"))


def doc_blocks(path: Path) -> Iterator[Tuple[str, str]]:
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name in ("DOCUMENTATION", "EXAMPLES", "RETURN") and isinstance(node.value, ast.Constant):
                yield name, node.value.value


def bad_descriptions(tree: Any, where: str = "") -> List[str]:
    found: List[str] = []
    if isinstance(tree, dict):
        for key, value in tree.items():
            if key == "description":
                entries = value if isinstance(value, list) else [value]
                found += ["%s.description: %r" % (where, e) for e in entries if not isinstance(e, str)]
            found += bad_descriptions(value, "%s.%s" % (where, key))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            found += bad_descriptions(value, "%s[%d]" % (where, index))
    return found


@pytest.mark.parametrize("path", MODULES, ids=[p.stem for p in MODULES])
def test_module_documentation_parses_and_describes_in_text(path: Path) -> None:
    blocks = dict(doc_blocks(path))
    assert "DOCUMENTATION" in blocks, "%s has no DOCUMENTATION" % path.name
    for name, text in blocks.items():
        parsed = list(yaml.safe_load_all(text)) if name == "EXAMPLES" else yaml.safe_load(text)
        if name == "DOCUMENTATION":
            assert bad_descriptions(parsed) == [], path.name
