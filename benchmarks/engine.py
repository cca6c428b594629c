#!/usr/bin/env python3
"""Benchmark of the manifest engine against `kubectl apply --server-side`, as ratios measured in one run.

Needs a cluster (KUBECONFIG) and a kubectl of the API server's minor version ($KUBECTL, else the
kubectl on PATH); it refuses a kubectl of another minor (--allow-skew measures anyway and says so
in the report). Without KUBECONFIG it measures the render run only and says that it skipped the rest.

1. Render: wall time of `ansible-playbook playbooks/render.yml` (the whole platform).
2. Apply, at several sizes (--copies: 1, 3 and 10 copies of the rendered platform's objects that a
   bare API server serves, each copy in its own namespaces with its cluster-scoped names
   suffixed): every tool applies its own fresh copy (first apply), then applies it again (no-op
   re-apply, with the `changed` count of that re-run), then the copy is deleted, cluster-scoped
   objects included. Tools alternate inside every repetition (the order rotates), and the figures
   are medians over --repeat repetitions; ratios are tool median / kubectl median of the same step:
     - kubectl apply --server-side                          (the reference)
     - the engine through ansible-playbook, in-process      (what a user runs: one role, one task)
     - the engine through ansible-playbook, as a module     (execution: module, as on a delegated host)
     - the engine's run() called in-process, no Ansible     (the engine's own work)
     - ansible-playbook with one debug task and no engine   (the floor of any ansible-playbook run)
     - kubernetes.core.k8s, one task with the whole list    (--with-k8s; what the engine replaces)
3. Whole stages (--stages; needs a cluster where the platform is not installed: it refuses when any
   of its namespaces or cluster-scoped objects exist, and removes everything it made): site.yml
   applied once to converge, then, alternating, a no-op site.yml over every Kubernetes stage and the
   same rendered objects through one `kubectl apply --server-side` per role; where site.yml's time
   goes (ansible start, preflight, each role, between tasks) from the json callback's task times.

The machine load (os.getloadavg) is recorded with every measurement; on a shared machine compare
ratios from one run, not absolute times across runs.

Usage: python benchmarks/engine.py [--copies 1,3,10] [--repeat 3] [--stages] [--json FILE]
       python benchmarks/engine.py --report FILE.json... [--update DOC.md]   (Markdown tables of runs)
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import yaml

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
# The engine's module_utils are imported from the checkout (collections/ links back to it).
sys.path.insert(0, str(ROOT / "collections"))
BIN = Path(sys.executable).parent
Obj = Dict[str, Any]
# Not benchmarked: an APIService without its backend breaks discovery and namespace deletion for
# everyone on the cluster; CRDs are cluster-wide names that copies cannot rename (and their custom
# resources need them).
NOT_BENCHMARKED = ("APIService", "CustomResourceDefinition")
KUBECTL_MANAGER = "bench-kubectl"


@dataclass
class Sample:
    tool: str
    objects: int
    repetition: int
    first: float
    noop: float
    changed: Optional[int]
    load: float
    first_cpu: Optional[float] = None
    noop_cpu: Optional[float] = None


@dataclass
class Figure:
    tool: str
    objects: int
    first: float
    noop: float
    first_ratio: float
    noop_ratio: float
    first_ms_per_object: float
    noop_ms_per_object: float
    changed: Optional[int]
    first_cpu: Optional[float] = None
    noop_cpu: Optional[float] = None
    first_cpu_ratio: Optional[float] = None
    noop_cpu_ratio: Optional[float] = None


@dataclass
class Run:
    started: str
    host: Dict[str, Any]
    kubectl: Dict[str, str] = field(default_factory=dict)
    render: Dict[str, Any] = field(default_factory=dict)
    samples: List[Sample] = field(default_factory=list)
    figures: List[Figure] = field(default_factory=list)
    leftovers: int = 0
    stages: Dict[str, Any] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)


def load() -> float:
    return round(os.getloadavg()[0], 2)


def env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    out = dict(os.environ)
    out["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    out["PATH"] = "%s:%s" % (BIN, out.get("PATH", ""))
    out["ANSIBLE_ROLES_PATH"] = str(HERE / "roles")
    out.update(extra or {})
    return out


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


LAST_CPU = [0.0]  # CPU seconds (user + system) of the last timed() command and its children


def timed(command: List[str], extra_env: Optional[Dict[str, str]] = None) -> Tuple[float, str]:
    started, cpu = time.perf_counter(), children_cpu()
    result = subprocess.run(command, cwd=ROOT, env=env(extra_env), capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    LAST_CPU[0] = children_cpu() - cpu
    if result.returncode != 0:
        raise SystemExit("failed: %s\n%s%s" % (" ".join(command)[:400], result.stdout[-3000:], result.stderr[-3000:]))
    return elapsed, result.stdout


def recap_changed(output: str) -> int:
    match = re.search(r"localhost\s+:\s+ok=\d+\s+changed=(\d+)", output)
    return int(match.group(1)) if match else -1


# -- the cluster and kubectl -------------------------------------------------------------------


def minor(version: Dict[str, Any]) -> int:
    return int(re.sub(r"\D.*", "", str(version.get("minor", "0"))) or 0)


def kubectl_versions(kubectl: str) -> Dict[str, str]:
    result = subprocess.run([kubectl, "version", "-o", "json"], capture_output=True, text=True, check=False)
    try:
        data = json.loads(result.stdout)
    except ValueError:
        raise SystemExit("`%s version -o json` gave no JSON: %s" % (kubectl, result.stderr.strip()[:500]))
    if "serverVersion" not in data:
        raise SystemExit("kubectl cannot reach the API server of KUBECONFIG=%s: %s" % (os.environ["KUBECONFIG"], result.stderr.strip()[:500]))
    client, server = data["clientVersion"], data["serverVersion"]
    return {"path": kubectl, "client": client["gitVersion"], "server": server["gitVersion"],
            "skew": str(abs(minor(client) - minor(server)))}


def client() -> Any:
    from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_client import Client

    return Client(os.environ["KUBECONFIG"], None, pool_size=8, timeout=60.0)


# -- objects -------------------------------------------------------------------------------------


def render(target: Path, extra: List[str]) -> float:
    seconds, _ = timed([str(BIN / "ansible-playbook"), "playbooks/render.yml", "-e", "platform_render_dir=%s" % target, *extra])
    return seconds


def load_objects(directory: Path, templates_only: bool = False) -> List[Obj]:
    """The rendered objects; with templates_only, those of the roles' own templates (files named
    `<nn>-...`), not of downloaded upstream manifests, so that a run with or without the downloads
    measures the same set."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    paths = [path for path in sorted(directory.rglob("*.yaml")) if not templates_only or path.name[:1].isdigit()]
    return [doc for path in paths for doc in yaml.load_all(path.read_text(), Loader=loader) if doc]


