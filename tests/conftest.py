"""Session-wide test set-up: playbook runs write under pytest's temporary directory only, and
tests sharing an expensive session fixture stay on one pytest-xdist worker.

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
    assert not changed, ("the checkout's build/ changed during the tests (a test, or an ansible-playbook run by hand "
                         "meanwhile, wrote there): %s" % changed[:10])


# Session fixtures that run site.yml: with `pytest -n N --dist loadgroup` (make pytest) every test
# using one of them goes to the same worker, so each platform is rendered once, not once per worker.
SHARED_RENDERS = ("rendered", "platform")


def pytest_collection_modifyitems(config: pytest.Config, items: list) -> None:
    for item in items:
        for fixture in SHARED_RENDERS:
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(pytest.mark.xdist_group(name=fixture))
                break
