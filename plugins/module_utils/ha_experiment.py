# -*- coding: utf-8 -*-
# Copyright: orchestrate.platform developers
# Apache License 2.0 (see LICENSE)
"""The HA test's experiments: inject one fault through the Kubernetes API (delete pods, evict
them from a cordoned node, scale) or take a node away (ha_nodes.NodeControl), and sample the target's ready replicas until it is whole
again, on the controller's monotonic clock.

`request` is a callable like manifests_client.Client.request(method, path, query=, body=,
content_type=) that raises an exception with a `status` attribute on HTTP errors.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Optional, Set

from ansible_collections.orchestrate.platform.plugins.module_utils.ha_metrics import Sample, offset
from ansible_collections.orchestrate.platform.plugins.module_utils.ha_nodes import NodeControl
from ansible_collections.orchestrate.platform.plugins.module_utils.ha_probe import Clock

Request = Callable[..., Any]
Obj = Dict[str, Any]

WORKLOADS = {"Deployment": "deployments", "StatefulSet": "statefulsets"}
FAULTS = ("delete_one", "delete_half", "delete_all", "delete_pod", "delete_labelled", "drain", "scale", "node_loss", "none")
GALERA_WRITER_LABEL = "orchestrate.platform/galera-writer"


class ExperimentError(ValueError):
    """A setting the experiment cannot run with."""


@dataclass
class Spec:
    name: str
    kind: str
    target_kind: str
    namespace: str
    target: str
    fault: str
    pod: str = ""
    label: str = ""
    node: str = ""
    spare: str = ""
    replicas: int = 0
    desired_at_least: int = 0
    desired_at_most: int = 0
    steady_seconds: float = 10.0
    timeout: float = 600.0
    interval: float = 1.0


@dataclass
class Outcome:
    name: str
    kind: str
    target: str
    skipped: str = ""
    start: float = 0.0
    end: float = 0.0
    steady_before: bool = False
    whole_after: bool = False
    faulted: List[str] = field(default_factory=list)
    marks: Dict[str, float] = field(default_factory=dict)
    samples: List[Dict[str, float]] = field(default_factory=list)

    def as_dict(self) -> Dict[str, Any]:
        return asdict(self)


def _status(exc: BaseException) -> Optional[int]:
    return getattr(exc, "status", None)


def workload_path(kind: str, namespace: str, name: str) -> str:
    if kind not in WORKLOADS:
        raise ExperimentError("target kind %r is not one of %s" % (kind, ", ".join(WORKLOADS)))
    return "/apis/apps/v1/namespaces/%s/%s/%s" % (namespace, WORKLOADS[kind], name)


def get_workload(request: Request, kind: str, namespace: str, name: str) -> Optional[Obj]:
    """The workload, or None when it does not exist."""
    try:
        return request("GET", workload_path(kind, namespace, name))
    # Any error but an HTTP 404 (meaning "not deployed") goes up.
    except Exception as exc:  # noqa: BLE001
        if _status(exc) == 404:
            return None
        raise


def pod_ready(pod: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def sample_of(obj: Obj, clock: Clock, pods: List[Obj]) -> Sample:
    """Ready replicas counted from the pods themselves (Ready and not terminating), not from the
    workload's status: the status lags a deletion by a controller round, and a terminating pod
    stays Ready there until its grace period ends."""
    return Sample(mono=clock.mono(), wall=clock.wall(), ready=sum(1 for p in pods if pod_ready(p)),
                  desired=int((obj.get("spec") or {}).get("replicas", 1)))


def sample(request: Request, spec: Spec, clock: Clock) -> Optional[Sample]:
    """One sample of the target, None when it does not exist (any more)."""
    obj = get_workload(request, spec.target_kind, spec.namespace, spec.target)
    if obj is None:
        return None
    return sample_of(obj, clock, pods_of(request, spec.namespace, selector(obj)))


def selector(obj: Obj) -> str:
    labels = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    if not labels:
        raise ExperimentError("%s has no matchLabels selector" % (obj.get("metadata") or {}).get("name"))
    return ",".join("%s=%s" % item for item in sorted(labels.items()))


def pods_of(request: Request, namespace: str, labels: str) -> List[Obj]:
    found = request("GET", "/api/v1/namespaces/%s/pods" % namespace, query={"labelSelector": labels})
    return sorted((p for p in found.get("items") or [] if not (p.get("metadata") or {}).get("deletionTimestamp")),
                  key=lambda p: p["metadata"]["name"])


def victims(spec: Spec, pods: List[Obj]) -> List[str]:
    """Names of the pods the fault deletes; ExperimentError when there is none to pick."""
    names = [p["metadata"]["name"] for p in pods]
    if spec.fault == "delete_one":
        picked = names[:1]
    elif spec.fault == "delete_half":
        picked = names[: max(1, math.floor(len(names) / 2))]
    elif spec.fault == "delete_all":
        picked = names
    elif spec.fault == "delete_pod":
        picked = [n for n in names if n == spec.pod]
    elif spec.fault == "delete_labelled":
        key, _, value = spec.label.partition("=")
        picked = [p["metadata"]["name"] for p in pods if (p["metadata"].get("labels") or {}).get(key) == value]
    else:
        picked = []
    if spec.fault.startswith("delete") and not picked:
        raise ExperimentError("%s: no pod to delete among %s" % (spec.name, names))
    return picked


def delete_pods(request: Request, namespace: str, names: List[str]) -> None:
    for name in names:
        request("DELETE", "/api/v1/namespaces/%s/pods/%s" % (namespace, name))


def cordon(request: Request, node: str, on: bool) -> None:
    request("PATCH", "/api/v1/nodes/%s" % node, body={"spec": {"unschedulable": True if on else None}},
            content_type="application/merge-patch+json")


def evictable(pod: Obj) -> bool:
    """Pods a drain evicts: not DaemonSet-owned, not mirror pods, not finished."""
    meta = pod.get("metadata") or {}
    if any(o.get("kind") == "DaemonSet" for o in meta.get("ownerReferences") or []):
        return False
    if "kubernetes.io/config.mirror" in (meta.get("annotations") or {}):
        return False
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


def labelled(pod: Obj, label: str) -> bool:
    key, _, value = label.partition("=")
    return bool(label) and ((pod.get("metadata") or {}).get("labels") or {}).get(key) == value


def drain(request: Request, node: str, deadline: float, clock: Clock, sleep: Callable[[float], None],
          spare: str = "", waiting: Optional[Callable[[], None]] = None) -> List[str]:
    """Evict every evictable pod of the node through the eviction API, except those labelled
    `spare` (key=value: the HA test's own prober, the instrument); a 429 (a PodDisruptionBudget
    says not now) is retried until the deadline, calling `waiting` before each pause (the
    experiment samples its target there). Returns the evicted pods."""
    found = request("GET", "/api/v1/pods", query={"fieldSelector": "spec.nodeName=%s" % node})
    pending = [p for p in found.get("items") or [] if evictable(p) and not labelled(p, spare)]
    evicted: List[str] = []
    while pending:
        left = []
        for pod in pending:
            meta = pod["metadata"]
            body = {"apiVersion": "policy/v1", "kind": "Eviction",
                    "metadata": {"name": meta["name"], "namespace": meta["namespace"]}}
            try:
                request("POST", "/api/v1/namespaces/%s/pods/%s/eviction" % (meta["namespace"], meta["name"]), body=body)
                evicted.append("%s/%s" % (meta["namespace"], meta["name"]))
            # 429 is the disruption budget's answer; a pod already gone answers 404.
            except Exception as exc:  # noqa: BLE001
                if _status(exc) == 429:
                    left.append(pod)
                elif _status(exc) != 404:
                    raise
        pending = left
        if pending:
            if clock.mono() > deadline:
                raise ExperimentError("drain of %s: %d pods still not evictable (PodDisruptionBudgets) at the timeout: %s" % (
                    node, len(pending), [p["metadata"]["name"] for p in pending]))
            if waiting is not None:
                waiting()
            sleep(1.0)
    return evicted


def scale_to(request: Request, spec: Spec) -> None:
    """Set the target's replicas through its scale subresource (what kubectl scale does)."""
    if spec.replicas < 1:
        raise ExperimentError("%s: fault scale needs replicas >= 1" % spec.name)
    request("PATCH", workload_path(spec.target_kind, spec.namespace, spec.target) + "/scale",
            body={"spec": {"replicas": spec.replicas}}, content_type="application/merge-patch+json")


