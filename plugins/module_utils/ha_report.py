# -*- coding: utf-8 -*-
# Copyright: orchestrate.platform developers
# Apache License 2.0 (see LICENSE)
"""The HA test's report: one JSON document (checked against SCHEMA with jsonschema), a Markdown
summary with every figure, and two PNG plots made with matplotlib (requests over time with the
failures marked; ready replicas over time). Runs on the controller."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from ansible_collections.orchestrate.platform.plugins.module_utils.ha_metrics import (
    KINDS,
    Experiment,
    Sample,
    Thresholds,
    clock_steps,
    figures,
    integrity,
    integrity_violations,
    placed,
    violations,
)
from ansible_collections.orchestrate.platform.plugins.module_utils.ha_probe import Log

SCHEMA_VERSION = 1
PLOT_SIZE = (1200, 500)  # pixels of each PNG (width, height)
_DPI = 100

_NUMBER_OR_NULL = {"type": ["number", "null"]}
SCHEMA: Dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "orchestrate.platform HA test report",
    "type": "object",
    "required": ["schema_version", "label", "started", "finished", "verdict", "thresholds", "experiments",
                 "skipped", "integrity", "clock_steps", "violations"],
    "additionalProperties": False,
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "label": {"type": "string", "minLength": 1},
        "started": {"type": "number"},
        "finished": {"type": "number"},
        "verdict": {"enum": ["pass", "fail"]},
        "thresholds": {
            "type": "object", "additionalProperties": False,
            "required": list(Thresholds.__dataclass_fields__),
            "properties": {key: {"type": "number", "minimum": 0} for key in Thresholds.__dataclass_fields__},
        },
        "experiments": {"type": "array", "items": {
            "type": "object", "additionalProperties": False,
            "required": ["name", "kind", "target", "start", "end", "figures", "violations"],
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "kind": {"enum": list(KINDS)},
                "target": {"type": "string"},
                "start": {"type": "number"},
                "end": {"type": "number"},
                "violations": {"type": "array", "items": {"type": "string"}},
                "marks": {"type": "object", "additionalProperties": {"type": "number", "minimum": 0}},
                "figures": {
                    "type": "object", "additionalProperties": False,
                    "required": ["requests", "failed", "error_rate", "longest_error_window", "error_windows", "p50", "p95",
                                 "p99", "time_to_detect", "time_to_ready", "writes", "writes_failed"],
                    "properties": {
                        "requests": {"type": "integer", "minimum": 0},
                        "failed": {"type": "integer", "minimum": 0},
                        "error_rate": {"type": "number", "minimum": 0, "maximum": 1},
                        "longest_error_window": {"type": "number", "minimum": 0},
                        "error_windows": {"type": "array", "items": {
                            "type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}},
                        "p50": _NUMBER_OR_NULL, "p95": _NUMBER_OR_NULL, "p99": _NUMBER_OR_NULL,
                        "time_to_detect": _NUMBER_OR_NULL, "time_to_ready": _NUMBER_OR_NULL,
                        "writes": {"type": "integer", "minimum": 0},
                        "writes_failed": {"type": "integer", "minimum": 0},
                    },
                },
            },
        }},
        "skipped": {"type": "array", "items": {
            "type": "object", "additionalProperties": False, "required": ["name", "reason"],
            "properties": {"name": {"type": "string"}, "reason": {"type": "string", "minLength": 1}}}},
        "integrity": {
            "type": "object", "additionalProperties": False,
            "required": ["checked", "acknowledged", "read_back", "lost", "unacknowledged_present"],
            "properties": {
                "checked": {"type": "boolean"},
                "acknowledged": {"type": "integer", "minimum": 0},
                "read_back": {"type": "integer", "minimum": 0},
                "lost": {"type": "array", "items": {"type": "integer"}},
                "unacknowledged_present": {"type": "array", "items": {"type": "integer"}},
            },
        },
        "clock_steps": {"type": "array", "items": {"type": "number"}},
        "violations": {"type": "array", "items": {"type": "string"}},
    },
}


class ReportError(ValueError):
    """A report that does not follow SCHEMA, or input the report cannot be made from."""


@dataclass
class Run:
    """Everything one HA test run recorded: the prober's events (probes, writes, read-backs), the
    experiments and the replica samples of each experiment's target (by experiment name)."""

    label: str
    log: Log
    experiments: List[Experiment]
    samples: Dict[str, List[Sample]] = field(default_factory=dict)
    skipped: List[Dict[str, str]] = field(default_factory=list)