def servable(objects: List[Obj], discovery: Any) -> List[Obj]:
    """The objects whose kinds the cluster serves (custom resources need CRDs that are not
    benchmarked), minus kinds that would disturb the cluster."""
    kept = []
    for obj in objects:
        group, _, version = str(obj["apiVersion"]).rpartition("/")
        if obj["kind"] not in NOT_BENCHMARKED and discovery.find(group, version, obj["kind"]) is not None:
            kept.append(obj)
    return kept


def private_copy(objects: List[Obj], suffix: str) -> List[Obj]:
    """The objects with every namespace and cluster-scoped name made unique to one copy."""
    out = []
    for original in objects:
        obj = copy.deepcopy(original)
        meta = obj["metadata"]
        if meta.get("namespace"):
            meta["namespace"] += suffix
        else:
            meta["name"] += suffix
        for label in ("app.kubernetes.io/managed-by", "applyset.kubernetes.io/part-of"):
            (meta.get("labels") or {}).pop(label, None)
        if obj["kind"] == "Service":
            for port in (obj.get("spec") or {}).get("ports") or []:
                port.pop("nodePort", None)  # fixed NodePorts can be allocated once per cluster
        out.append(obj)
    return out


def with_namespaces(objects: List[Obj]) -> List[Obj]:
    """Namespaces first (kubectl applies in file order), including the ones only referenced."""
    rendered = {o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"}
    referenced = sorted({o["metadata"]["namespace"] for o in objects if o["metadata"].get("namespace")} - rendered)
    extra = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}} for name in referenced]
    return extra + [o for o in objects if o["kind"] == "Namespace"] + [o for o in objects if o["kind"] != "Namespace"]


def copies(served: List[Obj], count: int, tag: str) -> List[Obj]:
    return with_namespaces([obj for n in range(count) for obj in private_copy(served, "-%s%d" % (tag, n))])


# -- cleaning up ---------------------------------------------------------------------------------