def node_ready(request: Request, node: str) -> bool:
    found = request("GET", "/api/v1/nodes/%s" % node)
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (found.get("status") or {}).get("conditions") or [])


def on_node(pods: List[Obj], node: str) -> List[str]:
    return [p["metadata"]["name"] for p in pods if (p.get("spec") or {}).get("nodeName") == node]


def observe_node_loss(request: Request, spec: Spec, start: float, until: float, clock: Clock,
                      sleep: Callable[[float], None], marks: Dict[str, float]) -> List[Sample]:
    """After the node was taken away: samples until the node is NotReady (mark node_not_ready)
    and then the target is whole with none of its pods left on the node (mark rescheduled), or
    until `until`. Marks are seconds after `start` (monotonic)."""
    samples: List[Sample] = []
    while True:
        obj = get_workload(request, spec.target_kind, spec.namespace, spec.target)
        if obj is not None:
            pods = pods_of(request, spec.namespace, selector(obj))
            current = sample_of(obj, clock, pods)
            samples.append(current)
            if "node_not_ready" not in marks and not node_ready(request, spec.node):
                marks["node_not_ready"] = current.mono - start
            if "node_not_ready" in marks and whole(current, spec) and not on_node(pods, spec.node):
                marks["rescheduled"] = current.mono - start
                return samples
        if clock.mono() >= until:
            return samples
        sleep(spec.interval)


