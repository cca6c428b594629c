#!/usr/bin/env python3
"""Render time of the whole platform (`site.yml` and `playbooks/render.yml` on the default,
render-only inventory), optionally against a baseline checkout in the same run.

Every checkout gets a fresh build directory: a first run (secrets, CAs and every file made), then
--runs re-runs that must change nothing (`changed=0`, checked). With --baseline the checkouts
alternate inside every repetition (the order rotates), so that the ratio new / baseline of the
medians holds on a shared, loaded machine; the 1-minute load average is recorded before every
run. Then the baseline's build directory (its secrets and CAs) is copied for this checkout, which
renders into a fresh manifests directory, and the two manifests directories must be byte for byte
the same (--no-compare skips this).

The upstream probe runs as on an offline machine (platform_upstream_fetch=auto against a closed
loopback port): nothing leaves the machine. CPU time is user + system of ansible-playbook and its
children.

Usage: python benchmarks/render_time.py [--baseline DIR] [--runs 3] [--playbooks site.yml,playbooks/render.yml]
                                        [--json FILE]
A baseline checkout of an earlier commit: mkdir /tmp/base && git archive <commit> | tar -x -C /tmp/base
"""

from __future__ import annotations

import argparse
import datetime
import filecmp
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from engine import BIN, ROOT, children_cpu, host_facts, load, load_objects, recap_changed

OFFLINE = ["-e", "platform_upstream_fetch=auto", "-e", "platform_upstream_probe_url=http://127.0.0.1:9/"]


@dataclass
class Sample:
    checkout: str
    playbook: str
    kind: str  # first (fresh build directory) or rerun
    seconds: float
    cpu: float
    load: float
    changed: int
    tasks: int


@dataclass
class Report:
    started: str
    host: Dict[str, Any]
    checkouts: Dict[str, str]
    samples: List[Sample] = field(default_factory=list)
    objects: Dict[str, int] = field(default_factory=dict)
    same_manifests: Dict[str, Optional[bool]] = field(default_factory=dict)


