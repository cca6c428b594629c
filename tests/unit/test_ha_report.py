"""HA test report generation on a synthetic run: the JSON validates against its schema, the
Markdown carries every figure, the PNGs open with the expected size."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict

import jsonschema
import pytest
from PIL import Image

from ansible_collections.orchestrate.platform.plugins.module_utils.ha_metrics import Experiment, Sample, Thresholds
from ansible_collections.orchestrate.platform.plugins.module_utils.ha_probe import Log, Probe, ReadBack, Write
from ansible_collections.orchestrate.platform.plugins.module_utils.ha_report import (
    FIGURE_ROWS,
    PLOT_SIZE,
    SCHEMA,
    ReportError,
    Run,
    evaluate,
    experiments_from,
    markdown,
    validate,
    write,
)

WALL0 = 1_900_000_000.0


def synthetic(lost: bool = False) -> Run:
    """30 s of probes every 0.5 s with a 2 s outage at 10 s, 30 writes, a pod loss at 9 s."""
    log = Log()
    for i in range(60):
        t = i * 0.5
        log.add(Probe("wordpress", i, 100.0 + t, WALL0 + t, 0.020 + (i % 7) / 1000.0, not 10 <= t < 12,
                      200 if not 10 <= t < 12 else 503, "" if not 10 <= t < 12 else "HTTP 503"))
    for i in range(30):
        log.add(Write("mariadb", i, 200.0 + i, WALL0 + i, 0.005, i != 11, "" if i != 11 else "lost connection"))
    log.add(ReadBack("mariadb", [s for s in range(30) if s != 11 and not (lost and s == 4)], 300.0, WALL0 + 31))
    samples = [Sample(50.0 + s, WALL0 + s, 2 if 9 < s < 14 else 3, 3) for s in range(0, 30)]
    experiments = [Experiment("delete-one-wordpress-pod", "pod_loss", "wordpress/wordpress", WALL0 + 9, WALL0 + 29)]
    return Run(label="synthetic run (unit test)", log=log, experiments=experiments,
               samples={"delete-one-wordpress-pod": samples},
               skipped=[{"name": "galera-full-outage", "reason": "MariaDB Galera is not deployed (no StatefulSet mariadb/mariadb-galera)"}])


def test_the_document_validates_and_carries_the_figures() -> None:
    document = evaluate(synthetic(), Thresholds())
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.validate(document, SCHEMA)
    figures = document["experiments"][0]["figures"]
    assert figures["longest_error_window"] == pytest.approx(2.0)
    assert figures["time_to_detect"] == pytest.approx(1.0) and figures["time_to_ready"] == pytest.approx(5.0)
    assert document["integrity"]["lost"] == [] and document["integrity"]["unacknowledged_present"] == []
    assert document["verdict"] == "pass" and document["violations"] == []


def test_a_lost_write_fails_the_run() -> None:
    document = evaluate(synthetic(lost=True), Thresholds())
    assert document["verdict"] == "fail" and document["integrity"]["lost"] == [4]
    assert document["violations"] == ["1 acknowledged writes were not read back (allowed 0): [4]"]


def test_a_tighter_threshold_fails_the_run() -> None:
    document = evaluate(synthetic(), Thresholds(pod_loss_max_error_seconds=1.0))
    assert document["verdict"] == "fail" and "2.0 s of failed requests" in document["violations"][0]


@pytest.mark.parametrize("breakage", [
    lambda d: d.update(verdict="maybe"),
    lambda d: d["experiments"][0]["figures"].update(error_rate=1.5),
    lambda d: d["experiments"][0]["figures"].pop("p99"),
    lambda d: d["skipped"].append({"name": "x", "reason": ""}),
    lambda d: d.update(extra=1),
])
def test_the_schema_rejects_broken_documents(breakage: Any) -> None:
    document = evaluate(synthetic(), Thresholds())
    breakage(document)
    with pytest.raises(ReportError):
        validate(document)


def test_the_markdown_has_every_figure() -> None:
    document = evaluate(synthetic(), Thresholds())
    text = markdown(document)
    for title, show in FIGURE_ROWS:
        assert "| %s | %s |" % (title, show(document["experiments"][0]["figures"])) in text
    assert "| Longest error window | 2.00 s |" in text and "| Time to Ready | 5.00 s |" in text
    assert "29 acknowledged, 29 read back, 0 lost" in text
    assert "`galera-full-outage`: MariaDB Galera is not deployed" in text
    assert "Verdict: **PASS**" in text and "synthetic run (unit test)" in text


def test_the_files_are_written_and_the_plots_open(tmp_path: Path) -> None:
    document = write(synthetic(), Thresholds(), tmp_path / "ha-test")
    written = sorted(p.name for p in (tmp_path / "ha-test").iterdir())
    assert written == ["replicas.png", "report.json", "report.schema.json", "requests.png", "summary.md"]
    assert json.loads((tmp_path / "ha-test/report.json").read_text()) == document
    for name in ("requests.png", "replicas.png"):
        with Image.open(tmp_path / "ha-test" / name) as image:
            image.verify()
        with Image.open(tmp_path / "ha-test" / name) as image:
            assert image.format == "PNG" and image.size == PLOT_SIZE
            assert len(image.convert("RGB").getcolors(maxcolors=1 << 20) or []) > 10, "%s is blank" % name


def test_experiments_from_names_the_missing_field() -> None:
    assert experiments_from([{"name": "a", "kind": "drain", "target": "t", "start": 1, "end": "2"}])[0].end == 2.0
    with pytest.raises(ReportError, match="start"):
        experiments_from([{"name": "a", "kind": "drain", "target": "t", "end": 2}])


def test_a_run_without_writes_is_not_checked_rather_than_passed() -> None:
    run = synthetic()
    run.log.events = [e for e in run.log.events if isinstance(e, Probe)]
    document: Dict[str, Any] = evaluate(run, Thresholds())
    assert document["integrity"]["checked"] is False
    assert "No writes were made: not checked." in markdown(document)


def test_the_action_plugin_builds_the_run_from_logs_and_results() -> None:
    from ansible_collections.orchestrate.platform.plugins.action.ha_report import build_run, thresholds_from
    from ansible_collections.orchestrate.platform.plugins.module_utils.ha_probe import to_line

    run = synthetic()
    results = [{"name": e.name, "kind": e.kind, "target": e.target, "start": e.start, "end": e.end, "skipped": "",
                "samples": [s.__dict__ for s in run.samples[e.name]]} for e in run.experiments]
    results.append({"name": "galera-full-outage", "skipped": "StatefulSet mariadb/mariadb-galera is not deployed"})
    again = build_run("x", ["prober starting"] + [to_line(e) for e in run.log.events], results)
    assert again.log.events == run.log.events and again.experiments == run.experiments
    assert again.skipped == [{"name": "galera-full-outage", "reason": "StatefulSet mariadb/mariadb-galera is not deployed"}]
    assert evaluate(again, thresholds_from({"max_lost_writes": "0"}))["verdict"] == "pass"
    with pytest.raises(ReportError, match="unknown thresholds: typo"):
        thresholds_from({"typo": 1})


def test_a_node_loss_carries_its_moments_into_the_document_and_the_summary() -> None:
    run = synthetic()
    run.experiments = [Experiment("vm_stop", "vm_stop", "wordpress/wordpress", WALL0 + 9, WALL0 + 29,
                                  marks={"node_not_ready": 41.2, "rescheduled": 63.5, "node_ready_again": 80.0})]
    run.samples = {"vm_stop": run.samples["delete-one-wordpress-pod"]}
    document = evaluate(run, Thresholds())
    assert document["experiments"][0]["marks"] == {"node_not_ready": 41.2, "rescheduled": 63.5, "node_ready_again": 80.0}
    text = markdown(document)
    assert ("- `vm_stop`: node NotReady after 41.2 s, every replica Ready off the node after 63.5 s, "
            "node Ready again after 80.0 s") in text
    broken = json.loads(json.dumps(document))
    broken["experiments"][0]["marks"]["rescheduled"] = -1
    with pytest.raises(ReportError):
        validate(broken)
    assert experiments_from([{"name": "a", "kind": "vm_stop", "target": "t", "start": 1, "end": 2,
                              "marks": {"node_not_ready": 3}}])[0].marks == {"node_not_ready": 3.0}