def delete_objects(objects: List[Obj], extra_namespaces: List[str], timeout: float = 300.0) -> int:
    """Delete every cluster-scoped object and namespace of `objects` and wait until they are gone;
    returns how many are still there."""
    from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_client import ApiError, Discovery

    api = client()
    discovery = Discovery(api)
    targets: List[str] = []
    for obj in objects:
        meta = obj["metadata"]
        if meta.get("namespace"):
            continue
        group, _, version = str(obj["apiVersion"]).rpartition("/")
        resource = discovery.find(group, version, obj["kind"])
        if resource is not None:
            targets.append(resource.path(name=meta["name"]))
    targets += ["/api/v1/namespaces/%s" % name for name in extra_namespaces]
    targets = sorted(set(targets))

    def delete(path: str) -> None:
        try:
            api.request("DELETE", path, None, {"propagationPolicy": "Background"})
        except ApiError as exc:
            if exc.status != 404:
                raise

    def present(path: str) -> bool:
        try:
            api.request("GET", path)
            return True
        except ApiError as exc:
            if exc.status == 404:
                return False
            raise

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(delete, targets))
        deadline = time.monotonic() + timeout
        remaining = targets
        while remaining and time.monotonic() < deadline:
            remaining = [path for path, there in zip(remaining, pool.map(present, remaining)) if there]
            if remaining:
                time.sleep(1.0)
    return len(remaining)


# -- the tools -----------------------------------------------------------------------------------

Tool = Callable[[Path, str], Tuple[float, float, Optional[int]]]  # wall seconds, CPU seconds, changed


def kubectl_tool(kubectl: str) -> Tool:
    def run(path: Path, applyset_namespace: str) -> Tuple[float, float, Optional[int]]:
        seconds, _ = timed([kubectl, "apply", "--server-side", "--force-conflicts", "--field-manager=" + KUBECTL_MANAGER,
                            "-f", str(path)])
        return seconds, LAST_CPU[0], None  # kubectl prints "serverside-applied" for every object, changed or not

    return run


def playbook_tool(playbook: str, *extra: str) -> Tool:
    def run(path: Path, applyset_namespace: str) -> Tuple[float, float, Optional[int]]:
        variables = {"bench_files": [str(path)], "platform_kubeconfig": os.environ["KUBECONFIG"],
                     "platform_applyset_namespace": applyset_namespace}
        seconds, out = timed([str(BIN / "ansible-playbook"), str(HERE / playbook), "-e", json.dumps(variables), *extra])
        return seconds, LAST_CPU[0], recap_changed(out)

    return run


def inprocess_tool(path: Path, applyset_namespace: str) -> Tuple[float, float, Optional[int]]:
    """The engine's run() as the action plugin calls it, without Ansible (objects already parsed)."""
    from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_engine import ARGUMENT_SPEC, run

    objects = [doc for doc in yaml.load_all(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) if doc]
    params = {key: spec.get("default") for key, spec in ARGUMENT_SPEC.items()}
    params.update(stage="bench", role="bench_inprocess", mode="apply", wait=False,
                  kubeconfig=os.environ["KUBECONFIG"], applyset_namespace=applyset_namespace)
    started, cpu = time.perf_counter(), time.process_time()
    result = run(params, [("objects.yaml", objects)], check_mode=False, diff=False)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return seconds, cpu, sum(count for action, count in result["summary"].items() if action in ("created", "configured", "pruned"))


def tools(kubectl: str, with_k8s: bool) -> Dict[str, Tool]:
    out: Dict[str, Tool] = {
        "kubectl apply --server-side": kubectl_tool(kubectl),
        "engine, ansible-playbook (in-process)": playbook_tool("engine.yml"),
        "engine, ansible-playbook (module)": playbook_tool("engine.yml", "-e", "platform_engine_execution=module"),
        "engine run() in-process, no Ansible": inprocess_tool,
        "ansible-playbook floor (one debug task, no engine)": playbook_tool("floor.yml"),
    }
    if with_k8s:
        out["kubernetes.core.k8s, one task"] = playbook_tool("k8s.yml")
    return out


def measure(name: str, tool: Tool, objects: List[Obj], work: Path, repetition: int) -> Tuple[Sample, int]:
    """One tool on its own fresh copy: first apply, no-op re-apply, then the copy is deleted."""
    tag = uuid.uuid4().hex[:5]
    mine = copies(objects, 1, "b" + tag)
    applyset_namespace = "bench-applyset-" + tag
    path = work / ("%s.yaml" % tag)
    path.write_text(yaml.dump_all(mine, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False))
    api = client()
    api.request("POST", "/api/v1/namespaces", None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": applyset_namespace}})
    namespaces = sorted({o["metadata"]["name"] for o in mine if o["kind"] == "Namespace"} | {applyset_namespace})
    try:
        before = load()
        first, first_cpu, _ = tool(path, applyset_namespace)
        noop, noop_cpu, changed = tool(path, applyset_namespace)
    finally:
        left = delete_objects(mine, namespaces)
    return Sample(name, len(mine), repetition, round(first, 3), round(noop, 3), changed, before,
                  round(first_cpu, 3), round(noop_cpu, 3)), left


def save(run: Run, path: Optional[Path]) -> None:
    """Write the run so far (after every measurement: an interrupted run keeps what it measured)."""
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(run), indent=2))


