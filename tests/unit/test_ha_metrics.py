"""The HA test's bookkeeping and report maths on synthetic event streams."""

from __future__ import annotations

from typing import List, Optional, Sequence

import pytest

from ansible_collections.orchestrate.platform.plugins.module_utils.ha_metrics import (
    Experiment,
    Sample,
    Thresholds,
    clock_steps,
    error_windows,
    figures,
    integrity,
    integrity_violations,
    percentile,
    placed,
    violations,
)
from ansible_collections.orchestrate.platform.plugins.module_utils.ha_probe import (
    Log,
    Probe,
    ProbeError,
    ReadBack,
    Write,
    from_line,
    parse_lines,
    to_line,
)

WALL0 = 1_800_000_000.0  # the wall clock at mono 0 of the synthetic sources
MONO0 = 5_000.0


def probes(outcomes: str, interval: float = 0.5, latency: float = 0.01, step_at: Optional[int] = None,
           step: float = 0.0, target: str = "web") -> List[Probe]:
    """One probe per character ('.' ok, 'x' failed), `interval` apart; the wall clock jumps by
    `step` seconds from probe number `step_at` on (the monotonic clock does not)."""
    found = []
    for i, outcome in enumerate(outcomes):
        mono = MONO0 + i * interval
        wall = WALL0 + i * interval + (step if step_at is not None and i >= step_at else 0.0)
        found.append(Probe(target=target, seq=i, mono=mono, wall=wall, latency=latency, ok=outcome == ".",
                           status=200 if outcome == "." else None, error="" if outcome == "." else "refused"))
    return found


def samples(counts: Sequence[tuple], interval: float = 1.0) -> List[Sample]:
    return [Sample(mono=100.0 + i * interval, wall=WALL0 + i * interval, ready=r, desired=d) for i, (r, d) in enumerate(counts)]


def experiment(start: float = 0.0, end: float = 1e6, kind: str = "pod_loss") -> Experiment:
    return Experiment(name="x", kind=kind, target="web", start=WALL0 + start, end=WALL0 + end)


def test_no_failures() -> None:
    found = figures(experiment(), probes("." * 20), [], samples([(3, 3)] * 5))
    assert (found.requests, found.failed, found.error_rate, found.longest_error_window) == (20, 0, 0.0, 0.0)
    assert found.error_windows == [] and found.time_to_detect is None and found.time_to_ready is None
    assert found.p50 == found.p99 == pytest.approx(0.01)


def test_failures_in_the_middle_are_one_window_until_the_next_success() -> None:
    found = figures(experiment(), probes("...xxxx..."), [], [])
    assert found.failed == 4 and found.error_rate == pytest.approx(0.4)
    assert found.error_windows == [(pytest.approx(WALL0 + 1.5), pytest.approx(WALL0 + 3.5))]
    assert found.longest_error_window == pytest.approx(2.0)


def test_failures_at_the_start() -> None:
    found = figures(experiment(), probes("xxx......."), [], [])
    assert found.error_windows == [(pytest.approx(WALL0), pytest.approx(WALL0 + 1.5))]


def test_failures_at_the_end_close_with_the_last_request() -> None:
    found = figures(experiment(), probes(".......xxx", latency=0.2), [], [])
    assert found.longest_error_window == pytest.approx(1.0 + 0.2)


def test_longest_of_several_windows_and_per_target() -> None:
    both = probes("..x....xxx..", target="a") + probes("xxxxx.......", target="b")
    found = figures(experiment(), both, [], [])
    assert len(found.error_windows) == 3
    assert found.longest_error_window == pytest.approx(2.5)


def test_overlapping_experiments_each_count_their_own_window() -> None:
    stream = probes("....xxxx....xx......")  # failures at 2.0-3.5 and 6.0-6.5
    first = figures(experiment(0.0, 4.0), stream, [], [])
    second = figures(experiment(3.0, 10.0), stream, [], [])
    assert first.requests == 9 and first.failed == 4
    assert second.requests == 14 and second.failed == 4
    assert first.longest_error_window == pytest.approx(2.0)
    # the second starts inside the first's outage: its window starts at its own first probe
    assert second.error_windows[0] == (pytest.approx(WALL0 + 3.0), pytest.approx(WALL0 + 4.0))


def test_a_wall_clock_step_moves_no_window() -> None:
    steady = figures(experiment(), probes("....xxxx....", step_at=None), [], [])
    stepped_stream = probes("....xxxx....", step_at=5, step=-3600.0)
    stepped = figures(experiment(), stepped_stream, [], [])
    assert stepped.error_windows == steady.error_windows
    assert stepped.longest_error_window == pytest.approx(2.0)
    assert clock_steps(stepped_stream) == [pytest.approx(-3600.0)]
    assert clock_steps(probes("." * 10)) == []
    assert placed(stepped_stream)[-1] - placed(stepped_stream)[0] == pytest.approx(5.5)


def test_percentiles_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 99)) == (50.0, 95.0, 99.0)
    assert percentile([3.0], 99) == 3.0 and percentile([], 50) is None
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0


def test_latency_percentiles_leave_out_failed_requests() -> None:
    stream = probes("." * 10, latency=0.1) + [Probe("web", 99, MONO0 + 20, WALL0 + 20, 2.0, False, None, "timeout")]
    found = figures(experiment(), stream, [], [])
    assert found.p99 == pytest.approx(0.1) and found.failed == 1


def test_time_to_detect_and_to_ready() -> None:
    # fault at sample 1; the loss is seen at 2, the replacement Ready at 5
    found = figures(experiment(1.0), [], [], samples([(3, 3), (3, 3), (2, 3), (2, 3), (2, 3), (3, 3), (3, 3)]))
    assert found.time_to_detect == pytest.approx(1.0) and found.time_to_ready == pytest.approx(4.0)


