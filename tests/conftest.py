"""Session-wide test set-up: playbook runs write under pytest's temporary directory only.

tests/project.py gives every ansible-playbook run a fresh build directory under
TEST_BUILD_ROOT; the checkout's build/ is left exactly as it was (checked at the end)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from project import checkout_build_state


@pytest.fixture(scope="session", autouse=True)
def playbook_build_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.getbasetemp() / "playbook-builds"
    root.mkdir(exist_ok=True)
    before = checkout_build_state()
    previous = os.environ.get("TEST_BUILD_ROOT")
    os.environ["TEST_BUILD_ROOT"] = str(root)
    yield root
    if previous is None:
        os.environ.pop("TEST_BUILD_ROOT", None)
    else:
        os.environ["TEST_BUILD_ROOT"] = previous
    after = checkout_build_state()
    changed = sorted(path for path in set(before) | set(after) if before.get(path) != after.get(path))
    assert not changed, "the tests wrote into the checkout: %s" % changed[:10]
