# -*- coding: utf-8 -*-
# Copyright: orchestrate.platform developers
# Apache License 2.0 (see LICENSE)
"""When is a workload ready? Decided from the object's own status, the way its controller reports it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping


@dataclass(frozen=True)
class Readiness:
    ready: bool
    failed: bool
    reason: str


def _ok(reason: str = "ready") -> Readiness:
    return Readiness(True, False, reason)


def _waiting(reason: str) -> Readiness:
    return Readiness(False, False, reason)


def _failed(reason: str) -> Readiness:
    return Readiness(False, True, reason)


def _observed(obj: Mapping[str, Any]) -> bool:
    generation = (obj.get("metadata") or {}).get("generation", 0)
    return (obj.get("status") or {}).get("observedGeneration", -1) >= generation


def _conditions(obj: Mapping[str, Any]) -> Dict[str, Mapping[str, Any]]:
    return {c.get("type"): c for c in (obj.get("status") or {}).get("conditions") or []}


def deployment(obj: Mapping[str, Any]) -> Readiness:
    status = obj.get("status") or {}
    want = (obj.get("spec") or {}).get("replicas", 1)
    progressing = _conditions(obj).get("Progressing") or {}
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        return _failed("progress deadline exceeded: %s" % progressing.get("message", ""))
    if not _observed(obj):
        return _waiting("controller has not observed the new generation")
    counts = (status.get("updatedReplicas", 0), status.get("availableReplicas", 0), status.get("replicas", 0))
    if counts != (want, want, want):
        return _waiting("updated/available/total replicas %d/%d/%d of %d" % (counts + (want,)))
    return _ok()


def statefulset(obj: Mapping[str, Any]) -> Readiness:
    status = obj.get("status") or {}
    spec = obj.get("spec") or {}
    want = spec.get("replicas", 1)
    if not _observed(obj):
        return _waiting("controller has not observed the new generation")
    if status.get("readyReplicas", 0) != want:
        return _waiting("ready replicas %d of %d" % (status.get("readyReplicas", 0), want))
    strategy = spec.get("updateStrategy") or {}
    partition = ((strategy.get("rollingUpdate") or {}).get("partition")) or 0
    if strategy.get("type", "RollingUpdate") == "RollingUpdate" and partition == 0:
        if status.get("updatedReplicas", 0) != want or status.get("currentRevision") != status.get("updateRevision"):
            return _waiting("rolling update in progress (updated %d of %d)" % (status.get("updatedReplicas", 0), want))
    return _ok()


def daemonset(obj: Mapping[str, Any]) -> Readiness:
    status = obj.get("status") or {}
    if not _observed(obj):
        return _waiting("controller has not observed the new generation")
    desired = status.get("desiredNumberScheduled", 0)
    counts = (status.get("updatedNumberScheduled", 0), status.get("numberAvailable", 0))
    if counts != (desired, desired):
        return _waiting("updated/available pods %d/%d of %d" % (counts + (desired,)))
    return _ok()


def job(obj: Mapping[str, Any]) -> Readiness:
    conditions = _conditions(obj)
    if (conditions.get("Failed") or {}).get("status") == "True":
        return _failed("job failed: %s" % conditions["Failed"].get("message", ""))
    if (conditions.get("Complete") or {}).get("status") == "True":
        return _ok("complete")
    return _waiting("job not complete")


CHECKS: Dict[str, Callable[[Mapping[str, Any]], Readiness]] = {
    "Deployment": deployment,
    "StatefulSet": statefulset,
    "DaemonSet": daemonset,
    "Job": job,
}


def readiness(obj: Mapping[str, Any]) -> Readiness:
    """Readiness of any object; kinds without a rollout to wait for are ready once applied."""
    check = CHECKS.get(str(obj.get("kind")))
    return check(obj) if check else _ok("no rollout to wait for")


def needs_wait(objects: List[Mapping[str, Any]]) -> List[Mapping[str, Any]]:
    """The objects among `objects` that are not ready yet (failed ones included)."""
    return [obj for obj in objects if not readiness(obj).ready]
