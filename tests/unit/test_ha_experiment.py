"""The HA test's experiment driver against an in-memory API with a simulated controller: pods
deleted or evicted come back Ready after a few seconds of the fake clock."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import pytest

from ansible_collections.orchestrate.platform.plugins.module_utils.ha_experiment import (
    ExperimentError,
    Spec,
    evictable,
    run,
    victims,
)
from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_client import ApiError


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def mono(self) -> float:
        return self.now

    def wall(self) -> float:
        return 1_700_000_000.0 + self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class FakeCluster:
    """One Deployment `web` in namespace `apps`; a deleted pod's replacement is Ready `heal`
    seconds later; a PodDisruptionBudget allowing `budget` pods down at once."""

    def __init__(self, clock: FakeClock, replicas: int = 4, heal: float = 3.0, budget: int = 1) -> None:
        self.clock, self.heal, self.budget = clock, heal, budget
        self.replicas = replicas
        self.pods = {"web-%d" % i: {"node": "node-%d" % (i % 2), "ready_at": 0.0} for i in range(replicas)}
        self.counter = replicas
        self.unschedulable: Dict[str, bool] = {}
        self.calls: List[str] = []
        self.autoscale: List[tuple] = []

    def ready(self) -> int:
        return sum(1 for p in self.pods.values() if p["ready_at"] <= self.clock.now)

    def replace(self, name: str) -> None:
        del self.pods[name]
        self.pods["web-%d" % self.counter] = {"node": "node-9", "ready_at": self.clock.now + self.heal}
        self.counter += 1

    def __call__(self, method: str, path: str, query: Optional[Dict[str, str]] = None, body: Any = None,
                 content_type: Optional[str] = None) -> Any:
        self.calls.append("%s %s" % (method, path))
        if path == "/apis/apps/v1/namespaces/apps/deployments/web":
            for at, replicas in list(self.autoscale):
                if self.clock.now >= at:  # a simulated HPA decision; new pods Ready `heal` s later
                    self.autoscale.remove((at, replicas))
                    while len(self.pods) < replicas:
                        self.pods["web-%d" % self.counter] = {"node": "node-9", "ready_at": self.clock.now + self.heal}
                        self.counter += 1
                    while len(self.pods) > replicas:
                        del self.pods[sorted(self.pods)[-1]]
                    self.replicas = replicas
            return {"metadata": {"name": "web"}, "spec": {"replicas": self.replicas, "selector": {"matchLabels": {"app": "web"}}},
                    "status": {"readyReplicas": self.ready()}}
        if path.startswith("/apis/apps/v1/"):
            raise ApiError(404, "Not Found", "not found")
        if path == "/api/v1/namespaces/apps/pods":
            assert query == {"labelSelector": "app=web"}
            return {"items": [{"metadata": {"name": n, "uid": "uid-" + n,
                                            "labels": {"app": "web", "writer": "true" if n == "web-2" else "false"}},
                               "status": {"conditions": [{"type": "Ready", "status": "True" if p["ready_at"] <= self.clock.now
                                                          else "False"}]}}
                              for n, p in self.pods.items()]}
        if method == "DELETE":
            self.replace(path.rsplit("/", 1)[1])
            return {}
        if path == "/api/v1/pods":
            node = query["fieldSelector"].split("=")[1]
            return {"items": [{"metadata": {"name": n, "namespace": "apps"}, "status": {"phase": "Running"}}
                              for n, p in self.pods.items() if p["node"] == node]}
        if path.endswith("/eviction"):
            if self.replicas - self.ready() >= self.budget:
                raise ApiError(429, "Too Many Requests", "Cannot evict pod as it would violate the pod's disruption budget.")
            self.replace(path.split("/")[-2])
            return {}
        if path.startswith("/api/v1/nodes/"):
            self.unschedulable[path.rsplit("/", 1)[1]] = bool(body["spec"]["unschedulable"])
            return {}
        raise AssertionError("unexpected request %s %s" % (method, path))


def spec(**kwargs: Any) -> Spec:
    values = dict(name="delete-one", kind="pod_loss", target_kind="Deployment", namespace="apps", target="web",
                  fault="delete_one", steady_seconds=3.0, timeout=60.0, interval=1.0)
    values.update(kwargs)
    return Spec(**values)


def test_delete_one_pod_and_watch_the_replacement_become_ready() -> None:
    clock = FakeClock()
    cluster = FakeCluster(clock)
    outcome = run(cluster, spec(), clock, clock.sleep)
    assert outcome.steady_before and outcome.whole_after and outcome.faulted == ["web-0"]
    ready = [s["ready"] for s in outcome.samples]
    assert ready[:4] == [4, 4, 4, 4] and 3 in ready and ready[-1] == 4
    assert outcome.start == pytest.approx(1_700_000_000.0 + 1003.0)
    assert outcome.end - outcome.start == pytest.approx(3.0)


def test_delete_half() -> None:
    clock = FakeClock()
    outcome = run(FakeCluster(clock), spec(fault="delete_half"), clock, clock.sleep)
    assert outcome.faulted == ["web-0", "web-1"] and min(s["ready"] for s in outcome.samples) == 2


def test_delete_the_labelled_member() -> None:
    clock = FakeClock()
    outcome = run(FakeCluster(clock), spec(fault="delete_labelled", label="writer=true"), clock, clock.sleep)
    assert outcome.faulted == ["web-2"]


def test_a_target_that_never_heals_ends_at_the_timeout() -> None:
    clock = FakeClock()
    outcome = run(FakeCluster(clock, heal=1e9), spec(timeout=20.0), clock, clock.sleep)
    assert not outcome.whole_after and outcome.end - outcome.start == pytest.approx(20.0)


def test_a_missing_target_is_skipped_with_the_reason() -> None:
    clock = FakeClock()
    outcome = run(FakeCluster(clock), spec(target_kind="StatefulSet", target="postgresql"), clock, clock.sleep)
    assert outcome.skipped == "StatefulSet apps/postgresql is not deployed" and not outcome.samples


def test_drain_respects_the_budget_and_uncordons() -> None:
    clock = FakeClock()
    cluster = FakeCluster(clock, heal=2.0, budget=1)
    outcome = run(cluster, spec(name="drain", kind="drain", fault="drain", node="node-0"), clock, clock.sleep)
    assert sorted(outcome.faulted) == ["apps/web-0", "apps/web-2"]
    assert cluster.unschedulable == {"node-0": False}
    # the budget held: never more than one pod down
    assert min(s["ready"] for s in outcome.samples) >= 3 and outcome.whole_after


def test_drain_gives_up_at_the_timeout_and_still_uncordons() -> None:
    clock = FakeClock()
    cluster = FakeCluster(clock, heal=1e9, budget=1)
    with pytest.raises(ExperimentError, match="still not evictable"):
        run(cluster, spec(name="drain", kind="drain", fault="drain", node="node-0", timeout=10.0), clock, clock.sleep)
    assert cluster.unschedulable == {"node-0": False}


def test_an_unknown_fault_is_refused() -> None:
    clock = FakeClock()
    with pytest.raises(ExperimentError, match="fault 'explode'"):
        run(FakeCluster(clock), spec(fault="explode"), clock, clock.sleep)


def test_victims_needs_a_pod_to_delete() -> None:
    with pytest.raises(ExperimentError, match="no pod to delete"):
        victims(spec(fault="delete_pod", pod="web-7"), [{"metadata": {"name": "web-0"}}])


@pytest.mark.parametrize("pod, ok", [
    ({"metadata": {"ownerReferences": [{"kind": "DaemonSet"}]}}, False),
    ({"metadata": {"annotations": {"kubernetes.io/config.mirror": "x"}}}, False),
    ({"metadata": {}, "status": {"phase": "Succeeded"}}, False),
    ({"metadata": {"ownerReferences": [{"kind": "ReplicaSet"}]}, "status": {"phase": "Running"}}, True),
])
def test_what_a_drain_evicts(pod: Dict[str, Any], ok: bool) -> None:
    assert evictable(pod) is ok


def test_scale_up_is_whole_once_the_desired_count_is_reached_and_ready() -> None:
    clock = FakeClock()
    cluster = FakeCluster(clock, replicas=2, heal=4.0)
    cluster.autoscale = [(1010.0, 4)]
    outcome = run(cluster, spec(name="scale_up", kind="scale", fault="none", desired_at_least=4, steady_seconds=2.0),
                  clock, clock.sleep)
    assert outcome.whole_after and outcome.faulted == []
    desired = [s["desired"] for s in outcome.samples]
    assert desired[0] == 2 and desired[-1] == 4 and outcome.samples[-1]["ready"] == 4
    assert outcome.end - outcome.start == pytest.approx(8.0 + 4.0)


def test_scale_down_waits_for_the_upper_bound() -> None:
    clock = FakeClock()
    cluster = FakeCluster(clock, replicas=5)
    cluster.autoscale = [(1020.0, 3)]
    outcome = run(cluster, spec(name="scale_down", kind="scale_down", fault="none", desired_at_most=3, steady_seconds=0.0),
                  clock, clock.sleep)
    assert outcome.whole_after and outcome.samples[-1]["desired"] == 3
    assert outcome.end - outcome.start == pytest.approx(20.0)


def test_a_recovery_faster_than_one_sample_ends_the_experiment_at_once() -> None:
    clock = FakeClock()
    outcome = run(FakeCluster(clock, heal=0.0), spec(), clock, clock.sleep)
    assert outcome.whole_after and outcome.end - outcome.start == pytest.approx(0.0)
    assert all(s["ready"] == 4 for s in outcome.samples)


class LaggingCluster(FakeCluster):
    """Like a real cluster: the Deployment's status.readyReplicas lags `lag` seconds behind the
    pods, and a deleted pod stays (terminating, still Ready) for `grace` seconds."""

    def __init__(self, clock: FakeClock, lag: float = 2.0, grace: float = 5.0, **kwargs: Any) -> None:
        super().__init__(clock, **kwargs)
        self.lag, self.grace = lag, grace
        self.terminating: Dict[str, float] = {}
        self.history: List[tuple] = [(clock.now, self.ready())]

    def __call__(self, method: str, path: str, query: Optional[Dict[str, str]] = None, body: Any = None,
                 content_type: Optional[str] = None) -> Any:
        self.terminating = {n: t for n, t in self.terminating.items() if t > self.clock.now}
        self.history.append((self.clock.now, self.ready()))
        answer = super().__call__(method, path, query, body, content_type)
        if path == "/apis/apps/v1/namespaces/apps/deployments/web":
            lagged = [r for t, r in self.history if t <= self.clock.now - self.lag] or [self.history[0][1]]
            answer["status"]["readyReplicas"] = lagged[-1]
        if path == "/api/v1/namespaces/apps/pods":
            answer["items"] += [{"metadata": {"name": n, "uid": "uid-" + n, "labels": {"app": "web"},
                                              "deletionTimestamp": "2026-12-01T00:00:00Z"},
                                 "status": {"conditions": [{"type": "Ready", "status": "True"}]}} for n in self.terminating]
        return answer

    def replace(self, name: str) -> None:
        self.terminating[name] = self.clock.now + self.grace
        super().replace(name)


def test_the_ready_count_comes_from_the_pods_not_the_lagging_status() -> None:
    """Found on real kubelets: right after a delete the Deployment still reports every replica
    Ready and the deleted pod is terminating, not gone; counting from the status ended the
    experiment at once with nothing observed."""
    clock = FakeClock()
    cluster = LaggingCluster(clock, lag=2.0, grace=5.0, heal=3.0)
    outcome = run(cluster, spec(), clock, clock.sleep)
    assert outcome.whole_after and outcome.faulted == ["web-0"]
    after = [s for s in outcome.samples if s["mono"] >= 1003.0]
    assert min(s["ready"] for s in after) == 3, after
    assert outcome.end - outcome.start == pytest.approx(3.0)


def test_an_explicit_scale_goes_through_the_scale_subresource_and_waits_for_the_new_pods() -> None:
    clock = FakeClock()
    cluster = FakeCluster(clock, replicas=2, heal=4.0)

    def call(method: str, path: str, query: Optional[Dict[str, str]] = None, body: Any = None,
             content_type: Optional[str] = None) -> Any:
        if path == "/apis/apps/v1/namespaces/apps/deployments/web/scale":
            assert method == "PATCH" and content_type == "application/merge-patch+json"
            cluster.autoscale.append((clock.now, body["spec"]["replicas"]))
            return {}
        return cluster(method, path, query, body, content_type)

    up = run(call, spec(name="up", kind="scale", fault="scale", replicas=5, desired_at_least=5), clock, clock.sleep)
    assert up.whole_after and up.faulted == ["replicas=5"] and up.samples[-1]["ready"] == 5
    assert up.end - up.start == pytest.approx(4.0)
    down = run(call, spec(name="down", kind="scale_down", fault="scale", replicas=2, desired_at_most=2, steady_seconds=0.0),
               clock, clock.sleep)
    assert down.whole_after and down.samples[-1] == {**down.samples[-1], "ready": 2, "desired": 2}
    with pytest.raises(ExperimentError, match="fault scale needs replicas >= 1"):
        run(call, spec(fault="scale"), clock, clock.sleep)


def test_a_drain_leaves_the_spared_pods_on_the_node() -> None:
    clock = FakeClock()
    cluster = FakeCluster(clock, heal=1.0, budget=2)
    listed = cluster.__call__

    def call(method: str, path: str, query: Optional[Dict[str, str]] = None, body: Any = None,
             content_type: Optional[str] = None) -> Any:
        answer = listed(method, path, query, body, content_type)
        if path == "/api/v1/pods":
            answer["items"].append({"metadata": {"name": "prober", "namespace": "ha-test",
                                                 "labels": {"app.kubernetes.io/part-of": "ha-test"}},
                                    "status": {"phase": "Running"}})
        return answer

    outcome = run(call, spec(name="drain", kind="drain", fault="drain", node="node-0",
                             spare="app.kubernetes.io/part-of=ha-test"), clock, clock.sleep)
    assert sorted(outcome.faulted) == ["apps/web-0", "apps/web-2"]
    assert "POST /api/v1/namespaces/ha-test/pods/prober/eviction" not in cluster.calls


class NodeLossCluster(FakeCluster):
    """node-0 taken away at stop(): NotReady `grace` s later (its pods unready with it), its pods
    replaced elsewhere `toleration` s after that (Ready `heal` later); Ready again `boot` s after start()."""

    def __init__(self, clock: FakeClock, grace: float = 40.0, toleration: float = 20.0, boot: float = 15.0, **kwargs: Any) -> None:
        super().__init__(clock, **kwargs)
        self.grace, self.toleration, self.boot = grace, toleration, boot
        self.stopped_at: Optional[float] = None
        self.started_at: Optional[float] = None
        self.evicted = False
        self.events: List[str] = []

    def stop(self) -> None:
        self.events.append("stop")
        self.stopped_at = self.clock.now

    def start(self) -> None:
        self.events.append("start")
        self.started_at = self.clock.now

    def node_down(self) -> bool:
        if self.stopped_at is None:
            return False
        if self.started_at is not None and self.clock.now >= self.started_at + self.boot:
            return False
        return self.clock.now >= self.stopped_at + self.grace

    def __call__(self, method: str, path: str, query: Optional[Dict[str, str]] = None, body: Any = None,
                 content_type: Optional[str] = None) -> Any:
        if self.node_down() and not self.evicted and self.clock.now >= self.stopped_at + self.grace + self.toleration:
            for name in [n for n, p in self.pods.items() if p["node"] == "node-0"]:
                self.replace(name)
            self.evicted = True
        if method == "GET" and path.startswith("/api/v1/nodes/"):
            return {"status": {"conditions": [{"type": "Ready", "status": "False" if self.node_down() else "True"}]}}
        answer = super().__call__(method, path, query, body, content_type)
        if path == "/api/v1/namespaces/apps/pods":
            for item in answer["items"]:
                node = self.pods[item["metadata"]["name"]]["node"]
                item["spec"] = {"nodeName": node}
                if node == "node-0" and self.node_down():
                    item["status"]["conditions"][0]["status"] = "False"
        return answer


def test_a_node_loss_marks_not_ready_rescheduled_and_ready_again_and_gives_the_node_back() -> None:
    clock = FakeClock()
    cluster = NodeLossCluster(clock, grace=40.0, toleration=20.0, boot=15.0, heal=3.0)
    outcome = run(cluster, spec(name="vm_stop", kind="vm_stop", fault="node_loss", node="node-0", timeout=300.0),
                  clock, clock.sleep, node_control=cluster)
    assert cluster.events == ["stop", "start"] and outcome.faulted == ["node/node-0"]
    assert outcome.marks["node_not_ready"] == pytest.approx(40.0)
    # the two pods of node-0 are replaced 60 s after the stop and Ready 3 s later
    assert outcome.marks["rescheduled"] == pytest.approx(63.0)
    assert outcome.marks["node_ready_again"] == pytest.approx(63.0 + 15.0)
    assert outcome.whole_after and min(s["ready"] for s in outcome.samples) == 2


def test_a_node_that_never_comes_back_is_still_started_and_the_marks_say_what_was_seen() -> None:
    clock = FakeClock()
    cluster = NodeLossCluster(clock, grace=1e9)
    outcome = run(cluster, spec(name="vm_stop", kind="vm_stop", fault="node_loss", node="node-0", timeout=30.0),
                  clock, clock.sleep, node_control=cluster)
    assert cluster.events == ["stop", "start"] and outcome.marks == {"node_ready_again": pytest.approx(30.0)}


def test_a_node_loss_needs_a_node_and_a_control() -> None:
    clock = FakeClock()
    with pytest.raises(ExperimentError, match="a node_loss needs a node"):
        run(FakeCluster(clock), spec(fault="node_loss"), clock, clock.sleep)
    with pytest.raises(ExperimentError, match="needs a node control"):
        run(FakeCluster(clock), spec(fault="node_loss", node="node-0"), clock, clock.sleep)


def test_a_drain_held_by_the_budget_is_sampled_while_it_waits() -> None:
    """The replicas are sampled during the drain too: a recovery that ends with the drain is
    still seen (before, sampling began only once every pod was evicted)."""
    clock = FakeClock()
    cluster = FakeCluster(clock, heal=2.0, budget=1)
    outcome = run(cluster, spec(name="drain", kind="drain", fault="drain", node="node-0", steady_seconds=1.0),
                  clock, clock.sleep)
    during = [s for s in outcome.samples if 1001.0 < s["mono"] < 1003.0]
    assert during and min(s["ready"] for s in during) == 3, outcome.samples