def evaluate(run: Run, thresholds: Thresholds) -> Dict[str, Any]:
    """The report document of a run (validated against SCHEMA)."""
    probes, writes, readbacks = run.log.probes(), run.log.writes(), run.log.readbacks()
    experiments = []
    problems: List[str] = []
    for experiment in run.experiments:
        found = figures(experiment, probes, writes, run.samples.get(experiment.name, []))
        broken = violations(experiment, found, thresholds)
        problems.extend(broken)
        experiments.append({"name": experiment.name, "kind": experiment.kind, "target": experiment.target,
                            "start": experiment.start, "end": experiment.end, "marks": dict(experiment.marks),
                            "figures": _plain(asdict(found)), "violations": broken})
    checked = bool(writes)
    check = integrity(writes, readbacks)
    if checked:
        problems.extend(integrity_violations(check, thresholds))
    times = [t for events in (probes, writes) for t in placed(events)] + [e.start for e in run.experiments] + [
        e.end for e in run.experiments]
    document = {
        "schema_version": SCHEMA_VERSION, "label": run.label,
        "started": min(times, default=0.0), "finished": max(times, default=0.0),
        "verdict": "fail" if problems else "pass", "thresholds": asdict(thresholds),
        "experiments": experiments, "skipped": list(run.skipped),
        "integrity": {"checked": checked, "acknowledged": check.acknowledged, "read_back": check.read_back,
                      "lost": check.lost, "unacknowledged_present": check.unacknowledged_present},
        "clock_steps": clock_steps(probes) + clock_steps(writes),
        "violations": problems,
    }
    validate(document)
    return document