def compare(kubectl: str, served: List[Obj], sizes: List[int], repeat: int, with_k8s: bool, work: Path, run: Run,
            out: Optional[Path], only: Optional[List[str]] = None) -> None:
    named = tools(kubectl, with_k8s)
    if only:
        named = {name: tool for name, tool in named.items() if name.startswith("kubectl") or any(word in name for word in only)}
    for count in sizes:
        objects = copies(served, count, "c")
        mark = len(run.samples)
        for repetition in range(repeat):
            order = list(named.items())
            order = order[repetition % len(order):] + order[:repetition % len(order)]
            for name, tool in order:
                sample, left = measure(name, tool, objects, work, repetition)
                run.samples.append(sample)
                run.leftovers += left
                save(run, out)
                print("  %5d objects  rep %d  %-40s first %6.2f s (cpu %5.2f)  no-op %6.2f s (cpu %5.2f)  changed %s  load %.2f"
                      % (sample.objects, repetition, name, sample.first, sample.first_cpu or 0, sample.noop,
                         sample.noop_cpu or 0, sample.changed, sample.load), flush=True)
        summarise(run, run.samples[mark:])
        save(run, out)


def summarise(run: Run, samples: List[Sample]) -> None:
    if not samples:
        return
    count = samples[0].objects
    by_tool: Dict[str, List[Sample]] = {}
    for sample in samples:
        by_tool.setdefault(sample.tool, []).append(sample)
    reference = by_tool["kubectl apply --server-side"]
    ref_first = statistics.median(s.first for s in reference)
    ref_noop = statistics.median(s.noop for s in reference)
    def cpu(samples: List[Sample], step: str) -> Optional[float]:
        values = [getattr(s, step + "_cpu") for s in samples if getattr(s, step + "_cpu") is not None]
        return statistics.median(values) if values else None

    for tool, mine in by_tool.items():
        first = statistics.median(s.first for s in mine)
        noop = statistics.median(s.noop for s in mine)
        changed = [s.changed for s in mine if s.changed is not None]
        figure = Figure(tool, count, round(first, 3), round(noop, 3), round(first / ref_first, 2),
                        round(noop / ref_noop, 2), round(1000 * first / count, 2), round(1000 * noop / count, 2),
                        max(changed) if changed else None)
        for step in ("first", "noop"):
            mine_cpu, ref_cpu = cpu(mine, step), cpu(reference, step)
            if mine_cpu is not None and ref_cpu:
                setattr(figure, step + "_cpu", round(mine_cpu, 3))
                setattr(figure, step + "_cpu_ratio", round(mine_cpu / ref_cpu, 2))
        run.figures.append(figure)


# -- whole stages ----------------------------------------------------------------------------------

STAGE_SKIP_TAGS = "metrics_server"  # its APIService has no backend without pods: it would break discovery


# An address that is never contacted (no pods run the NFS client here), so the storage role can apply.
STAGE_INPUTS = {"platform_nfs_server": "192.0.2.10", "platform_nfs_share": "/srv/nfs"}


def stage_variables(kubeconfig: str, applyset_namespace: str) -> List[str]:
    return ["-e", json.dumps(dict(STAGE_INPUTS, platform_mode="apply", platform_wait=False, platform_kubeconfig=kubeconfig,
                                  platform_applyset_namespace=applyset_namespace)), "--skip-tags", STAGE_SKIP_TAGS]


