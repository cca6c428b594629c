"""playbooks/observability.yml refuses bad logging settings before anything is rendered or applied."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict

import pytest
import yaml

from project import render_stage, stopped_before_rendering

pytestmark = pytest.mark.slow

LIMIT_2G = {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "2Gi"}}

BAD = [
    pytest.param({"logging_retention_days": "14d"}, "logging_retention_days", id="retention-with-unit"),
    pytest.param({"logging_retention_days": 0}, "logging_retention_days", id="retention-zero"),
    pytest.param({"logging_index_max_size": "25 GB"}, "logging_index_max_size", id="size-format"),
    pytest.param({"logging_index_max_size": "25Gi"}, "logging_index_max_size", id="size-kubernetes-unit"),
    pytest.param({"logging_index_max_age": "1 day"}, "logging_index_max_age", id="age-format"),
    pytest.param({"logging_fluent_bit_buffer_limit": "2GB"}, "logging_fluent_bit_buffer_limit", id="buffer-format"),
    pytest.param({"logging_elasticsearch_replicas": 2}, "logging_elasticsearch_replicas", id="nodes-even"),
    pytest.param({"logging_elasticsearch_replicas": 1}, "logging_elasticsearch_replicas", id="nodes-one"),
    pytest.param({"logging_elasticsearch_replicas": "three"}, "logging_elasticsearch_replicas", id="nodes-not-int"),
    pytest.param({"logging_elasticsearch_heap_percent": 90}, "logging_elasticsearch_heap_percent", id="heap-above-limit-share"),
    pytest.param({"logging_elasticsearch_resources": {"requests": {"cpu": "1", "memory": "512Mi"}, "limits": {"memory": "512Mi"}}},
                 "logging_elasticsearch_heap_percent", id="heap-too-small-for-the-limit"),
    pytest.param({"logging_elasticsearch_resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}, "logging_elasticsearch_resources",
                 id="no-memory-limit"),
    pytest.param({"logging_kibana_version": "9.3.4"}, "logging_kibana_version", id="kibana-other-release"),
    pytest.param({"logging_elasticsearch_version": "latest", "logging_kibana_version": "latest"}, "logging_elasticsearch_version",
                 id="version"),
    pytest.param({"logging_fluent_bit_multiline": [{"parser": "ruby", "namespaces": ["x"]}]}, "logging_fluent_bit_multiline",
                 id="unknown-parser"),
    pytest.param({"logging_elasticsearch_storage_size": "100 GB"}, "logging_elasticsearch_storage_size", id="storage-size"),
    pytest.param({"logging_elasticsearch_zone_awareness": False, "logging_elasticsearch_zone_awareness_forced_zones": ["a", "b"]},
                 "logging_elasticsearch_zone_awareness_forced_zones", id="forced-zones-without-awareness"),
    pytest.param({"logging_elasticsearch_zone_awareness_forced_zones": ["europe-west1-b"]},
                 "logging_elasticsearch_zone_awareness_forced_zones", id="forced-one-zone"),
    pytest.param({"logging_elasticsearch_zone_awareness_forced_zones": ["b", "c", "b"]},
                 "logging_elasticsearch_zone_awareness_forced_zones", id="forced-zone-twice"),
    pytest.param({"logging_elasticsearch_zone_awareness_forced_zones": ["zone b", "c"]},
                 "logging_elasticsearch_zone_awareness_forced_zones", id="forced-zone-not-a-label-value"),
]


def run_stage(tmp_path: Path, extra: Dict[str, Any]) -> tuple:
    return render_stage(tmp_path, "observability.yml", extra, tags="logging", build_dir=tmp_path / "build")


@pytest.mark.parametrize("extra, named", BAD)
def test_bad_setting_stops_before_anything_is_rendered(tmp_path: Path, extra: Dict[str, Any], named: str) -> None:
    output = stopped_before_rendering(*run_stage(tmp_path, extra))
    assert named in output, output[-3000:]


def test_settings_reach_the_manifests_and_the_ca_survives_a_new_node_certificate(tmp_path: Path) -> None:
    """A 2 GiB limit at 50 % gives a 1024 MiB heap; retention and size reach the lifecycle policy.
    A second run without the node certificate's files makes a new certificate from the same CA."""
    extra = {"logging_elasticsearch_resources": LIMIT_2G, "logging_elasticsearch_replicas": 5,
             "logging_retention_days": 30, "logging_index_max_size": "10gb", "logging_elasticsearch_zone_awareness": False}
    result, target = run_stage(tmp_path, extra)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    root = target / "observability/logging"
    statefulset = yaml.safe_load((root / "32-statefulset-elasticsearch.yaml").read_text())
    env = {e["name"]: e.get("value") for e in statefulset["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["ES_JAVA_OPTS"] == "-Xms1024m -Xmx1024m"
    assert statefulset["spec"]["replicas"] == 5
    config = yaml.safe_load(yaml.safe_load((root / "20-configmap-elasticsearch-config.yaml").read_text())["data"]["elasticsearch.yml"])
    assert config["cluster.initial_master_nodes"] == ["elasticsearch-%d" % i for i in range(5)]
    assert not [key for key in config if key.startswith("cluster.routing.allocation.awareness")], "awareness switched off"
    setup = yaml.safe_load((root / "21-configmap-logging-setup.yaml").read_text())["data"]
    phases = json.loads(setup["ilm-policy.json"])["policy"]["phases"]
    assert phases["delete"]["min_age"] == "30d" and phases["hot"]["actions"]["rollover"]["max_primary_shard_size"] == "10gb"

    secrets = tmp_path / "build/secrets/logging"
    ca_before = (secrets / "ca.crt").read_text()
    cert_before = (secrets / "tls.crt").read_text()
    (secrets / "tls.crt").unlink()
    (secrets / "tls.key").unlink()
    again, _ = run_stage(tmp_path, extra)
    assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]
    assert (secrets / "ca.crt").read_text() == ca_before, "the CA must never be replaced while it exists"
    assert (secrets / "tls.crt").read_text() != cert_before


def test_forced_zones_reach_the_elasticsearch_configuration(tmp_path: Path) -> None:
    zones = ["europe-west1-b", "europe-west1-c", "europe-west1-d"]
    result, target = run_stage(tmp_path, {"logging_elasticsearch_zone_awareness_forced_zones": zones})
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    configmap = yaml.safe_load((target / "observability/logging/20-configmap-elasticsearch-config.yaml").read_text())
    config = yaml.safe_load(configmap["data"]["elasticsearch.yml"])
    assert config["cluster.routing.allocation.awareness.attributes"] == "zone"
    assert config["cluster.routing.allocation.awareness.force.zone.values"] == zones