def wait_node_ready(request: Request, spec: Spec, start: float, until: float, clock: Clock,
                    sleep: Callable[[float], None], marks: Dict[str, float]) -> None:
    """After the node was given back: until it reports Ready (mark node_ready_again) or `until`."""
    while True:
        if node_ready(request, spec.node):
            marks["node_ready_again"] = clock.mono() - start
            return
        if clock.mono() >= until:
            return
        sleep(spec.interval)


def whole(s: Sample, spec: Spec) -> bool:
    return s.ready >= s.desired and s.desired >= spec.desired_at_least and (
        not spec.desired_at_most or s.ready <= s.desired <= spec.desired_at_most)


def still_there(request: Request, spec: Spec, obj: Obj, gone: Set[str]) -> bool:
    """Whether a deleted pod (by UID: a StatefulSet's replacement keeps the name) still exists."""
    return bool(gone) and any(p["metadata"].get("uid") in gone for p in pods_of(request, spec.namespace, selector(obj)))


def observe(request: Request, spec: Spec, until: float, clock: Clock, sleep: Callable[[float], None],
            detected: bool, gone: Optional[Set[str]] = None) -> List[Sample]:
    """Samples every spec.interval until the target is whole after a detected change (or, with
    `detected`, at once) and none of the deleted pods (`gone`, UIDs) is left, or until `until`
    (monotonic). A recovery faster than one sample is still seen: the deleted pods are gone."""
    samples: List[Sample] = []
    initial: Optional[int] = None
    gone = set(gone or ())
    while True:
        obj = get_workload(request, spec.target_kind, spec.namespace, spec.target)
        if obj is not None:
            current = sample_of(obj, clock, pods_of(request, spec.namespace, selector(obj)))
            samples.append(current)
            initial = current.desired if initial is None else initial
            detected = detected or bool(gone) or current.ready < current.desired or current.desired != initial
            if detected and whole(current, spec) and not still_there(request, spec, obj, gone):
                return samples
        if clock.mono() >= until:
            return samples
        sleep(spec.interval)


