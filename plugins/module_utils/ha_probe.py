# -*- coding: utf-8 -*-
# Copyright: orchestrate.platform developers
# Apache License 2.0 (see LICENSE)
"""The HA test's prober: bounded HTTP probes and numbered writes, each recorded with its times.

Standard library only: the same file is the prober of the in-cluster Job (mounted from a
ConfigMap into a plain Python image) and is imported by the report code and the unit tests.

Every event carries two clocks: `mono`, the process's monotonic clock (never steps; all
durations and windows are computed from it) and `wall`, the wall clock (only used to place a
stream on the shared timeline; see ha_metrics.timeline). An event is one JSON object per line.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Protocol, TextIO
from urllib.parse import urlsplit


@dataclass(frozen=True)
class _Timed:
    """What every numbered request of a target records: when it started (both clocks), how long
    it took, and whether it succeeded."""

    target: str
    seq: int
    mono: float
    wall: float
    latency: float
    ok: bool


@dataclass(frozen=True)
class Probe(_Timed):
    """One HTTP request: when it started (both clocks), how long it took and how it ended."""

    status: Optional[int] = None
    error: str = ""
    kind: str = "probe"


@dataclass(frozen=True)
class Write(_Timed):
    """One numbered write: acknowledged (`ok`) or not, with the error when it was not."""

    error: str = ""
    kind: str = "write"


@dataclass(frozen=True)
class ReadBack:
    """The sequence numbers of the writes found in the database after the run."""

    target: str
    seqs: List[int]
    mono: float
    wall: float
    kind: str = "readback"


Event = Probe | Write | ReadBack
KINDS = {"probe": Probe, "write": Write, "readback": ReadBack}


class Clock(Protocol):
    def mono(self) -> float: ...

    def wall(self) -> float: ...


class SystemClock:
    """time.monotonic for durations, time.time only as a label."""

    def mono(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()


class ProbeError(ValueError):
    """A malformed event line or prober setting."""


def to_line(event: Event) -> str:
    return json.dumps(asdict(event), sort_keys=True)


def from_line(line: str) -> Event:
    """An event from its JSON line; ProbeError names what is wrong."""
    try:
        data = json.loads(line)
        return KINDS[data.pop("kind")](**data)
    except (ValueError, KeyError, TypeError) as exc:
        raise ProbeError("not a prober event: %r (%s)" % (line[:200], exc)) from exc


def parse_lines(lines: Iterable[str]) -> List[Event]:
    """The events of a log; lines that are not JSON objects (a container's other output) are skipped."""
    return [from_line(line) for line in (raw.strip() for raw in lines) if line.startswith("{")]


@dataclass
class Log:
    """The prober's bookkeeping: probes and writes in the order they were made."""

    events: List[Event] = field(default_factory=list)

    def add(self, event: Event) -> Event:
        self.events.append(event)
        return event

    def probes(self, target: Optional[str] = None) -> List[Probe]:
        return [e for e in self.events if isinstance(e, Probe) and target in (None, e.target)]

    def writes(self, target: Optional[str] = None) -> List[Write]:
        return [e for e in self.events if isinstance(e, Write) and target in (None, e.target)]

    def readbacks(self, target: Optional[str] = None) -> List[ReadBack]:
        return [e for e in self.events if isinstance(e, ReadBack) and target in (None, e.target)]


# -- HTTP ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where to send requests. `address` (host:port) overrides where the URL's host is reached
    (the gateway Service), while the URL's host stays the Host header and the TLS server name."""

    name: str
    url: str
    address: str = ""
    verify_tls: bool = True
    ok_statuses: tuple = (200, 201, 202, 203, 204, 301, 302, 303, 304, 307, 308)


def _connection(target: Target, timeout: float) -> http.client.HTTPConnection:
    parts = urlsplit(target.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProbeError("target %s: %r is not an http(s) URL" % (target.name, target.url))
    default_port = 443 if parts.scheme == "https" else 80
    host, _, port = (target.address or "%s:%d" % (parts.hostname, parts.port or default_port)).rpartition(":")
    if parts.scheme == "http":
        return http.client.HTTPConnection(host, int(port), timeout=timeout)
    context = ssl.create_default_context()
    if not target.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    connection = http.client.HTTPSConnection(host, int(port), timeout=timeout, context=context)
    server_name = parts.hostname

    def connect() -> None:  # the TLS server name is the URL's host, not the address reached
        sock = socket.create_connection((host, int(port)), timeout)
        connection.sock = context.wrap_socket(sock, server_hostname=server_name)

    connection.connect = connect  # type: ignore[method-assign]
    return connection


def probe(target: Target, seq: int, timeout: float, clock: Clock) -> Probe:
    """One bounded GET of the target; any exception is a failed probe, never a crash."""
    parts = urlsplit(target.url)
    start, wall = clock.mono(), clock.wall()
    status: Optional[int] = None
    error = ""
    try:
        connection = _connection(target, timeout)
        try:
            path = (parts.path or "/") + ("?" + parts.query if parts.query else "")
            connection.request("GET", path, headers={"Host": parts.netloc, "User-Agent": "orchestrate-ha-prober",
                                                     "Connection": "close"})
            response = connection.getresponse()
            response.read(1 << 20)
            status = response.status
        finally:
            connection.close()
    except ProbeError:
        raise
    except Exception as exc:  # noqa: BLE001 - every failure of a request is a measured outcome
        error = "%s: %s" % (type(exc).__name__, exc)
    latency = clock.mono() - start
    ok = status in target.ok_statuses
    if status is not None and not ok:
        error = "HTTP %d" % status
    return Probe(target=target.name, seq=seq, mono=start, wall=wall, latency=latency, ok=ok, status=status, error=error)


def run(targets: List[Target], count: int, interval: float, timeout: float, max_seconds: float,
        clock: Clock, sleep: Callable[[float], None], emit: Callable[[Event], None],
        stop: Callable[[], bool] = lambda: False) -> Log:
    """Probe every target `count` times, one round every `interval` seconds, for at most
    `max_seconds`, or until `stop()` says so: both bounds hold whatever the targets do (a round
    takes at most len(targets) * timeout)."""
    if count < 1 or interval <= 0 or timeout <= 0 or max_seconds <= 0:
        raise ProbeError("count, interval, timeout and max_seconds must be positive")
    log = Log()
    began = clock.mono()
    for seq in range(count):
        due = began + seq * interval
        if due - began > max_seconds or stop():
            break
        delay = due - clock.mono()
        if delay > 0:
            sleep(delay)
        for target in targets:
            emit(log.add(probe(target, seq, timeout, clock)))
    return log


# -- the in-cluster Job's entry point --------------------------------------------------


def targets_from_json(text: str) -> List[Target]:
    try:
        items = json.loads(text)
        return [Target(name=i["name"], url=i["url"], address=i.get("address", ""),
                       verify_tls=bool(i.get("verify_tls", True))) for i in items]
    except (ValueError, KeyError, TypeError) as exc:
        raise ProbeError("PROBE_TARGETS must be a JSON list of {name, url[, address, verify_tls]}: %s" % exc) from exc


def summary(log: Log) -> Dict[str, int]:
    probes = log.probes()
    return {"requests": len(probes), "failed": sum(1 for p in probes if not p.ok)}


def main(environ: Dict[str, str], out: TextIO) -> int:
    """The Job's prober (PROBE_EMIT=events: one line per request) or load generator
    (PROBE_EMIT=summary: one line at the end). PROBE_STOP_FILE ends the loop early."""
    targets = targets_from_json(environ["PROBE_TARGETS"])
    every = environ.get("PROBE_EMIT", "events") == "events"
    stop_file = environ.get("PROBE_STOP_FILE", "")
    log = run(targets, count=int(environ.get("PROBE_COUNT", "600")), interval=float(environ.get("PROBE_INTERVAL", "0.5")),
              timeout=float(environ.get("PROBE_TIMEOUT", "2")), max_seconds=float(environ.get("PROBE_MAX_SECONDS", "600")),
              clock=SystemClock(), sleep=time.sleep,
              emit=lambda e: print(to_line(e), file=out, flush=True) if every else None,
              stop=lambda: bool(stop_file) and os.path.exists(stop_file))
    if not every:
        print(json.dumps(summary(log), sort_keys=True), file=out, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(dict(os.environ), sys.stdout))
