"""Render the whole platform once per test session into a temporary directory."""

from __future__ import annotations

import pytest

from project import checkout_build_state, run_playbook
from rendered import Rendered


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    """site.yml run twice on the render-only default inventory, everything it writes (manifests,
    secrets, downloads) in one fresh build directory outside the checkout."""
    build = tmp_path_factory.mktemp("build")
    checkout_before = checkout_build_state()
    # The once-per-run upstream probe, answered "no" by a closed loopback port.
    offline = ["-e", "platform_upstream_fetch=auto", "-e", "platform_upstream_probe_url=http://127.0.0.1:9/"]
    first = run_playbook(["site.yml", *offline], build_dir=build)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    second = run_playbook(["site.yml", *offline], build_dir=build)
    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-2000:]
    rendered = Rendered(build / "manifests", first, second)
    rendered.build = build
    rendered.checkout_changed = sorted(
        path for path, mtime in checkout_build_state().items() if checkout_before.get(path) != mtime)
    return rendered
