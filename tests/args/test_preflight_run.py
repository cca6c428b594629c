"""A bad value stops a real run in preflight, before anything is rendered or changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from project import run_playbook

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("extra, named", [
    ("namespaces_pod_security=bogus", "namespaces_pod_security"),
    ('{"namespaces_list": [{"name": "Not_A_Label"}]}', "namespaces_list"),
    ('{"namespaces_list": [{"name": "web", "pod_security": "baseline"}]}', "namespaces_list"),
    ("namespaces_pod_security_version=1.36", "namespaces_pod_security_version"),
])
def test_site_stops_in_preflight_naming_the_variable(tmp_path: Path, extra: str, named: str) -> None:
    target = tmp_path / "manifests"
    result = run_playbook(["site.yml", "-e", "platform_render_dir=%s" % target, "-e", extra])
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert named in output
    assert "PLAY [Preflight" in output and "PLAY [Security stage" not in output
    assert not target.exists(), "something was rendered although preflight failed"
