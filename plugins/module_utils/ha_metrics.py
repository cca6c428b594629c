# -*- coding: utf-8 -*-
# Copyright: orchestrate.platform developers
# Apache License 2.0 (see LICENSE)
"""The HA test's report maths: figures of one experiment from the prober's events, the
replica counts observed by the controller, and the hypotheses they are checked against.

Clocks. Each source (the prober pod, the writer container, the controller) records events with
its own monotonic clock and its wall clock. A source's events are placed on the shared timeline
(seconds since the epoch) at `mono + offset`, the offset (wall - mono) taken from the source's
first event: durations never depend on the wall clock, so a wall-clock step in the middle of a
run moves no window; it is only reported (clock_steps). Standard library only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Protocol, Sequence, Set, Tuple

from ansible_collections.orchestrate.platform.plugins.module_utils.ha_probe import Probe, ReadBack, Write

# Experiment kinds and the hypothesis each one is held to (see check()).
KINDS = ("pod_loss", "drain", "scale", "scale_down", "full_outage", "vm_stop")


class Stamped(Protocol):
    mono: float
    wall: float


@dataclass(frozen=True)
class Sample:
    """Replicas of the experiment's target as the controller saw them at one moment."""

    mono: float
    wall: float
    ready: int
    desired: int


@dataclass(frozen=True)
class Experiment:
    """One experiment on the timeline: the fault was injected at `start`, observation ended at `end`."""

    name: str
    kind: str
    target: str
    start: float
    end: float
    # Named moments of the experiment, seconds after `start` (a node loss: node_not_ready,
    # rescheduled, node_ready_again).
    marks: Dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Thresholds:
    pod_loss_max_error_seconds: float = 5.0
    max_lost_writes: int = 0
    drain_max_failed_requests: int = 0
    full_outage_max_recovery_seconds: float = 180.0
    scale_max_react_seconds: float = 120.0
    # A lost node's pods keep receiving requests until the node is NotReady (the node monitor
    # grace period, 50 s by default) and the endpoints are updated.
    vm_stop_max_error_seconds: float = 90.0


@dataclass
class Figures:
    """What one experiment measured. Times in seconds; None where nothing was observed."""

    requests: int = 0
    failed: int = 0
    error_rate: float = 0.0
    longest_error_window: float = 0.0
    error_windows: List[Tuple[float, float]] = field(default_factory=list)
    p50: Optional[float] = None
    p95: Optional[float] = None
    p99: Optional[float] = None
    time_to_detect: Optional[float] = None
    time_to_ready: Optional[float] = None
    writes: int = 0
    writes_failed: int = 0


# -- clocks -----------------------------------------------------------------------------


def offset(events: Sequence[Stamped]) -> float:
    """wall - mono of a source's first event (0 for no events)."""
    return events[0].wall - events[0].mono if events else 0.0


def placed(events: Sequence[Stamped]) -> List[float]:
    """Timeline times of one source's events."""
    shift = offset(events)
    return [e.mono + shift for e in events]


def clock_steps(events: Sequence[Stamped], tolerance: float = 1.0) -> List[float]:
    """Steps of the wall clock against the monotonic one (seconds, signed) larger than `tolerance`."""
    steps = []
    for before, after in zip(events, events[1:]):
        step = (after.wall - after.mono) - (before.wall - before.mono)
        if abs(step) > tolerance:
            steps.append(step)
    return steps


# -- figures ----------------------------------------------------------------------------