def playbook_run(checkout: Path, playbook: str, build: Path) -> subprocess.CompletedProcess:
    command = [str(BIN / "ansible-playbook"), playbook, "-e", "platform_build_dir=%s" % build,
               "-e", "platform_render_dir=%s" % (build / "manifests"), *OFFLINE]
    env = {"ANSIBLE_CONFIG": str(checkout / "ansible.cfg"), "PATH": "%s:/usr/bin:/bin" % BIN,
           "HOME": str(Path.home()), "ANSIBLE_NOCOLOR": "1"}
    result = subprocess.run(command, cwd=checkout, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit("failed in %s: %s\n%s%s" % (checkout, " ".join(command), result.stdout[-3000:], result.stderr[-2000:]))
    return result


def measure(name: str, checkout: Path, playbook: str, build: Path, kind: str) -> Sample:
    before, cpu = load(), children_cpu()
    started = time.perf_counter()
    result = playbook_run(checkout, playbook, build)
    sample = Sample(checkout=name, playbook=playbook, kind=kind, seconds=round(time.perf_counter() - started, 2),
                    cpu=round(children_cpu() - cpu, 2), load=before, changed=recap_changed(result.stdout),
                    tasks=len(re.findall(r"^TASK \[", result.stdout, re.M)))
    if kind == "rerun" and sample.changed != 0:
        raise SystemExit("%s %s: a re-run changed %d task(s)\n%s" % (name, playbook, sample.changed, result.stdout[-3000:]))
    print("%-8s %-22s %-6s %6.2f s wall %6.2f s CPU  load %5.2f  changed=%d  %d tasks"
          % (name, playbook, kind, sample.seconds, sample.cpu, sample.load, sample.changed, sample.tasks), flush=True)
    return sample


def same_manifests(left: Path, right: Path) -> bool:
    """True when both directories hold the same files with the same bytes."""
    compared = filecmp.dircmp(left, right)
    if compared.left_only or compared.right_only or compared.funny_files:
        return False
    _, mismatch, errors = filecmp.cmpfiles(left, right, compared.common_files, shallow=False)
    return not mismatch and not errors and all(same_manifests(left / sub, right / sub) for sub in compared.common_dirs)


def median(report: Report, checkout: str, playbook: str, key: str) -> float:
    return statistics.median(getattr(s, key) for s in report.samples
                             if s.checkout == checkout and s.playbook == playbook and s.kind == "rerun")


def summary(report: Report) -> str:
    names = list(report.checkouts)
    playbooks = sorted({s.playbook for s in report.samples})
    lines = ["| playbook | checkout | objects | tasks shown | first run | re-runs (changed=0) | median | median CPU | load |",
             "|---|---|---|---|---|---|---|---|---|"]
    for playbook in playbooks:
        for name in names:
            runs = [s for s in report.samples if s.checkout == name and s.playbook == playbook]
            first = [s for s in runs if s.kind == "first"]
            reruns = [s for s in runs if s.kind == "rerun"]
            loads = [s.load for s in runs]
            lines.append("| `%s` | %s | %s | %d | %s | %s | %.1f s | %.1f s | %.1f–%.1f |" % (
                playbook, name, report.objects.get("%s %s" % (name, playbook), "?"), reruns[-1].tasks,
                ", ".join("%.1f s" % s.seconds for s in first), ", ".join("%.1f s" % s.seconds for s in reruns),
                median(report, name, playbook, "seconds"), median(report, name, playbook, "cpu"), min(loads), max(loads)))
    if len(names) == 2:
        new, base = names
        lines.append("")
        for playbook in playbooks:
            lines.append("- `%s`: %s / %s = %.2f (wall, medians of the re-runs), %.2f (CPU); same manifests: %s" % (
                playbook, new, base, median(report, new, playbook, "seconds") / median(report, base, playbook, "seconds"),
                median(report, new, playbook, "cpu") / median(report, base, playbook, "cpu"),
                report.same_manifests.get(playbook, "not compared")))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, help="a checkout to compare with (e.g. git archive of the base commit)")
    parser.add_argument("--runs", type=int, default=3, help="re-runs per checkout and playbook after the first")
    parser.add_argument("--playbooks", default="site.yml,playbooks/render.yml")
    parser.add_argument("--no-compare", action="store_true", help="do not compare the rendered manifests")
    parser.add_argument("--json", type=Path, help="write the samples as JSON here")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1: the medians are of the re-runs")

    checkouts = {"new": ROOT}
    if args.baseline:
        checkouts["baseline"] = args.baseline.resolve()
    report = Report(started=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                    host=host_facts(), checkouts={name: str(path) for name, path in checkouts.items()})
    work = Path(tempfile.mkdtemp(prefix="render-time-"))
    try:
        for playbook in args.playbooks.split(","):
            builds = {name: work / name / playbook.replace("/", "_") for name in checkouts}
            for name, checkout in checkouts.items():
                report.samples.append(measure(name, checkout, playbook, builds[name], "first"))
                report.objects["%s %s" % (name, playbook)] = len(load_objects(builds[name] / "manifests"))
            order = list(checkouts)
            for repetition in range(args.runs):
                for name in order[repetition % len(order):] + order[:repetition % len(order)]:
                    report.samples.append(measure(name, checkouts[name], playbook, builds[name], "rerun"))
            if args.baseline and not args.no_compare:
                # This checkout renders with the baseline's secrets and CAs into a fresh manifests directory.
                shared = work / "compare" / playbook.replace("/", "_")
                shutil.copytree(builds["baseline"], shared, symlinks=True, ignore=shutil.ignore_patterns("manifests"))
                playbook_run(ROOT, playbook, shared)
                report.same_manifests[playbook] = same_manifests(builds["baseline"] / "manifests", shared / "manifests")
                print("%s: manifests the same as the baseline's: %s" % (playbook, report.same_manifests[playbook]), flush=True)
        print()
        print("%s, %s, %s, %s CPUs" % (report.started, report.host["ansible"], "Python " + report.host["python"], report.host["cpus"]))
        print(summary(report))
        if args.json:
            args.json.write_text(json.dumps(asdict(report), indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