def profile(report: Dict[str, Any], wall: float) -> Dict[str, float]:
    """Where site.yml's time went, from the json callback: ansible start, each role, plays without roles."""
    def stamp(text: str) -> float:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()

    parts: Dict[str, float] = {}
    plays = report["plays"]
    # a play that ends early (meta: end_play) has no end of its own: its last task's end stands in
    ends = [stamp(t["task"]["duration"]["end"]) for p in plays for t in p["tasks"] if t["task"].get("duration", {}).get("end")]
    ends += [stamp(p["play"]["duration"]["end"]) for p in plays if p["play"].get("duration", {}).get("end")]
    first = min(stamp(p["play"]["duration"]["start"]) for p in plays)
    last = max(ends) if ends else first
    tasks = 0.0
    for one in plays:
        for task in one["tasks"]:
            name = task["task"]["name"]
            duration = task["task"].get("duration") or {}
            if not duration.get("end"):
                continue
            seconds = stamp(duration["end"]) - stamp(duration["start"])
            play_name = one["play"]["name"]
            if play_name.startswith("Preflight") or "check the inputs" in play_name.lower():
                group = "preflight: " + play_name  # input checks, whichever role's tasks they include
            elif " : " in name:
                group = "role " + name.split(" : ")[0]
            else:
                group = "play: " + play_name
            parts[group] = parts.get(group, 0.0) + seconds
            tasks += seconds
    parts = {key: round(value, 3) for key, value in parts.items()}
    parts["(plays and tasks between, ansible's own work)"] = round(last - first - tasks, 3)
    parts["(ansible start and end, before the first play and after the last)"] = round(wall - (last - first), 3)
    return parts


def site_noop(variables: List[str]) -> Tuple[float, int, Dict[str, float]]:
    seconds, out = timed([str(BIN / "ansible-playbook"), "site.yml", *variables], {"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"})
    cpu = LAST_CPU[0]
    report = json.loads(out)
    changed = sum(host.get("changed", 0) for host in report["stats"].values())
    parts = profile(report, seconds)
    parts["(CPU seconds of the run, user + system)"] = round(cpu, 3)
    return seconds, changed, parts


def role_dirs(rendered: Path) -> List[Path]:
    return sorted({path.parent for path in rendered.rglob("*.yaml")})


def kubectl_per_role(kubectl: str, rendered: Path) -> Tuple[float, float]:
    """Wall and CPU seconds of one `kubectl apply --server-side` per role directory, one after the other."""
    total, cpu = 0.0, 0.0
    for directory in role_dirs(rendered):
        seconds, _ = timed([kubectl, "apply", "--server-side", "--force-conflicts", "--field-manager=" + KUBECTL_MANAGER,
                            "-R", "-f", str(directory)])
        total += seconds
        cpu += LAST_CPU[0]
    return total, cpu


def applied_only(rendered: Path, target: Path) -> Path:
    """The rendered role directories without the objects whose namespace does not exist (Calico's
    calico-system, made by its operator, which does not run without nodes): what the engine applied."""
    api = client()
    namespaces = {item["metadata"]["name"] for item in api.request("GET", "/api/v1/namespaces").get("items") or []}
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for path in sorted(rendered.rglob("*.yaml")):
        docs = [d for d in yaml.load_all(path.read_text(), Loader=loader)
                if d and (not d["metadata"].get("namespace") or d["metadata"]["namespace"] in namespaces)]
        out = target / path.relative_to(rendered)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(yaml.dump_all(docs, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False))
    return target


def existing(objects: List[Obj]) -> List[str]:
    """Namespaces and cluster-scoped objects of `objects` that the cluster already has."""
    from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_client import ApiError, Discovery

    api = client()
    discovery = Discovery(api)
    found = []
    for obj in objects:
        meta = obj["metadata"]
        if meta.get("namespace") or meta["name"] in ("kube-system", "default"):
            continue
        group, _, version = str(obj["apiVersion"]).rpartition("/")
        resource = discovery.find(group, version, obj["kind"])
        if resource is None:
            continue
        try:
            api.request("GET", resource.path(name=meta["name"]))
            found.append("%s/%s" % (obj["kind"], meta["name"]))
        except ApiError as exc:
            if exc.status != 404:
                raise
    return found


