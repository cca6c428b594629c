"""The prober against real HTTP servers on loopback that the test stops, breaks and starts again:
the measured error window matches the induced outage within one probe interval plus 0.25 s of
scheduling slack (two cores shared with other jobs)."""

from __future__ import annotations

import http.server
import io
import json
import threading
import time
from pathlib import Path
from typing import Iterator, List, Optional

import pytest

from ansible_collections.orchestrate.platform.plugins.module_utils.ha_metrics import Experiment, figures
from ansible_collections.orchestrate.platform.plugins.module_utils.ha_probe import (
    Event,
    Probe,
    ProbeError,
    SystemClock,
    Target,
    main,
    parse_lines,
    probe,
    run,
)

INTERVAL = 0.05
SLACK = 0.25


class Handler(http.server.BaseHTTPRequestHandler):
    status = 200
    delay = 0.0

    def do_GET(self) -> None:  # noqa: N802 - the http.server interface
        time.sleep(type(self).delay)
        body = b"ok\n"
        try:
            self.send_response(type(self).status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except BrokenPipeError:  # the prober gave up (its timeout) before the answer
            pass

    def log_message(self, *args: object) -> None:
        pass


class Server:
    """A ThreadingHTTPServer on 127.0.0.1 that can be stopped and started on the same port."""

    def __init__(self) -> None:
        self.port = 0
        self.httpd: Optional[http.server.ThreadingHTTPServer] = None
        self.thread: Optional[threading.Thread] = None

    def start(self) -> None:
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        assert self.httpd is not None and self.thread is not None
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def server() -> Iterator[Server]:
    Handler.status, Handler.delay = 200, 0.0
    found = Server()
    found.start()
    yield found
    if found.httpd is not None:
        found.httpd.shutdown()
        found.httpd.server_close()


def probe_in_background(target: Target, seconds: float, timeout: float = 0.5) -> tuple:
    events: List[Event] = []
    thread = threading.Thread(target=run, kwargs=dict(
        targets=[target], count=int(seconds / INTERVAL), interval=INTERVAL, timeout=timeout, max_seconds=seconds,
        clock=SystemClock(), sleep=time.sleep, emit=events.append), daemon=True)
    thread.start()
    return thread, events


def whole_run() -> Experiment:
    return Experiment(name="loopback", kind="pod_loss", target="web", start=0.0, end=float("inf"))


def test_refused_connections_measure_the_outage(server: Server) -> None:
    target = Target(name="web", url="http://127.0.0.1:%d/" % server.port)
    thread, events = probe_in_background(target, seconds=3.0)
    time.sleep(0.5)
    down = time.monotonic()
    server.stop()
    time.sleep(1.0)
    server.start()
    outage = time.monotonic() - down
    thread.join(10)
    assert not thread.is_alive(), "the prober outlived its bound"
    found = figures(whole_run(), [e for e in events if isinstance(e, Probe)], [], [])
    assert len(found.error_windows) == 1, found.error_windows
    assert found.longest_error_window == pytest.approx(outage, abs=INTERVAL + SLACK)
    failed = [e for e in events if isinstance(e, Probe) and not e.ok]
    # a request accepted while the server shuts down is reset rather than refused
    assert all(e.status is None for e in failed) and any("ConnectionRefused" in e.error for e in failed)


def test_server_errors_measure_the_outage(server: Server) -> None:
    target = Target(name="web", url="http://127.0.0.1:%d/health?x=1" % server.port)
    thread, events = probe_in_background(target, seconds=2.5)
    time.sleep(0.5)
    Handler.status = 503
    broken = time.monotonic()
    time.sleep(0.8)
    Handler.status = 200
    outage = time.monotonic() - broken
    thread.join(10)
    found = figures(whole_run(), [e for e in events if isinstance(e, Probe)], [], [])
    assert found.longest_error_window == pytest.approx(outage, abs=INTERVAL + SLACK)
    failed = [e for e in events if isinstance(e, Probe) and not e.ok]
    assert failed and {e.status for e in failed} == {503} and failed[0].error == "HTTP 503"


def test_a_hanging_server_costs_at_most_the_timeout(server: Server) -> None:
    Handler.delay = 1.0
    target = Target(name="web", url="http://127.0.0.1:%d/" % server.port)
    began = time.monotonic()
    result = probe(target, 0, timeout=0.2, clock=SystemClock())
    assert not result.ok and "timed out" in result.error
    assert result.latency < 0.5 and time.monotonic() - began < 0.5


def test_the_loop_stops_at_its_duration_bound(server: Server) -> None:
    target = Target(name="web", url="http://127.0.0.1:%d/" % server.port)
    events: List[Event] = []
    began = time.monotonic()
    run([target], count=10_000, interval=0.05, timeout=0.5, max_seconds=0.5, clock=SystemClock(), sleep=time.sleep,
        emit=events.append)
    assert time.monotonic() - began < 1.0
    assert 5 <= len(events) <= 11 and all(isinstance(e, Probe) and e.ok for e in events)


def test_address_override_keeps_the_url_host_as_host_header(server: Server) -> None:
    seen: List[str] = []

    class Recording(Handler):
        def do_GET(self) -> None:  # noqa: N802
            seen.append(self.headers["Host"])
            super().do_GET()

    assert server.httpd is not None
    server.httpd.RequestHandlerClass = Recording
    target = Target(name="web", url="http://wordpress.platform.example.test/", address="127.0.0.1:%d" % server.port)
    assert probe(target, 0, timeout=1.0, clock=SystemClock()).ok
    assert seen == ["wordpress.platform.example.test"]


@pytest.mark.parametrize("count, interval", [(0, 1.0), (1, 0.0)])
def test_unbounded_settings_are_refused(count: int, interval: float) -> None:
    with pytest.raises(ProbeError, match="must be positive"):
        run([], count=count, interval=interval, timeout=1.0, max_seconds=1.0, clock=SystemClock(), sleep=time.sleep,
            emit=lambda e: None)


def test_a_non_http_url_is_refused() -> None:
    with pytest.raises(ProbeError, match="not an http"):
        probe(Target(name="x", url="ftp://127.0.0.1/"), 0, timeout=1.0, clock=SystemClock())


def test_a_stop_file_ends_the_loop_early(server: Server, tmp_path: Path) -> None:
    stop = tmp_path / "stop"
    target = Target(name="web", url="http://127.0.0.1:%d/" % server.port)
    events: List[Event] = []
    threading.Timer(0.3, stop.touch).start()
    began = time.monotonic()
    run([target], count=10_000, interval=0.05, timeout=0.5, max_seconds=30, clock=SystemClock(), sleep=time.sleep,
        emit=events.append, stop=stop.exists)
    assert time.monotonic() - began < 1.0 and events


def test_main_as_load_generator_prints_one_summary(server: Server) -> None:
    out = io.StringIO()
    environ = {"PROBE_TARGETS": json.dumps([{"name": "web", "url": "http://127.0.0.1:%d/" % server.port}]),
               "PROBE_COUNT": "20", "PROBE_INTERVAL": "0.01", "PROBE_EMIT": "summary"}
    assert main(environ, out) == 0
    assert json.loads(out.getvalue()) == {"requests": 20, "failed": 0}


def test_main_as_prober_prints_events(server: Server) -> None:
    out = io.StringIO()
    environ = {"PROBE_TARGETS": json.dumps([{"name": "web", "url": "http://127.0.0.1:%d/" % server.port}]),
               "PROBE_COUNT": "3", "PROBE_INTERVAL": "0.01"}
    main(environ, out)
    events = parse_lines(out.getvalue().splitlines())
    assert [e.seq for e in events] == [0, 1, 2] and all(isinstance(e, Probe) and e.ok for e in events)
