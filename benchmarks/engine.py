#!/usr/bin/env python3
"""Benchmark of the manifest engine, as ratios measured in one run.

1. Render: wall time of `ansible-playbook playbooks/render.yml` (the whole platform), target < 20 s.
2. With KUBECONFIG set (and kubectl on PATH or in $KUBECTL): the rendered objects applied to the
   cluster by
     - kubectl apply --server-side -f DIR -R            (the reference)
     - the engine through ansible-playbook             (what a user runs: one task, one role)
     - kubernetes.core.k8s, one task with the whole list (what the engine replaces)
   each first on fresh objects and then again (a no-op re-apply), with the `changed` count of
   the re-run. Every tool gets its own copy of the objects (namespaces and cluster-scoped names
   suffixed), so none of them finds the others' work. Ratios are tool time / kubectl time.
   Targets: engine first apply <= 1.0x, no-op re-apply <= 1.2x, 0 changed on the re-run.

   A fourth row, the engine's Applier called in-process, shows the engine without Ansible's fixed
   start-up cost (about 3 s for ansible-playbook to load, validate the role and start the module).
   --copies N applies N copies of the rendered platform (each in its own namespaces) so that the
   per-object cost, not start-up, dominates.

Usage: python benchmarks/engine.py [--repeat N] [--copies N] [--json FILE]
The machine is shared and noisy: compare ratios from one run, not absolute times across runs.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import yaml

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
# The engine's module_utils are imported from the checkout (collections/ links back to it).
sys.path.insert(0, str(ROOT / "collections"))
BIN = Path(sys.executable).parent
Obj = Dict[str, Any]
NEVER_RENAMED = ("CustomResourceDefinition",)
# Registering an aggregated API whose backend never runs would break discovery for every tool.
NOT_BENCHMARKED = ("APIService",)


@dataclass
class Figure:
    tool: str
    step: str
    seconds: float
    changed: Optional[int] = None
    ratio: Optional[float] = None


def env() -> Dict[str, str]:
    out = dict(os.environ)
    out["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    out["PATH"] = "%s:%s" % (BIN, out.get("PATH", ""))
    out["ANSIBLE_ROLES_PATH"] = str(HERE / "roles")
    return out


def timed(command: List[str]) -> tuple:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=env(), capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit("failed: %s\n%s%s" % (" ".join(command), result.stdout[-3000:], result.stderr[-3000:]))
    return elapsed, result.stdout


def recap_changed(output: str) -> int:
    match = re.search(r"localhost\s+:\s+ok=\d+\s+changed=(\d+)", output)
    return int(match.group(1)) if match else -1


def render(target: Path) -> float:
    seconds, _ = timed([str(BIN / "ansible-playbook"), "playbooks/render.yml", "-e", "platform_render_dir=%s" % target])
    return seconds


def load_objects(directory: Path) -> List[Obj]:
    return [doc for path in sorted(directory.rglob("*.yaml")) for doc in yaml.safe_load_all(path.read_text()) if doc]


def private_copy(objects: List[Obj], suffix: str) -> List[Obj]:
    """The objects with every namespace and cluster-scoped name made unique to one tool."""
    out = []
    for original in objects:
        obj = copy.deepcopy(original)
        meta = obj["metadata"]
        if meta.get("namespace"):
            meta["namespace"] += suffix
        elif obj["kind"] not in NEVER_RENAMED:
            meta["name"] += suffix
        for label in ("app.kubernetes.io/managed-by", "applyset.kubernetes.io/part-of"):
            (meta.get("labels") or {}).pop(label, None)
        for port in (obj.get("spec") or {}).get("ports") or [] if obj["kind"] == "Service" else []:
            port.pop("nodePort", None)  # fixed NodePorts can be allocated once per cluster
        out.append(obj)
    return out


def with_namespaces(objects: List[Obj]) -> List[Obj]:
    """Namespaces first (kubectl applies files in order), including the ones only referenced
    (kube-system, calico-system in a private copy)."""
    rendered = {o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"}
    referenced = sorted({o["metadata"]["namespace"] for o in objects if o["metadata"].get("namespace")} - rendered)
    extra = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}} for name in referenced]
    first = [o for o in objects if o["kind"] in ("Namespace", "CustomResourceDefinition")]
    return extra + first + [o for o in objects if o["kind"] not in ("Namespace", "CustomResourceDefinition")]


def write_dir(objects: List[Obj], directory: Path) -> Path:
    directory.mkdir(parents=True)
    for index, obj in enumerate(objects):
        (directory / ("%04d.yaml" % index)).write_text(yaml.safe_dump(obj, sort_keys=False))
    return directory


def kubectl_apply(kubectl: str, directory: Path) -> Callable[[], tuple]:
    command = [kubectl, "apply", "--server-side", "--field-manager=bench-kubectl", "-R", "-f", str(directory)]

    def run() -> tuple:
        seconds, _ = timed(command)
        return seconds, None  # kubectl prints "serverside-applied" for every object, changed or not

    return run


def playbook_apply(playbook: str, directory: Path) -> Callable[[], tuple]:
    files = sorted(str(p) for p in directory.glob("*.yaml"))
    command = [str(BIN / "ansible-playbook"), str(HERE / playbook), "-e", json.dumps({
        "bench_files": files, "platform_kubeconfig": os.environ["KUBECONFIG"],
    })]

    def run() -> tuple:
        seconds, out = timed(command)
        return seconds, recap_changed(out)

    return run


def inprocess_apply(directory: Path) -> Callable[[], tuple]:
    from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_apply import Applier, ApplyOptions
    from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_applyset import ApplySet
    from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_client import Client

    objects = load_objects(directory)
    applyset = ApplySet("orchestrate.platform.bench-inprocess", "kube-system")

    def run() -> tuple:
        started = time.perf_counter()
        client = Client(os.environ["KUBECONFIG"], None, pool_size=8, timeout=60.0)
        report = Applier(client, applyset, ApplyOptions(wait=False)).run(copy.deepcopy(objects))
        return time.perf_counter() - started, int(report.changed and sum(o.changed for o in report.outcomes))

    return run


def servable(objects: List[Obj]) -> List[Obj]:
    """The objects whose kinds the cluster serves (custom resources need CRDs the benchmark does
    not install), minus kinds that would disturb the cluster."""
    from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_client import Client, Discovery

    discovery = Discovery(Client(os.environ["KUBECONFIG"], None, pool_size=2, timeout=30.0))
    kept = []
    for obj in objects:
        group, _, version = str(obj["apiVersion"]).rpartition("/")
        if obj["kind"] not in NOT_BENCHMARKED and discovery.find(group, version, obj["kind"]) is not None:
            kept.append(obj)
    return kept


def cleanup(kubectl: str, objects: List[Obj]) -> None:
    namespaces = sorted({o["metadata"]["namespace"] for o in objects if o["metadata"].get("namespace")}
                        | {o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"})
    for namespace in namespaces:
        subprocess.run([kubectl, "delete", "namespace", namespace, "--wait=false", "--ignore-not-found"],
                       capture_output=True, check=False)


def compare(kubectl: str, objects: List[Obj], work: Path, repeat: int) -> List[Figure]:
    """Each tool applies its own copy of `objects` once, then `repeat` times more (no-ops)."""
    suffix = "-" + uuid.uuid4().hex[:5]
    tools = {
        "kubectl --server-side": lambda d: kubectl_apply(kubectl, d),
        "engine (ansible-playbook)": lambda d: playbook_apply("engine.yml", d),
        "kubernetes.core.k8s (ansible-playbook, one task)": lambda d: playbook_apply("k8s.yml", d),
        "engine (in-process Applier, no Ansible)": inprocess_apply,
    }
    figures: List[Figure] = []
    copies: List[List[Obj]] = []
    for index, (tool, make) in enumerate(tools.items()):
        mine = with_namespaces(private_copy(objects, "%s%d" % (suffix, index)))
        copies.append(mine)
        run = make(write_dir(mine, work / ("tool%d" % index)))
        first_seconds, _ = run()
        again = [run() for _ in range(repeat)]
        figures.append(Figure(tool, "first apply", first_seconds))
        changed = [c for _, c in again if c is not None]
        figures.append(Figure(tool, "no-op re-apply", statistics.median(s for s, _ in again), max(changed) if changed else None))
    for copy_ in copies:
        cleanup(kubectl, copy_)
    reference = {f.step: f.seconds for f in figures if f.tool.startswith("kubectl")}
    for figure in figures:
        figure.ratio = round(figure.seconds / reference[figure.step], 2)
    return figures


def print_table(figures: List[Figure], objects: int) -> None:
    print("\n%d objects  (ratio = time / kubectl's time for the same step)" % objects)
    print("%-50s %-16s %9s %7s %8s" % ("tool", "step", "seconds", "ratio", "changed"))
    for f in figures:
        print("%-50s %-16s %9.2f %7s %8s" % (f.tool, f.step, f.seconds, f.ratio if f.ratio is not None else "",
                                             "" if f.changed is None else f.changed))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="no-op re-applies per tool (median reported)")
    parser.add_argument("--copies", type=int, default=5, help="copies of the rendered platform to apply")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-"))
    try:
        render_seconds = render(work / "manifests")
        objects = load_objects(work / "manifests")
        figures = [Figure("render (playbooks/render.yml)", "whole platform", render_seconds)]
        print("render: %d objects in %.1f s (target < 20 s): %s" % (len(objects), render_seconds,
                                                                   "ok" if render_seconds < 20 else "SLOWER THAN TARGET"))
        kubectl = os.environ.get("KUBECTL") or shutil.which("kubectl")
        if not os.environ.get("KUBECONFIG"):
            print("apply comparison skipped: KUBECONFIG is not set")
        elif not kubectl:
            print("apply comparison skipped: no kubectl on PATH (or $KUBECTL)")
        else:
            served = servable(objects)
            print("applying %d of the %d objects (the others are custom resources without CRDs here, or APIServices)"
                  % (len(served), len(objects)))
            many = with_namespaces([obj for n in range(args.copies) for obj in private_copy(served, "-c%d" % n)])
            applied = compare(kubectl, many, work, args.repeat)
            print_table(applied, len(many))
            figures += applied
        if args.json:
            args.json.write_text(json.dumps([asdict(f) for f in figures], indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