def test_never_ready_again_is_none_and_a_violation() -> None:
    found = figures(experiment(), [], [], samples([(3, 3), (2, 3), (2, 3)]))
    assert found.time_to_detect == pytest.approx(1.0) and found.time_to_ready is None
    assert any("never had every desired replica" in v for v in violations(experiment(), found, Thresholds()))


def test_scale_up_detects_the_desired_count_moving() -> None:
    found = figures(experiment(kind="scale"), [], [], samples([(2, 2), (2, 2), (2, 4), (3, 4), (4, 4)]))
    assert found.time_to_detect == pytest.approx(2.0) and found.time_to_ready == pytest.approx(4.0)
    assert not violations(experiment(kind="scale"), found, Thresholds())
    assert violations(experiment(kind="scale"), found, Thresholds(scale_max_react_seconds=1.0))


def test_pod_loss_hypothesis_on_the_error_window() -> None:
    ready = samples([(3, 3), (2, 3), (3, 3)])
    short = figures(experiment(), probes("..xxxx...."), [], ready)  # 2 s
    long = figures(experiment(), probes("..xxxxxxxxxxxxxx...."), [], ready)  # 7 s
    assert not violations(experiment(), short, Thresholds())
    assert violations(experiment(), long, Thresholds()) == ["x: 7.0 s of failed requests in a row, more than 5.0 s"]


def test_drain_allows_no_failed_request_by_default() -> None:
    found = figures(experiment(kind="drain"), probes("....x...."), [], [])
    assert violations(experiment(kind="drain"), found, Thresholds()) == ["x: 1 failed requests during the drain, more than 0"]
    assert not violations(experiment(kind="drain"), found, Thresholds(drain_max_failed_requests=1))


def test_full_outage_recovery_bound() -> None:
    slow = figures(experiment(kind="full_outage"), [], [], samples([(0, 3), (3, 3)], interval=200.0))
    assert violations(experiment(kind="full_outage"), slow, Thresholds()) == ["x: recovery took 200.0 s, more than 180 s"]
    assert not violations(experiment(kind="full_outage"), slow, Thresholds(full_outage_max_recovery_seconds=300))


def test_unknown_kind_is_an_error() -> None:
    with pytest.raises(ValueError, match="kind 'other'"):
        violations(experiment(kind="other"), figures(experiment(), [], [], []), Thresholds())


def writes(acked: str) -> List[Write]:
    return [Write("db", i, MONO0 + i, WALL0 + i, 0.01, c == "a", "" if c == "a" else "gone") for i, c in enumerate(acked)]


def test_integrity_every_acknowledged_write_read_back() -> None:
    done = writes("aaaafaa")
    check = integrity(done, [ReadBack("db", [0, 1, 2, 3, 5, 6], MONO0 + 10, WALL0 + 10)])
    assert check.ok and check.acknowledged == 6 and check.lost == [] and check.unacknowledged_present == []
    assert not integrity_violations(check, Thresholds())


def test_integrity_lost_and_ambiguous_writes() -> None:
    check = integrity(writes("aaaaf"), [ReadBack("db", [0, 2, 3, 4], 0.0, 0.0)])
    assert not check.ok and check.lost == [1] and check.unacknowledged_present == [4]
    assert integrity_violations(check, Thresholds()) == ["1 acknowledged writes were not read back (allowed 0): [1]"]


def test_integrity_without_a_read_back_loses_everything_acknowledged() -> None:
    assert integrity(writes("aaf"), []).lost == [0, 1]


def test_write_counts_per_experiment() -> None:
    found = figures(experiment(2.0, 5.0), [], writes("aaafaaaa"), [])
    assert (found.writes, found.writes_failed) == (4, 1)


def test_events_round_trip_through_json_lines() -> None:
    log = Log()
    for event in probes(".x") + writes("af") + [ReadBack("db", [0], 1.0, 2.0)]:
        log.add(event)
    lines = [to_line(e) for e in log.events] + ["starting the prober", ""]
    again = Log(parse_lines(lines))
    assert again.events == log.events
    assert len(again.probes()) == 2 and len(again.writes("db")) == 2 and again.readbacks()[0].seqs == [0]


@pytest.mark.parametrize("line", ['{"kind": "other"}', '{"kind": "probe", "seq": 1}', "{not json"])
def test_malformed_events_are_named(line: str) -> None:
    with pytest.raises(ProbeError, match="not a prober event"):
        from_line(line)


def test_error_windows_of_nothing() -> None:
    assert error_windows([]) == []


def test_a_vm_stop_has_its_own_error_window_threshold() -> None:
    ready = samples([(3, 3), (2, 3), (3, 3)])
    long = figures(experiment(kind="vm_stop"), probes("..xxxxxxxxxxxxxx...."), [], ready)  # 7 s
    assert not violations(experiment(kind="vm_stop"), long, Thresholds())
    assert violations(experiment(kind="vm_stop"), long, Thresholds(vm_stop_max_error_seconds=6.0)) == [
        "x: 7.0 s of failed requests in a row, more than 6.0 s"]


def test_an_explicit_scale_down_is_detected_against_the_sample_before_the_fault() -> None:
    # fault at 1.5 s: the desired count is already 2 at the first sample after it
    found = figures(experiment(1.5, kind="scale_down"), [], [], samples([(4, 4), (4, 4), (4, 2), (2, 2)]))
    assert found.time_to_detect == pytest.approx(0.5) and found.time_to_ready == pytest.approx(0.5)