def percentile(values: Iterable[float], p: float) -> Optional[float]:
    """Nearest-rank percentile (None for no values)."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(p / 100.0 * len(ordered)))
    return ordered[rank - 1]


def error_windows(points: Sequence[Tuple[float, Probe]]) -> List[Tuple[float, float]]:
    """Runs of failed probes of one target as (first failure's start, next success's start); a run
    still failing at the end closes when its last request ended."""
    windows = []
    opened: Optional[float] = None
    last_end = 0.0
    for t, p in sorted(points, key=lambda x: x[0]):
        if not p.ok and opened is None:
            opened = t
        elif p.ok and opened is not None:
            windows.append((opened, t))
            opened = None
        last_end = t + p.latency
    if opened is not None:
        windows.append((opened, last_end))
    return windows


def within(times: Sequence[float], events: Sequence[Stamped], start: float, end: float) -> List[Tuple[float, Stamped]]:
    return [(t, e) for t, e in zip(times, events) if start <= t <= end]


def replica_times(samples: Sequence[Sample], start: float, end: float) -> Tuple[Optional[float], Optional[float]]:
    """(time to detect, time to Ready) after `start`: detection is the first sample where fewer
    replicas are ready than desired or the desired count moved (a controller or the HPA reacted);
    Ready is the first later sample with every desired replica ready."""
    times = placed(samples)
    points = [(t, s) for t, s in within(times, samples, start, end)]
    if not points:
        return None, None
    # "moved" is against the last sample before the fault (an explicit scale has already moved
    # the desired count by the first sample after it)
    before = [s for t, s in zip(times, samples) if t < start]
    initial = (before[-1] if before else points[0][1]).desired
    detected = next(((t, i) for i, (t, s) in enumerate(points) if s.ready < s.desired or s.desired != initial), None)
    if detected is None:
        return None, None
    ready = next((t for t, s in points[detected[1]:] if s.ready >= s.desired), None)
    return detected[0] - start, (ready - start) if ready is not None else None


def figures(experiment: Experiment, probes: Sequence[Probe], writes: Sequence[Write], samples: Sequence[Sample]) -> Figures:
    """The figures of one experiment; probes and writes are one source each (one clock)."""
    seen = within(placed(probes), probes, experiment.start, experiment.end)
    by_target: Dict[str, List[Tuple[float, Probe]]] = {}
    for t, p in seen:
        by_target.setdefault(p.target, []).append((t, p))  # type: ignore[attr-defined]
    windows = sorted(w for points in by_target.values() for w in error_windows(points))
    failed = sum(1 for _, p in seen if not p.ok)  # type: ignore[attr-defined]
    latencies = [p.latency for _, p in seen if p.ok]  # type: ignore[attr-defined]
    done = within(placed(writes), writes, experiment.start, experiment.end)
    detect, ready = replica_times(samples, experiment.start, experiment.end)
    return Figures(
        requests=len(seen), failed=failed, error_rate=failed / len(seen) if seen else 0.0,
        longest_error_window=max((b - a for a, b in windows), default=0.0), error_windows=windows,
        p50=percentile(latencies, 50), p95=percentile(latencies, 95), p99=percentile(latencies, 99),
        time_to_detect=detect, time_to_ready=ready,
        writes=len(done), writes_failed=sum(1 for _, w in done if not w.ok),  # type: ignore[attr-defined]
    )


@dataclass(frozen=True)
class Integrity:
    acknowledged: int
    read_back: int
    lost: List[int]
    unacknowledged_present: List[int]

    @property
    def ok(self) -> bool:
        return not self.lost


def integrity(writes: Sequence[Write], readbacks: Sequence[ReadBack]) -> Integrity:
    """Every acknowledged write must be read back; a write that failed on the client but is found
    (the acknowledgement was lost, not the row) is reported, not counted as lost. Without a
    read-back every acknowledged write counts as lost: nothing proves it is there."""
    acked: Set[int] = {w.seq for w in writes if w.ok}
    found: Set[int] = {s for r in readbacks for s in r.seqs}
    return Integrity(acknowledged=len(acked), read_back=len(found), lost=sorted(acked - found),
                     unacknowledged_present=sorted({w.seq for w in writes if not w.ok} & found))


def violations(experiment: Experiment, result: Figures, thresholds: Thresholds) -> List[str]:
    """The hypotheses of the experiment's kind that the figures break ([] when all hold)."""
    problems = []
    if experiment.kind not in KINDS:
        raise ValueError("experiment %s: kind %r is not one of %s" % (experiment.name, experiment.kind, ", ".join(KINDS)))
    allowed = thresholds.vm_stop_max_error_seconds if experiment.kind == "vm_stop" else thresholds.pod_loss_max_error_seconds
    if experiment.kind in ("pod_loss", "vm_stop") and result.longest_error_window > allowed:
        problems.append("%s: %.1f s of failed requests in a row, more than %.1f s"
                        % (experiment.name, result.longest_error_window, allowed))
    if experiment.kind == "drain" and result.failed > thresholds.drain_max_failed_requests:
        problems.append("%s: %d failed requests during the drain, more than %d"
                        % (experiment.name, result.failed, thresholds.drain_max_failed_requests))
    if experiment.kind == "full_outage" and (result.time_to_ready is None
                                             or result.time_to_ready > thresholds.full_outage_max_recovery_seconds):
        problems.append("%s: recovery took %s, more than %.0f s" % (
            experiment.name, "longer than the experiment" if result.time_to_ready is None else "%.1f s" % result.time_to_ready,
            thresholds.full_outage_max_recovery_seconds))
    if experiment.kind == "scale" and (result.time_to_detect is None
                                       or result.time_to_detect > thresholds.scale_max_react_seconds):
        problems.append("%s: the replica count did not move within %.0f s" % (experiment.name, thresholds.scale_max_react_seconds))
    if experiment.kind in ("pod_loss", "scale", "scale_down", "vm_stop") and result.time_to_ready is None:
        problems.append("%s: the target never had every desired replica Ready again" % experiment.name)
    return problems


def integrity_violations(check: Integrity, thresholds: Thresholds) -> List[str]:
    if len(check.lost) > thresholds.max_lost_writes:
        return ["%d acknowledged writes were not read back (allowed %d): %s"
                % (len(check.lost), thresholds.max_lost_writes, check.lost[:20])]
    return []
