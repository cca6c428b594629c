#!/usr/bin/env python3
"""Write the Grafana dashboards of the monitoring role, built from code with grafana-foundation-sdk,
into roles/monitoring/files/dashboards/<uid>.json (run by `make dashboards`; a test checks that
the committed files are what this script writes, and that every query is valid PromQL over
metrics the exporters really expose).

    python scripts/gen-dashboards.py [OUTPUT_DIR]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Dict, List, NamedTuple

from grafana_foundation_sdk.builders import dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "roles/monitoring/files/dashboards"
# The provisioned Prometheus datasource (roles/monitoring, grafana datasources file).
DATASOURCE = DataSourceRef(type_val="prometheus", uid="prometheus")


class Query(NamedTuple):
    title: str
    expr: str
    unit: str
    legend: str
    kind: str = "timeseries"


def panel(query: Query):  # noqa: ANN201 - a grafana-foundation-sdk builder
    builder = (stat.Panel() if query.kind == "stat" else timeseries.Panel())
    target = prometheus.Dataquery().expr(query.expr).legend_format(query.legend).ref_id("A")
    width = 6 if query.kind == "stat" else 12
    return builder.title(query.title).datasource(DATASOURCE).unit(query.unit).with_target(target).height(8).span(width)


DASHBOARDS: Dict[str, Dict[str, object]] = {
    "platform-cluster": {
        "title": "Platform / Cluster",
        "queries": [
            Query("Nodes Ready", 'sum(kube_node_status_condition{condition="Ready",status="true"})', "none", "ready", "stat"),
            Query("Pods not running", 'sum(kube_pod_status_phase{phase=~"Pending|Failed|Unknown"})', "none", "pods", "stat"),
            Query("Targets down", "count(up == 0) or vector(0)", "none", "down", "stat"),
            Query("Alerts firing", 'count(ALERTS{alertstate="firing"}) or vector(0)', "none", "firing", "stat"),
            Query("API server requests", "sum by (code) (rate(apiserver_request_total[5m]))", "reqps", "{{code}}"),
            Query("etcd leader changes", "increase(etcd_server_leader_changes_seen_total[1h])", "none", "{{instance}}"),
        ],
    },
    "platform-nodes": {
        "title": "Platform / Nodes",
        "queries": [
            Query("CPU busy", '1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m]))', "percentunit", "{{instance}}"),
            Query("Memory available", "node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes", "percentunit", "{{instance}}"),
            Query("Filesystem free", 'node_filesystem_avail_bytes{fstype!~"tmpfs|overlay"} / node_filesystem_size_bytes{fstype!~"tmpfs|overlay"}',
                  "percentunit", "{{instance}} {{mountpoint}}"),
            Query("Load (1 min)", "node_load1", "short", "{{instance}}"),
            Query("Network received", 'rate(node_network_receive_bytes_total{device!="lo"}[5m])', "Bps", "{{instance}} {{device}}"),
            Query("Network sent", 'rate(node_network_transmit_bytes_total{device!="lo"}[5m])', "Bps", "{{instance}} {{device}}"),
        ],
    },
    "platform-workloads": {
        "title": "Platform / Workloads",
        "queries": [
            Query("Deployments: unavailable replicas", "kube_deployment_spec_replicas - kube_deployment_status_replicas_available",
                  "none", "{{namespace}}/{{deployment}}"),
            Query("StatefulSets: unready replicas", "kube_statefulset_replicas - kube_statefulset_status_replicas_ready",
                  "none", "{{namespace}}/{{statefulset}}"),
            Query("Container restarts (1 h)", "sum by (namespace, pod) (increase(kube_pod_container_status_restarts_total[1h]))",
                  "none", "{{namespace}}/{{pod}}"),
            Query("CPU by namespace", 'sum by (namespace) (rate(container_cpu_usage_seconds_total{container!=""}[5m]))', "short", "{{namespace}}"),
            Query("Memory by namespace", 'sum by (namespace) (container_memory_working_set_bytes{container!=""})', "bytes", "{{namespace}}"),
            Query("PVC usage", "kubelet_volume_stats_used_bytes / kubelet_volume_stats_capacity_bytes", "percentunit",
                  "{{namespace}}/{{persistentvolumeclaim}}"),
        ],
    },
    "platform-galera": {
        "title": "Platform / Galera",
        "queries": [
            Query("Cluster size", "min(mysql_global_status_wsrep_cluster_size)", "none", "members", "stat"),
            Query("Members up", "sum(mysql_up)", "none", "up", "stat"),
            Query("Local state (4 = Synced)", "mysql_global_status_wsrep_local_state", "none", "{{pod}}"),
            Query("Flow control paused", "rate(mysql_global_status_wsrep_flow_control_paused_ns[5m]) / 1e9", "percentunit", "{{pod}}"),
            Query("Queries", "rate(mysql_global_status_queries[5m])", "qps", "{{pod}}"),
            Query("Connections", "mysql_global_status_threads_connected", "none", "{{pod}}"),
        ],
    },
    "platform-wordpress": {
        "title": "Platform / WordPress availability",
        "queries": [
            Query("Probe success (24 h)", 'avg_over_time(probe_success{route="wordpress"}[24h])', "percentunit", "available", "stat"),
            Query("Probe up", 'probe_success{route="wordpress"}', "none", "{{instance}}"),
            Query("Probe duration", 'probe_duration_seconds{route="wordpress"}', "s", "{{instance}}"),
            Query("HTTP status", 'probe_http_status_code{route="wordpress"}', "none", "{{instance}}"),
            Query("Certificate expires in", 'probe_ssl_earliest_cert_expiry{route="wordpress"} - time()', "s", "{{instance}}"),
            Query("WordPress pods available", 'kube_deployment_status_replicas_available{namespace="wordpress"}', "none", "{{deployment}}"),
        ],
    },
    "platform-gateway": {
        "title": "Platform / Gateway traffic",
        "queries": [
            Query("Requests by entrypoint", "sum by (entrypoint, code) (rate(traefik_entrypoint_requests_total[5m]))", "reqps",
                  "{{entrypoint}} {{code}}"),
            Query("Requests by service", "sum by (service, code) (rate(traefik_service_requests_total[5m]))", "reqps", "{{service}} {{code}}"),
            Query("Request duration p95", "histogram_quantile(0.95, sum by (le, entrypoint) (rate(traefik_entrypoint_request_duration_seconds_bucket[5m])))",
                  "s", "{{entrypoint}}"),
            Query("Open connections", "sum by (entrypoint) (traefik_open_connections)", "none", "{{entrypoint}}"),
        ],
    },
    "platform-logging": {
        "title": "Platform / Logging pipeline",
        "queries": [
            Query("Cluster green (1 = yes)", 'max(elasticsearch_cluster_health_status{color="green"})', "none", "green", "stat"),
            Query("Elasticsearch nodes", "max(elasticsearch_cluster_health_number_of_nodes)", "none", "nodes", "stat"),
            Query("Unassigned shards", "max(elasticsearch_cluster_health_unassigned_shards)", "none", "shards", "stat"),
            Query("Chunks buffered on disk", "sum(fluentbit_storage_fs_chunks)", "none", "chunks", "stat"),
            Query("Records read by Fluent Bit", "sum by (pod) (rate(fluentbit_input_records_total[5m]))", "rps", "{{pod}}"),
            Query("Records shipped to Elasticsearch", "sum by (pod) (rate(fluentbit_output_proc_records_total[5m]))", "rps", "{{pod}}"),
            Query("Retries and drops", "sum by (pod) (rate(fluentbit_output_retries_total[5m]) + rate(fluentbit_output_dropped_records_total[5m]))",
                  "ops", "{{pod}}"),
            Query("Documents indexed", "sum by (name) (rate(elasticsearch_indices_indexing_index_total[5m]))", "ops", "{{name}}"),
            Query("JVM heap used", 'elasticsearch_jvm_memory_used_bytes{area="heap"} / elasticsearch_jvm_memory_max_bytes{area="heap"}',
                  "percentunit", "{{name}}"),
            Query("Data volume free", "elasticsearch_filesystem_data_available_bytes / elasticsearch_filesystem_data_size_bytes",
                  "percentunit", "{{name}}"),
        ],
    },
}


def build(uid: str, spec: Dict[str, object]):  # noqa: ANN201 - a grafana-foundation-sdk model
    board = dashboard.Dashboard(str(spec["title"])).uid(uid).tags(["orchestrate-platform"]).refresh("1m").time("now-6h", "now")
    for query in spec["queries"]:  # type: ignore[attr-defined]
        board = board.with_panel(panel(query))
    return board.build()


def render(uid: str) -> str:
    return json.dumps(json.loads(JSONEncoder(sort_keys=True, indent=2).encode(build(uid, DASHBOARDS[uid]))), indent=2, sort_keys=True) + "\n"


def queries() -> List[Query]:
    return [q for spec in DASHBOARDS.values() for q in spec["queries"]]  # type: ignore[attr-defined]


def main(argv: List[str]) -> int:
    output = Path(argv[1]) if len(argv) > 1 else OUTPUT
    output.mkdir(parents=True, exist_ok=True)
    for uid in DASHBOARDS:
        (output / ("%s.json" % uid)).write_text(render(uid))
        print("wrote %s" % (output / ("%s.json" % uid)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
