"""Debian's Prometheus and node-exporter started on loopback for a test (the packages
`prometheus` and `prometheus-node-exporter`, installed by scripts/install-system-deps.sh).

Imported as `prometheus_loopback` (tests/ is on pytest's pythonpath). Used by the dashboard
tests (real metric names, queries returning data) and by the tests of the live tests' helper
functions (tests/prometheus_api.py: targets and alerts read from a real Prometheus)."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

import pytest
import yaml


# Placeholder of a Prometheus' own address in the scrape jobs given to prometheus().
SELF = "prometheus-under-test:0"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback only
        return response.read().decode()


def get_json(url: str) -> Any:
    return json.loads(get(url))


def wait_until(what: str, probe: Callable[[], Any], timeout: float = 30) -> Any:
    """The first truthy result of `probe` (called every 0.5 s; OSError counts as not yet)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = probe()
        except OSError:
            result = None
        if result:
            return result
        time.sleep(0.5)
    pytest.fail("timed out after %.0f s waiting for %s" % (timeout, what))


def binary(name: str) -> str:
    path = shutil.which(name)
    if not path:
        pytest.fail("%s is missing: run scripts/install-system-deps.sh (Debian packages prometheus, prometheus-node-exporter)" % name)
    return path


def query(base: str, expr: str) -> List[Any]:
    body = get_json(base + "/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    assert body["status"] == "success", body
    return body["data"]["result"]


@contextlib.contextmanager
def process(args: List[str]) -> Iterator[subprocess.Popen]:
    child = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield child
    finally:
        child.terminate()
        child.wait(timeout=10)


@contextlib.contextmanager
def node_exporter() -> Iterator[str]:
    """A node-exporter on loopback; yields its address (host:port)."""
    address = "127.0.0.1:%d" % free_port()
    with process([binary("prometheus-node-exporter"), "--web.listen-address=" + address]):
        wait_until("node-exporter to answer", lambda: "node_" in get("http://%s/metrics" % address))
        yield address


@contextlib.contextmanager
def prometheus(root: Path, scrape_configs: List[Dict[str, Any]], rules: Optional[Dict[str, Any]] = None,
               interval: str = "1s", alertmanagers: Sequence[str] = ()) -> Iterator[str]:
    """A Prometheus on loopback with these scrape jobs (and rule groups), scraping and evaluating
    every `interval` and sending its alerts to `alertmanagers` (host:port); yields its base URL
    once it is ready. A target written as SELF stands for this Prometheus' own address."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    address = "127.0.0.1:%d" % port
    jobs = yaml.safe_load(yaml.safe_dump(scrape_configs).replace(SELF, address))
    config: Dict[str, Any] = {"global": {"scrape_interval": interval, "evaluation_interval": interval}, "scrape_configs": jobs}
    if rules is not None:
        (root / "rules.yml").write_text(yaml.safe_dump(rules))
        config["rule_files"] = [str(root / "rules.yml")]
    if alertmanagers:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": list(alertmanagers)}]}]}
    (root / "prometheus.yml").write_text(yaml.safe_dump(config))
    with process([binary("prometheus"), "--config.file=%s" % (root / "prometheus.yml"), "--storage.tsdb.path=%s" % (root / "data"),
                  "--web.listen-address=" + address]):
        base = "http://" + address
        wait_until("Prometheus to be ready", lambda: "Ready" in get(base + "/-/ready"))
        yield base
