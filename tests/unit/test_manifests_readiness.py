"""Readiness rules of the workloads the engine waits for."""

from __future__ import annotations

from typing import Any, Dict

import pytest

from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_readiness import needs_wait, readiness


def workload(kind: str, spec: Dict[str, Any], status: Dict[str, Any], generation: int = 3) -> Dict[str, Any]:
    return {"kind": kind, "metadata": {"name": "x", "generation": generation}, "spec": spec, "status": status}


@pytest.mark.parametrize(
    "obj, ready, reason",
    [
        (workload("Deployment", {"replicas": 3}, {"observedGeneration": 3, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3}), True, "ready"),
        (workload("Deployment", {"replicas": 3}, {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3}), False, "not observed"),
        (workload("Deployment", {"replicas": 3}, {"observedGeneration": 3, "replicas": 4, "updatedReplicas": 3, "availableReplicas": 3}), False, "3/3/4 of 3"),
        (workload("Deployment", {}, {"observedGeneration": 3, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}), True, "ready"),
        (workload("StatefulSet", {"replicas": 3}, {"observedGeneration": 3, "readyReplicas": 3, "updatedReplicas": 3,
                                                   "currentRevision": "a", "updateRevision": "a"}), True, "ready"),
        (workload("StatefulSet", {"replicas": 3}, {"observedGeneration": 3, "readyReplicas": 3, "updatedReplicas": 1,
                                                   "currentRevision": "a", "updateRevision": "b"}), False, "rolling update"),
        (workload("StatefulSet", {"replicas": 3, "updateStrategy": {"type": "OnDelete"}},
                  {"observedGeneration": 3, "readyReplicas": 3, "currentRevision": "a", "updateRevision": "b"}), True, "ready"),
        (workload("StatefulSet", {"replicas": 3}, {"observedGeneration": 3, "readyReplicas": 2}), False, "ready replicas 2 of 3"),
        (workload("DaemonSet", {}, {"observedGeneration": 3, "desiredNumberScheduled": 4, "updatedNumberScheduled": 4, "numberAvailable": 4}), True, "ready"),
        (workload("DaemonSet", {}, {"observedGeneration": 3, "desiredNumberScheduled": 4, "updatedNumberScheduled": 4, "numberAvailable": 3}), False, "4/3 of 4"),
        (workload("Job", {}, {"conditions": [{"type": "Complete", "status": "True"}]}), True, "complete"),
        (workload("Job", {}, {}), False, "not complete"),
        ({"kind": "ConfigMap", "metadata": {"name": "x"}}, True, "no rollout"),
    ],
)
def test_readiness(obj: Dict[str, Any], ready: bool, reason: str) -> None:
    state = readiness(obj)
    assert state.ready is ready
    assert reason in state.reason


def test_failures_are_final() -> None:
    stuck = workload("Deployment", {"replicas": 1}, {"observedGeneration": 3, "conditions": [
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "timed out"}]})
    failed_job = workload("Job", {}, {"conditions": [{"type": "Failed", "status": "True", "message": "BackoffLimitExceeded"}]})
    for obj in (stuck, failed_job):
        state = readiness(obj)
        assert state.failed and not state.ready


def test_needs_wait_keeps_only_unready_objects() -> None:
    done = workload("Job", {}, {"conditions": [{"type": "Complete", "status": "True"}]})
    running = workload("Job", {}, {})
    assert needs_wait([done, running, {"kind": "Service"}]) == [running]
