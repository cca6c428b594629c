"""Render mode: file planning, writing, stale-file removal, diffs and schema validation."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_objects import ManifestError
from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_render import (
    SchemaValidator,
    diffs,
    execute,
    output_name,
    plan,
    validate,
)

CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n"}, "data": {"k": "v"}}
SECRET = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "n"}, "stringData": {"password": "hunter2"}}


@pytest.mark.parametrize("source, name", [("10-cm.yaml.j2", "10-cm.yaml"), ("x/20-a.yml", "20-a.yml"), ("calico.j2", "calico.yaml")])
def test_output_name(source: str, name: str) -> None:
    assert output_name(source) == name


def test_plan_execute_then_nothing_to_do(tmp_path: Path) -> None:
    documents = [("10-cm.yaml.j2", [CM]), ("20-secret.yaml.j2", [SECRET])]
    first = plan(str(tmp_path), documents)
    assert first.changed and sorted(first.write) == ["10-cm.yaml", "20-secret.yaml"]
    execute(first)
    assert stat.S_IMODE(os.stat(tmp_path / "20-secret.yaml").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "10-cm.yaml").st_mode) == 0o644
    second = plan(str(tmp_path), documents)
    assert not second.changed and sorted(second.unchanged) == ["10-cm.yaml", "20-secret.yaml"]


def test_stale_files_are_removed_and_others_left(tmp_path: Path) -> None:
    execute(plan(str(tmp_path), [("10-cm.yaml.j2", [CM]), ("20-old.yaml.j2", [CM])]))
    (tmp_path / "notes.txt").write_text("mine")
    result = plan(str(tmp_path), [("10-cm.yaml.j2", [CM])])
    assert result.remove == ["20-old.yaml"] and result.changed
    execute(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["10-cm.yaml", "notes.txt"]


def test_a_template_that_renders_nothing_writes_no_file(tmp_path: Path) -> None:
    (tmp_path / "30-optional.yaml").write_text("---\nkind: ConfigMap\n")
    result = plan(str(tmp_path), [("10-cm.yaml.j2", [CM]), ("30-optional.yaml.j2", [])])
    execute(result)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["10-cm.yaml"]


def test_two_sources_for_one_file_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="same file"):
        plan(str(tmp_path), [("a/10-x.yaml.j2", [CM]), ("b/10-x.yaml", [CM])])


def test_diffs_hide_secret_values(tmp_path: Path) -> None:
    documents = [("20-secret.yaml.j2", [SECRET])]
    execute(plan(str(tmp_path), documents))
    changed = [("20-secret.yaml.j2", [dict(SECRET, stringData={"password": "new"})])]
    shown = diffs(plan(str(tmp_path), changed), changed)
    assert len(shown) == 1
    text = shown[0]["before"] + shown[0]["after"]
    assert "hunter2" not in text and "new" not in text


def test_schema_validation_catches_errors_and_unknown_kinds() -> None:
    validator = SchemaValidator("1.36")
    bad = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": 1}}
    typo = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replica": 2}}
    custom = {"apiVersion": "example.org/v1", "kind": "Widget", "metadata": {"name": "w"}}
    result = validate([CM, bad, typo, custom], validator)
    assert result.validated == 3
    assert len(result.invalid) == 2
    assert any("ConfigMap/c" in line and "data/k" in line for line in result.invalid)
    assert any("Deployment/d" in line for line in result.invalid)
    assert result.no_schema == ["Widget/w (example.org/v1)"]
