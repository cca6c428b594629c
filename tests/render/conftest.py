"""Render the whole platform once per test session into a temporary directory."""

from __future__ import annotations

import pytest

from project import run_playbook
from rendered import Rendered


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    """site.yml run twice on the render-only default inventory, into a fresh directory."""
    root = tmp_path_factory.mktemp("manifests")
    args = ["site.yml", "-e", "platform_render_dir=%s" % root]
    first = run_playbook(args)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    second = run_playbook(args)
    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-2000:]
    return Rendered(root, first, second)
