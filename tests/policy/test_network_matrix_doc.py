"""docs/network-matrix.md is generated from the matrix by scripts/gen-network-matrix.py and
must be current; the generator notices a changed matrix."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import yaml

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "scripts" / "gen-network-matrix.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_network_matrix", GENERATOR)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_document_is_current() -> None:
    result = subprocess.run([sys.executable, str(GENERATOR), "--check"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_changed_matrix_makes_the_document_stale(tmp_path: Path) -> None:
    generator = load()
    defaults = yaml.safe_load(generator.DEFAULTS.read_text())
    defaults["network_policies_matrix"]["flows"].append(
        {"from": "grafana", "to": "elasticsearch", "ports": [9200], "reason": "Logs datasource"})
    changed = tmp_path / "defaults.yml"
    changed.write_text(yaml.safe_dump(defaults))
    doc = tmp_path / "network-matrix.md"
    doc.write_text(generator.DOC.read_text())
    assert generator.stale_reason(doc, changed) == "network-matrix.md differs from network_policies_matrix"
    assert generator.main(["--doc", str(doc), "--defaults", str(changed)]) == 0
    text = doc.read_text()
    assert "| `grafana` | `elasticsearch` | 9200 | always | Logs datasource |" in text
    assert 'n_grafana -->|"9200"| n_elasticsearch' in text
    assert generator.stale_reason(doc, changed) is None


def test_every_flow_and_endpoint_is_in_the_document() -> None:
    generator = load()
    text = generator.DOC.read_text()
    defaults = yaml.safe_load(generator.DEFAULTS.read_text())
    for ep in defaults["network_policies_matrix"]["endpoints"]:
        assert "| `%s` |" % ep["name"] in text
    assert text.count("-->|") + text.count("-.->|") == len(defaults["network_policies_matrix"]["flows"])