def run(request: Request, spec: Spec, clock: Clock, sleep: Callable[[float], None],
        node_control: Optional[NodeControl] = None) -> Outcome:
    """Steady state, fault, observation until whole again; every sample on the controller's clock.
    A node_loss takes spec.node away through `node_control` and gives it back afterwards,
    whatever happened; its marks say when the node was NotReady, the target rescheduled and the
    node Ready again."""
    if spec.fault not in FAULTS:
        raise ExperimentError("%s: fault %r is not one of %s" % (spec.name, spec.fault, ", ".join(FAULTS)))
    if spec.fault in ("drain", "node_loss") and not spec.node:
        raise ExperimentError("%s: a %s needs a node" % (spec.name, spec.fault))
    if spec.fault == "node_loss" and node_control is None:
        raise ExperimentError("%s: a node_loss needs a node control (how the node is stopped and started)" % spec.name)
    outcome = Outcome(name=spec.name, kind=spec.kind, target="%s/%s" % (spec.namespace, spec.target))
    obj = get_workload(request, spec.target_kind, spec.namespace, spec.target)
    if obj is None:
        outcome.skipped = "%s %s/%s is not deployed" % (spec.target_kind, spec.namespace, spec.target)
        return outcome
    steady = [sample_of(obj, clock, pods_of(request, spec.namespace, selector(obj)))]
    until = clock.mono() + spec.steady_seconds
    while clock.mono() < until:
        sleep(spec.interval)
        steady.append(sample(request, spec, clock) or Sample(mono=clock.mono(), wall=clock.wall(), ready=0, desired=0))
    outcome.steady_before = all(s.ready >= s.desired for s in steady)
    start_mono = clock.mono()
    cordoned = stopped = False
    gone: Set[str] = set()
    during: List[Sample] = []
    after: List[Sample] = []
    try:
        if spec.fault == "drain":
            cordon(request, spec.node, True)
            cordoned = True
            outcome.faulted = drain(request, spec.node, start_mono + spec.timeout, clock, sleep, spec.spare,
                                    waiting=lambda: during.extend(s for s in [sample(request, spec, clock)] if s))
        elif spec.fault == "scale":
            scale_to(request, spec)
            outcome.faulted = ["replicas=%d" % spec.replicas]
        elif spec.fault == "node_loss":
            assert node_control is not None
            outcome.faulted = ["node/%s" % spec.node]
            stopped = True
            node_control.stop()
            after = observe_node_loss(request, spec, start_mono, start_mono + spec.timeout, clock, sleep, outcome.marks)
        elif spec.fault != "none":
            members = pods_of(request, spec.namespace, selector(obj))
            outcome.faulted = victims(spec, members)
            gone = {p["metadata"].get("uid") for p in members if p["metadata"]["name"] in outcome.faulted} - {None}
            delete_pods(request, spec.namespace, outcome.faulted)
        if spec.fault != "node_loss":
            after = observe(request, spec, start_mono + spec.timeout, clock, sleep, detected=spec.fault in ("drain", "scale"),
                            gone=gone if spec.fault.startswith("delete") else None)
    finally:
        if cordoned:
            cordon(request, spec.node, False)
        if stopped:
            assert node_control is not None
            node_control.start()
    end_mono = clock.mono()
    if stopped:
        wait_node_ready(request, spec, start_mono, end_mono + spec.timeout, clock, sleep, outcome.marks)
    samples = steady + during + after
    shift = offset(samples)
    outcome.start, outcome.end = start_mono + shift, end_mono + shift
    outcome.whole_after = bool(after) and whole(after[-1], spec)
    outcome.samples = [asdict(s) for s in samples]
    return outcome
