"""The Grafana dashboards of the monitoring role: generated from code (scripts/gen-dashboards.py,
grafana-foundation-sdk), committed as the generator writes them, and every panel query valid
PromQL (promql-parser) over metrics that exist. node-exporter and Prometheus metrics are checked
against Debian's packages started on loopback here, and the node dashboard's queries must return
data from them; the other exporters' names against tests/render/exporter_metrics.yml."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator, Set

import promql_parser
import pytest
import yaml

import prometheus_loopback as loopback
from prometheus_loopback import SELF, get_json, node_exporter, query, wait_until
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


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Debian's node-exporter and Prometheus on loopback, Prometheus scraping both every second."""
    root = tmp_path_factory.mktemp("prometheus")
    with node_exporter() as node, loopback.prometheus(root, [
            {"job_name": "node-exporter", "static_configs": [{"targets": [node]}]},
            {"job_name": "prometheus", "static_configs": [{"targets": [SELF]}]}]) as base:
        # rate() needs two samples of every target.
        wait_until("two scrapes of both targets", lambda: query(base, "count(count_over_time(up[1m]) >= 3) == 2"))
        yield base


def live_names(base: str) -> Set[str]:
    return set(get_json(base + "/api/v1/label/__name__/values")["data"])


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
