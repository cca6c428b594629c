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


BUNDLES = ("calico", "storage", "gateway", "postgresql")


def test_offline_each_upstream_bundle_is_one_line_and_nothing_failed(rendered: Rendered) -> None:
    """Issue 13, point 3: decided once (one probe), one line per bundle, no ignored failures."""
    output = rendered.first.stdout
    assert output.count("TASK [Find out once whether upstream files can be fetched]") == 1
    lines = re.findall(r"msg: '?(\w+): (\d+) upstream file\(s\) left out, upstream not reachable", output)
    assert sorted(role for role, _ in lines) == sorted(BUNDLES), lines
    assert "FAILED!" not in output and "...ignoring" not in output and "fatal:" not in output


def test_the_closing_summary_is_exact(rendered: Rendered) -> None:
    output = rendered.first.stdout[rendered.first.stdout.index("TASK [Say what was rendered"):]
    for stage in sorted({path.split("/")[0] for path in rendered.files}):
        files = {path: objs for path, objs in rendered.files.items() if path.startswith(stage + "/")}
        objects = sum(len(objs) for objs in files.values())
        assert "%s: %d object(s) in %d file(s)" % (stage, objects, len(files)) in output, output[:3000]
    for role in BUNDLES:
        assert re.search(r"upstream %s: left out \(\d+ file\(s\)\): upstream not reachable" % role, output), output[:3000]
    assert "%d object(s) in %d file(s) under" % (len(rendered.objects), len(rendered.files)) in output


def test_no_empty_file_and_no_site_that_was_never_created(rendered: Rendered) -> None:
    assert [path for path, objs in rendered.files.items() if not objs] == []
    assert "password in" not in rendered.first.stdout and "Site: https://" not in rendered.first.stdout


def test_second_run_changes_nothing(rendered: Rendered) -> None:
    assert recap_changed(rendered.second.stdout) == 0


def test_every_stage_renders_into_its_own_directory(rendered: Rendered) -> None:
    stages = {path.split("/")[0] for path in rendered.files}
    assert STAGES_WITH_MANIFESTS <= stages
    for path in rendered.files:
        assert len(path.split("/")) == 3, "expected <stage>/<role>/<file>: %s" % path