def stages(kubectl: str, repeat: int, work: Path, run: Run) -> None:
    tag = uuid.uuid4().hex[:5]
    applyset_namespace = "bench-stages-" + tag
    variables = stage_variables(os.environ["KUBECONFIG"], applyset_namespace)
    rendered = work / "stages"
    # site.yml in render mode (the default inventory): the same roles as the apply runs, Calico included
    # (with the same ApplySet namespace, so that kubectl applies the very labels the engine applied)
    timed([str(BIN / "ansible-playbook"), "site.yml", "-e", json.dumps(dict(STAGE_INPUTS, platform_render_dir=str(rendered),
                                                                           platform_applyset_namespace=applyset_namespace)),
           "--skip-tags", STAGE_SKIP_TAGS])
    objects = load_objects(rendered)
    clash = existing(objects)
    if clash:
        run.notes.append("whole-stage figures skipped: the cluster already has %s" % ", ".join(clash[:8]))
        print(run.notes[-1])
        return
    api = client()
    api.request("POST", "/api/v1/namespaces", None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": applyset_namespace}})
    try:
        converge, _ = timed([str(BIN / "ansible-playbook"), "site.yml", *variables])
        converge_again, _, _ = site_noop(variables)  # Calico's second pass, as a fresh cluster needs
        rendered = applied_only(rendered, work / "stages-kubectl")
        timed([kubectl, "apply", "--server-side", "--force-conflicts", "--field-manager=" + KUBECTL_MANAGER, "-R", "-f", str(rendered)])
        samples = []
        for repetition in range(repeat):
            order = ["site", "kubectl"] if repetition % 2 == 0 else ["kubectl", "site"]
            for tool in order:
                before = load()
                if tool == "site":
                    seconds, changed, parts = site_noop(variables)
                    samples.append({"tool": "site.yml no-op", "seconds": round(seconds, 3), "changed": changed,
                                    "load": before, "parts": parts, "cpu": parts["(CPU seconds of the run, user + system)"]})
                else:
                    seconds, cpu = kubectl_per_role(kubectl, rendered)
                    samples.append({"tool": "kubectl per role", "seconds": round(seconds, 3), "load": before, "cpu": round(cpu, 3)})
                print("  stages rep %d  %-18s %6.2f s  load %.2f" % (repetition, samples[-1]["tool"], seconds, before), flush=True)
        site = [s for s in samples if s["tool"] == "site.yml no-op"]
        kube = [s for s in samples if s["tool"] == "kubectl per role"]
        median_site = statistics.median(s["seconds"] for s in site)
        median_kube = statistics.median(s["seconds"] for s in kube)
        middle = sorted(site, key=lambda s: s["seconds"])[len(site) // 2]
        run.stages = {"objects": len(objects), "roles": len(role_dirs(rendered)), "skipped_tags": STAGE_SKIP_TAGS,
                      "converge_seconds": round(converge, 3), "second_run_seconds": round(converge_again, 3),
                      "site_noop": round(median_site, 3), "kubectl_per_role": round(median_kube, 3),
                      "ratio": round(median_site / median_kube, 2), "changed": max(s["changed"] for s in site),
                      "site_noop_cpu": statistics.median(s["cpu"] for s in site),
                      "kubectl_per_role_cpu": statistics.median(s["cpu"] for s in kube),
                      "parts_of_median_run": middle["parts"], "samples": samples}
    finally:
        stage_cleanup(objects, applyset_namespace, run)


def stage_cleanup(objects: List[Obj], applyset_namespace: str, run: Run) -> None:
    """Delete what the stage runs made: every member of the ApplySets they recorded, then the namespaces."""
    from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_applyset import PART_OF_LABEL, recorded, split_group_kind
    from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_client import ApiError, Discovery

    api = client()
    discovery = Discovery(api)
    members: List[Obj] = []
    parents = api.request("GET", "/api/v1/namespaces/%s/configmaps" % applyset_namespace).get("items") or []
    for parent in parents:
        set_id = (parent["metadata"].get("labels") or {}).get("applyset.kubernetes.io/id")
        if not set_id:
            continue
        for group_kind in recorded(parent).group_kinds:
            group, kind = split_group_kind(group_kind)
            resource = discovery.preferred(group, kind)
            if resource is None:
                continue
            listing = api.request("GET", resource.path(), {"labelSelector": "%s=%s" % (PART_OF_LABEL, set_id)})
            for item in listing.get("items") or []:
                item["apiVersion"], item["kind"] = listing["apiVersion"], kind
                members.append(item)
    for member in members:
        meta = member["metadata"]
        if not meta.get("namespace"):
            continue  # below, with the namespaces
        resource = discovery.preferred(str(member["apiVersion"]).rpartition("/")[0], member["kind"])
        if resource is not None:
            try:
                api.request("DELETE", resource.path(meta["namespace"], meta["name"]), None, {"propagationPolicy": "Background"})
            except ApiError as exc:
                if exc.status != 404:
                    raise
    namespaces = sorted({m["metadata"]["name"] for m in members + objects if m["kind"] == "Namespace"} | {applyset_namespace})
    namespaces = [name for name in namespaces if name not in ("kube-system", "default")]
    cluster_scoped = [m for m in members + objects if not m["metadata"].get("namespace") and m["kind"] != "Namespace"]
    run.leftovers += delete_objects(cluster_scoped, namespaces)
    leftover = existing(objects)
    run.leftovers += len(leftover)
    if leftover:
        run.notes.append("whole-stage cleanup left %s" % ", ".join(leftover))


# -- the report --------------------------------------------------------------------------------------


def merged(runs: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Several runs (e.g. the small sizes with more repetitions, the large one with fewer) as one report."""
    out = dict(runs[0])
    for key in ("samples", "figures", "notes"):
        out[key] = [item for data in runs for item in data.get(key) or []]
    out["leftovers"] = sum(data.get("leftovers", 0) for data in runs)
    out["stages"] = next((data["stages"] for data in runs if data.get("stages")), {})
    out["started"] = ", ".join(data["started"] for data in runs)
    versions = {(data.get("kubectl") or {}).get("client") for data in runs} | {(data.get("kubectl") or {}).get("server") for data in runs}
    if len(versions - {None}) > 2:
        out["notes"].append("the merged runs used different kubectl or server versions: %s" % sorted(versions - {None}))
    return out


def markdown(data: Dict[str, Any]) -> str:
    lines = []
    host = data["host"]
    kube = data.get("kubectl") or {}
    lines.append("Run of %s on %s (%s CPUs, Python %s, %s); kubectl %s against API server %s%s."
                 % (data["started"], host["machine"], host["cpus"], host["python"], host["ansible"],
                    kube.get("client", "?"), kube.get("server", "?"),
                    "" if kube.get("skew") in (None, "0") else " (**minor versions differ by %s**)" % kube.get("skew")))
    loads = [s["load"] for s in data["samples"]]
    if loads:
        lines.append("Machine load (1-minute average) at the start of each measurement: %.2f to %.2f, median %.2f."
                     % (min(loads), max(loads), statistics.median(loads)))
    lines.append("")
    sizes = sorted({f["objects"] for f in data["figures"]})
    for count in sizes:
        figures = [f for f in data["figures"] if f["objects"] == count]
        reps = len({s["repetition"] for s in data["samples"] if s["objects"] == count})
        lines += ["%d objects (medians of %d repetitions):" % (count, reps), "",
                  "| tool | first apply | ratio | ms/object | no-op re-apply | ratio | ms/object | changed on re-run |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for f in figures:
            lines.append("| %s | %.2f s | %.2f | %.2f | %.2f s | %.2f | %.2f | %s |" % (
                f["tool"], f["first"], f["first_ratio"], f["first_ms_per_object"], f["noop"], f["noop_ratio"],
                f["noop_ms_per_object"], "(not reported)" if f["changed"] is None else f["changed"]))
        lines.append("")
        if all(f.get("first_cpu") is not None for f in figures):
            lines += ["CPU seconds (user + system, the tool's processes and threads) at %d objects, less disturbed by the "
                      "load than wall time:" % count, "", "| tool | first apply | ratio | no-op re-apply | ratio |", "|---|---:|---:|---:|---:|"]
            for f in figures:
                lines.append("| %s | %.2f | %.2f | %.2f | %.2f |" % (f["tool"], f["first_cpu"], f["first_cpu_ratio"],
                                                                     f["noop_cpu"], f["noop_cpu_ratio"]))
            lines.append("")
    if data.get("render"):
        lines.append("Render (`playbooks/render.yml`, whole platform): %.1f s at load %.2f." % (data["render"]["seconds"], data["render"]["load"]))
        lines.append("")
    stage = data.get("stages") or {}
    if stage:
        lines += ["Whole stages: %d objects in %d roles (skipped: `--skip-tags %s`); converge %.1f s, second run %.1f s."
                  % (stage["objects"], stage["roles"], stage["skipped_tags"], stage["converge_seconds"], stage["second_run_seconds"]), "",
                  "| run | seconds (median) | ratio | changed |", "|---|---:|---:|---:|",
                  "| `site.yml` no-op, every Kubernetes stage | %.2f | %.2f | %d |" % (stage["site_noop"], stage["ratio"], stage["changed"]),
                  "| one `kubectl apply --server-side` per role | %.2f | 1.00 | (not reported) |" % stage["kubectl_per_role"], "",
                  "CPU seconds (median): `site.yml` %.2f, kubectl per role %.2f (ratio %.2f)."
                  % (stage["site_noop_cpu"], stage["kubectl_per_role_cpu"], stage["site_noop_cpu"] / stage["kubectl_per_role_cpu"]), "",
                  "Where the median `site.yml` no-op run spent its time:", "", "| part | seconds |", "|---|---:|"]
        for part, seconds in sorted(stage["parts_of_median_run"].items(), key=lambda kv: -kv[1]):
            lines.append("| %s | %.2f |" % (part, seconds))
        lines.append("")
    lines.append("Objects left behind after the run: %d." % data.get("leftovers", 0))
    for note in data.get("notes") or []:
        lines.append("")
        lines.append("Note: %s" % note)
    return "\n".join(lines) + "\n"


BEGIN, END = "<!-- benchmark:begin (generated by benchmarks/engine.py --report) -->", "<!-- benchmark:end -->"


def update_document(document: Path, text: str) -> None:
    content = document.read_text()
    if BEGIN not in content or END not in content:
        raise SystemExit("%s has no %s ... %s section" % (document, BEGIN, END))
    head, rest = content.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    document.write_text(head + BEGIN + "\n" + text + END + tail)


# -- main -------------------------------------------------------------------------------------------


def host_facts() -> Dict[str, Any]:
    from ansible import __version__ as ansible_core

    return {"machine": platform.node() or "?", "cpus": os.cpu_count(), "python": platform.python_version(),
            "ansible": "ansible-core %s" % ansible_core}


def interrupted(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt("signal %d" % signum)  # so that the copy being measured is deleted


def main() -> int:
    import signal

    signal.signal(signal.SIGTERM, interrupted)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", default="1,3,10", help="sizes, as copies of the platform's servable objects")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions per size and tool (medians reported)")
    parser.add_argument("--with-k8s", action="store_true", help="also measure kubernetes.core.k8s (slow)")
    parser.add_argument("--tools", help="comma-separated words: only the tools whose names contain one (kubectl always runs)")
    parser.add_argument("--stages", action="store_true", help="also measure whole stages (site.yml no-op vs kubectl per role)")
    parser.add_argument("--no-sizes", action="store_true", help="skip the per-size comparison")
    parser.add_argument("--allow-skew", action="store_true", help="measure with a kubectl of another minor than the server")
    parser.add_argument("--json", type=Path, help="write the run as JSON here")
    parser.add_argument("--report", type=Path, nargs="+", help="print the Markdown tables of JSON runs (no measuring)")
    parser.add_argument("--update", type=Path, help="with --report: replace the generated section of this document")
    args = parser.parse_args()

    if args.report:
        text = markdown(merged([json.loads(path.read_text()) for path in args.report]))
        if args.update:
            update_document(args.update, text)
        else:
            print(text)
        return 0

    run = Run(started=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), host=host_facts())
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    try:
        objects: List[Obj] = []
        if not args.no_sizes or not os.environ.get("KUBECONFIG"):
            before = load()
            seconds = render(work / "manifests", [])
            run.render = {"seconds": round(seconds, 2), "load": before}
            objects = load_objects(work / "manifests", templates_only=True)
            print("render: %d objects in %.1f s (load %.2f)" % (len(objects), seconds, before))
        if not os.environ.get("KUBECONFIG"):
            print("KUBECONFIG is not set: there is no API server to measure against, so only the render run was "
                  "measured. Set KUBECONFIG (and KUBECTL to a kubectl of the server's minor version) to compare.")
            run.notes.append("KUBECONFIG was not set: apply figures not measured")
        else:
            kubectl = os.environ.get("KUBECTL") or shutil.which("kubectl") or ""
            if not kubectl:
                raise SystemExit("no kubectl: set KUBECTL to a kubectl of the API server's minor version")
            run.kubectl = kubectl_versions(kubectl)
            print("kubectl %(client)s (%(path)s), API server %(server)s" % run.kubectl)
            if run.kubectl["skew"] != "0":
                message = ("kubectl %(client)s is not of the API server's minor version (%(server)s): its figures would not "
                           "compare like with like. Set KUBECTL to a kubectl of the server's minor." % run.kubectl)
                if not args.allow_skew:
                    raise SystemExit(message)
                print("WARNING: " + message + " Measuring anyway (--allow-skew).")
                run.notes.append("measured with --allow-skew: " + message)
            from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_client import Discovery

            served = servable(objects, Discovery(client()))
            print("benchmarking %d of the %d rendered objects per copy (the others are custom resources, CRDs or "
                  "APIServices)" % (len(served), len(objects)))
            if not args.no_sizes:
                compare(kubectl, served, [int(n) for n in args.copies.split(",")], args.repeat, args.with_k8s, work, run, args.json,
                        args.tools.split(",") if args.tools else None)
            if args.stages:
                stages(kubectl, args.repeat, work, run)
            print("objects left behind: %d" % run.leftovers)
        save(run, args.json)
        print()
        print(markdown(json.loads(json.dumps(asdict(run)))))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
