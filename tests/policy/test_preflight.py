"""A broken matrix stops the run in preflight, naming the variable, before anything renders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from project import run_playbook

DEFAULTS = Path(__file__).resolve().parents[2] / "roles" / "network_policies" / "defaults" / "main.yml"


@pytest.mark.slow
def test_a_broken_matrix_stops_in_preflight(tmp_path: Path) -> None:
    matrix = yaml.safe_load(DEFAULTS.read_text())["network_policies_matrix"]
    matrix["flows"] += [
        {"from": "wordpress", "to": "nowhere", "ports": [80], "reason": "x"},
        {"from": "wordpress", "to": "grafana", "ports": ["80/ICMP"], "reason": "x"},
        {"from": "wordpress", "to": "grafana", "ports": [80], "reason": "x", "optional": "nope"},
    ]
    extra = tmp_path / "extra.json"
    extra.write_text(json.dumps({"network_policies_matrix": matrix}))
    result = run_playbook(["site.yml", "-e", "@%s" % extra, "-e", "platform_render_dir=%s" % (tmp_path / "out")])
    assert result.returncode != 0
    for expected in ("network_policies_matrix", "unknown: ['nowhere']", "bad: ['80/ICMP']", "unknown: ['nope']"):
        assert expected in result.stdout, result.stdout[-3000:]
    assert not (tmp_path / "out" / "security").exists(), "something was rendered before the preflight stopped the run"


@pytest.mark.slow
def test_a_flow_without_a_reason_is_refused_by_the_argument_specs(tmp_path: Path) -> None:
    matrix = yaml.safe_load(DEFAULTS.read_text())["network_policies_matrix"]
    matrix["flows"].append({"from": "wordpress", "to": "grafana", "ports": [80]})
    extra = tmp_path / "extra.json"
    extra.write_text(json.dumps({"network_policies_matrix": matrix}))
    result = run_playbook(["site.yml", "-e", "@%s" % extra, "-e", "platform_render_dir=%s" % (tmp_path / "out")])
    assert result.returncode != 0, result.stdout[-3000:]
    assert "network_policies_matrix -> flows has an entry without reason" in result.stdout, result.stdout[-3000:]