def _plain(value: Any) -> Any:
    """Tuples as lists, so that the document is the JSON it will be written as."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def validate(document: Dict[str, Any]) -> None:
    import jsonschema

    errors = sorted(jsonschema.Draft202012Validator(SCHEMA).iter_errors(document), key=lambda e: list(e.path))
    if errors:
        raise ReportError("; ".join("%s: %s" % ("/".join(str(p) for p in e.path) or "(top)", e.message) for e in errors[:10]))


# -- Markdown ---------------------------------------------------------------------------


def _seconds(value: Optional[float]) -> str:
    return "not observed" if value is None else "%.2f s" % value


def _ms(value: Optional[float]) -> str:
    return "n/a" if value is None else "%.1f ms" % (value * 1000.0)


FIGURE_ROWS = (
    ("Requests", lambda f: str(f["requests"])),
    ("Failed requests", lambda f: str(f["failed"])),
    ("Error rate", lambda f: "%.2f %%" % (f["error_rate"] * 100.0)),
    ("Longest error window", lambda f: "%.2f s" % f["longest_error_window"]),
    ("Error windows", lambda f: str(len(f["error_windows"]))),
    ("Latency p50", lambda f: _ms(f["p50"])),
    ("Latency p95", lambda f: _ms(f["p95"])),
    ("Latency p99", lambda f: _ms(f["p99"])),
    ("Time to detect", lambda f: _seconds(f["time_to_detect"])),
    ("Time to Ready", lambda f: _seconds(f["time_to_ready"])),
    ("Writes", lambda f: str(f["writes"])),
    ("Failed writes", lambda f: str(f["writes_failed"])),
)


MARKS = {"node_not_ready": "node NotReady after", "rescheduled": "every replica Ready off the node after",
         "node_ready_again": "node Ready again after"}


def markdown(document: Dict[str, Any]) -> str:
    lines = ["# HA test report: %s" % document["label"], "",
             "Verdict: **%s**; %d experiments run, %d skipped; run of %.0f s." % (
                 document["verdict"].upper(), len(document["experiments"]), len(document["skipped"]),
                 document["finished"] - document["started"]), ""]
    if document["experiments"]:
        names = [e["name"] for e in document["experiments"]]
        lines += ["| Figure | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        for title, show in FIGURE_ROWS:
            lines.append("| %s | %s |" % (title, " | ".join(show(e["figures"]) for e in document["experiments"])))
        lines.append("")
    for experiment in document["experiments"]:
        lines.append("- `%s` (%s on %s): %s" % (experiment["name"], experiment["kind"], experiment["target"],
                                               "; ".join(experiment["violations"]) or "hypothesis held"))
    marked = [e for e in document["experiments"] if e.get("marks")]
    if marked:
        lines += ["", "Moments after the fault:", ""] + ["- `%s`: %s" % (e["name"], ", ".join(
            "%s %.1f s" % (MARKS.get(k, k), v) for k, v in sorted(e["marks"].items(), key=lambda kv: kv[1])))
            for e in marked]
    check = document["integrity"]
    lines += ["", "## Integrity of acknowledged writes", "",
              ("%d acknowledged, %d read back, %d lost%s; %d writes without acknowledgement were found anyway." % (
                  check["acknowledged"], check["read_back"], len(check["lost"]),
                  " (%s)" % ", ".join(str(s) for s in check["lost"][:20]) if check["lost"] else "",
                  len(check["unacknowledged_present"]))) if check["checked"] else "No writes were made: not checked.", ""]
    if document["skipped"]:
        lines += ["## Skipped", ""] + ["- `%s`: %s" % (s["name"], s["reason"]) for s in document["skipped"]] + [""]
    lines += ["## Thresholds", ""] + ["- `%s`: %s" % (k, v) for k, v in sorted(document["thresholds"].items())] + [""]
    if document["clock_steps"]:
        lines += ["Wall-clock steps seen (windows unaffected): %s s" % ", ".join("%+.1f" % s for s in document["clock_steps"]), ""]
    if document["violations"]:
        lines += ["## Violated hypotheses", ""] + ["- %s" % v for v in document["violations"]] + [""]
    lines += ["Plots: requests.png (requests over time, failures marked), replicas.png (ready replicas over time).", ""]
    return "\n".join(lines)


# -- plots ------------------------------------------------------------------------------


def _figure(title: str, ylabel: str) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    fig, ax = pyplot.subplots(figsize=(PLOT_SIZE[0] / _DPI, PLOT_SIZE[1] / _DPI), dpi=_DPI)
    ax.set_title(title)
    ax.set_xlabel("seconds since the start of the run")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    return fig, ax


def _shade(ax: Any, document: Dict[str, Any]) -> None:
    for experiment in document["experiments"]:
        ax.axvspan(experiment["start"] - document["started"], experiment["end"] - document["started"], alpha=0.08, color="tab:blue")
        ax.annotate(experiment["name"], (experiment["start"] - document["started"], 1.0), xycoords=("data", "axes fraction"),
                    fontsize=7, rotation=90, va="top")


def _save(fig: Any, path: Path) -> None:
    from matplotlib import pyplot

    fig.savefig(path, dpi=_DPI)
    pyplot.close(fig)


def plot_requests(run: Run, document: Dict[str, Any], path: Path) -> None:
    fig, ax = _figure("Requests over time (latency; failures marked)", "latency (ms)")
    probes = run.log.probes()
    times = placed(probes)
    for ok, style in ((True, dict(marker=".", s=6, color="tab:green", label="succeeded")),
                      (False, dict(marker="x", s=24, color="tab:red", label="failed"))):
        picked = [(t - document["started"], p.latency * 1000.0) for t, p in zip(times, probes) if p.ok is ok]
        ax.scatter([x for x, _ in picked], [y for _, y in picked], **style)
    _shade(ax, document)
    ax.legend(loc="upper right")
    _save(fig, path)


def plot_replicas(run: Run, document: Dict[str, Any], path: Path) -> None:
    fig, ax = _figure("Ready replicas over time", "replicas")
    for name, samples in sorted(run.samples.items()):
        times = [t - document["started"] for t in placed(samples)]
        ax.step(times, [s.ready for s in samples], where="post", label="%s ready" % name)
        ax.step(times, [s.desired for s in samples], where="post", linestyle=":", label="%s desired" % name)
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    _shade(ax, document)
    if run.samples:
        ax.legend(loc="lower right", fontsize=7)
    _save(fig, path)


def write(run: Run, thresholds: Thresholds, directory: Path) -> Dict[str, Any]:
    """Write report.json, report.schema.json, summary.md, requests.png and replicas.png into
    `directory`; the document is returned."""
    document = evaluate(run, thresholds)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "report.json").write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    (directory / "report.schema.json").write_text(json.dumps(SCHEMA, indent=2) + "\n")
    (directory / "summary.md").write_text(markdown(document))
    plot_requests(run, document, directory / "requests.png")
    plot_replicas(run, document, directory / "replicas.png")
    return document


def experiments_from(items: Sequence[Dict[str, Any]]) -> List[Experiment]:
    try:
        return [Experiment(name=i["name"], kind=i["kind"], target=i["target"], start=float(i["start"]), end=float(i["end"]),
                           marks={str(k): float(v) for k, v in (i.get("marks") or {}).items()})
                for i in items]
    except (KeyError, TypeError, ValueError) as exc:
        raise ReportError("an experiment needs name, kind, target, start and end: %s" % exc) from exc
