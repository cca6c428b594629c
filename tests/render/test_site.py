"""site.yml on the default inventory: renders, says it applied nothing, and is idempotent."""

from __future__ import annotations

import re

from rendered import Rendered

STAGES_WITH_MANIFESTS = {"security", "platform", "apps"}


def recap_changed(output: str) -> int:
    match = re.search(r"localhost\s+:\s+ok=\d+\s+changed=(\d+)", output)
    assert match, "no PLAY RECAP for localhost in:\n" + output[-2000:]
    return int(match.group(1))


def test_first_run_renders_and_says_nothing_was_applied(rendered: Rendered) -> None:
    assert recap_changed(rendered.first.stdout) > 0
    assert "RENDER-ONLY RUN: nothing was created or changed in any cloud or cluster." in rendered.first.stdout
    assert rendered.files, "site.yml rendered no manifest"


def test_runs_write_into_their_build_directory_not_into_the_checkout(rendered: Rendered) -> None:
    """platform_build_dir moves downloads and secrets with the manifests (issue 13, point 5)."""
    assert rendered.checkout_changed == []
    assert (rendered.build / "secrets" / "gateway" / "tls.key").is_file()
    assert (rendered.build / "secrets" / "wordpress-admin-password").is_file()


def test_second_run_changes_nothing(rendered: Rendered) -> None:
    assert recap_changed(rendered.second.stdout) == 0


def test_every_stage_renders_into_its_own_directory(rendered: Rendered) -> None:
    stages = {path.split("/")[0] for path in rendered.files}
    assert STAGES_WITH_MANIFESTS <= stages
    for path in rendered.files:
        assert len(path.split("/")) == 3, "expected <stage>/<role>/<file>: %s" % path
