"""The Grafana dashboards of the monitoring role: generated from code (scripts/gen-dashboards.py,
grafana-foundation-sdk), committed as the generator writes them, and every panel query valid
PromQL (promql-parser) over metrics that exist. node-exporter and Prometheus metrics are checked
against Debian's packages started on loopback here, and the node dashboard's queries must return
data from them; the other exporters' names against tests/render/exporter_metrics.yml."""

from __future__ import annotations

import importlib.util
import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator, List, Set

import promql_parser
import pytest
import yaml

from project import ROOT

HERE = Path(__file__).resolve().parent
# Series Prometheus makes itself (not scraped from an exporter).
SYNTHETIC = {"up", "ALERTS"}


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_dashboards", ROOT / "scripts/gen-dashboards.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GEN = generator()


def metric_names(node: Any) -> Set[str]:
    """Every metric name a parsed PromQL expression selects."""
    found: Set[str] = set()
    kind = type(node).__name__
    if kind == "VectorSelector":
        found.add(node.name)
    for attribute in ("expr", "lhs", "rhs", "param", "vector_selector"):
        child = getattr(node, attribute, None)
        if child is not None and not isinstance(child, (str, int, float)):
            found |= metric_names(child)
    for child in getattr(node, "args", None) or []:
        found |= metric_names(child)
    return found


def recorded() -> Set[str]:
    lists = yaml.safe_load((HERE / "exporter_metrics.yml").read_text())
    return {name for names in lists.values() for name in names}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback only
        return response.read().decode()


def wait_until(what: str, probe: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = probe()
        except OSError:
            result = None
        if result:
            return result
        time.sleep(0.5)
    pytest.fail("timed out waiting for %s" % what)


def binary(name: str) -> str:
    path = shutil.which(name)
    if not path:
        pytest.fail("%s is missing: run scripts/install-system-deps.sh (Debian packages prometheus, prometheus-node-exporter)" % name)
    return path


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Debian's node-exporter and Prometheus on loopback, Prometheus scraping both every second."""
    root = tmp_path_factory.mktemp("prometheus")
    node_port, prom_port = free_port(), free_port()
    config = {"global": {"scrape_interval": "1s"}, "scrape_configs": [
        {"job_name": "node-exporter", "static_configs": [{"targets": ["127.0.0.1:%d" % node_port]}]},
        {"job_name": "prometheus", "static_configs": [{"targets": ["127.0.0.1:%d" % prom_port]}]}]}
    (root / "prometheus.yml").write_text(yaml.safe_dump(config))
    processes = [
        subprocess.Popen([binary("prometheus-node-exporter"), "--web.listen-address=127.0.0.1:%d" % node_port],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen([binary("prometheus"), "--config.file=%s" % (root / "prometheus.yml"), "--storage.tsdb.path=%s" % (root / "data"),
                          "--web.listen-address=127.0.0.1:%d" % prom_port], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ]
    base = "http://127.0.0.1:%d" % prom_port
    try:
        wait_until("Prometheus to be ready", lambda: "Ready" in get(base + "/-/ready"))
        # rate() needs two samples of every target.
        wait_until("two scrapes of both targets", lambda: query(base, "count(count_over_time(up[1m]) >= 3) == 2"))
        yield base
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)


def query(base: str, expr: str) -> List[Any]:
    body = json.loads(get(base + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})))
    assert body["status"] == "success", body
    return body["data"]["result"]


def live_names(base: str) -> Set[str]:
    return set(json.loads(get(base + "/api/v1/label/__name__/values"))["data"])


# -- the tests ------------------------------------------------------------------------------------


def test_committed_dashboards_are_what_the_generator_writes(tmp_path: Path) -> None:
    assert GEN.main(["gen-dashboards.py", str(tmp_path)]) == 0
    committed = ROOT / "roles/monitoring/files/dashboards"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in committed.iterdir())
    for path in tmp_path.iterdir():
        assert path.read_text() == (committed / path.name).read_text(), "%s is stale: run make dashboards" % path.name


def test_every_dashboard_is_provisioned() -> None:
    provisioned = yaml.safe_load((ROOT / "roles/monitoring/vars/main.yml").read_text())["_monitoring_grafana_dashboards"]
    assert sorted(provisioned) == sorted(GEN.DASHBOARDS)


def test_every_panel_query_is_valid_promql() -> None:
    for item in GEN.queries():
        assert metric_names(promql_parser.parse(item.expr)), "%s selects no metric: %s" % (item.title, item.expr)


def test_every_metric_exists_in_its_exporter(prometheus: str) -> None:
    known = live_names(prometheus) | recorded() | SYNTHETIC
    missing = {(item.title, name) for item in GEN.queries() for name in metric_names(promql_parser.parse(item.expr)) if name not in known}
    assert not missing, "metrics no exporter exposes: %s" % sorted(missing)


def test_the_node_dashboard_shows_data_from_a_real_node_exporter(prometheus: str) -> None:
    for item in GEN.DASHBOARDS["platform-nodes"]["queries"]:
        assert query(prometheus, item.expr), "no data for %r: %s" % (item.title, item.expr)


def test_the_parser_catches_a_broken_query() -> None:
    with pytest.raises(Exception):
        promql_parser.parse("sum(rate(node_cpu_seconds_total[5m])")
    assert metric_names(promql_parser.parse("rate(a[5m]) / on() group_left b + histogram_quantile(0.9, c)")) == {"a", "b", "c"}
