"""promtool unit-test cases of every alert of roles/monitoring: a failing series that must fire
(and only it: promtool compares the firing set exactly) and a healthy one that must stay silent.

Each case: `failing` and `healthy` input series (promtool's series notation), the evaluation
time, and the labels the alert carries. Thresholds are the role's defaults (site.yml's render).
"""

from __future__ import annotations

from typing import Any, Dict

NODE_FS = 'node_filesystem_%s{instance="n1",mountpoint="/",fstype="ext4",device="sda1"}'
KSM = {"job": "kube-state-metrics"}


def fs(avail: str, size: str = "100x500", readonly: str = "0x500") -> list:
    return [
        {"series": NODE_FS % "avail_bytes", "values": avail},
        {"series": NODE_FS % "size_bytes", "values": size},
        {"series": NODE_FS % "readonly", "values": readonly},
    ]


# kube-state-metrics' EndpointSlice series (the Service name from its label allow-list).
SLICE = 'kube_endpointslice_labels{job="kube-state-metrics",namespace="a",endpointslice="%s",label_kubernetes_io_service_name="web"}'
SLICE_ENDPOINT = 'kube_endpointslice_endpoints{job="kube-state-metrics",namespace="a",endpointslice="%s",ready="%s",address="10.0.0.9"}'
FS_LABELS = {"instance": "n1", "mountpoint": "/", "fstype": "ext4", "device": "sda1"}
DAY = 86400

CASES: Dict[str, Dict[str, Any]] = {
    "NodeNotReady": {
        "failing": [{"series": 'kube_node_status_condition{node="n1",condition="Ready",status="true"}', "values": "0x20"}],
        "healthy": [{"series": 'kube_node_status_condition{node="n1",condition="Ready",status="true"}', "values": "1x20"}],
        "eval_time": "10m", "labels": {"node": "n1", "condition": "Ready", "status": "true", "severity": "critical"},
    },
    "NodeExporterDown": {
        "failing": [{"series": 'up{job="node-exporter",instance="n1"}', "values": "0x20"}],
        "healthy": [{"series": 'up{job="node-exporter",instance="n1"}', "values": "1x20"}],
        "eval_time": "10m", "labels": {"job": "node-exporter", "instance": "n1", "severity": "critical"},
    },
    # 39 % free and losing 50 bytes a minute (empty within 13 h) against 39 % free and steady.
    "NodeFilesystemFillingUp": {
        "failing": fs("39000-50x500", "100000x500"), "healthy": fs("39000x500", "100000x500"),
        "eval_time": "7h30m", "labels": dict(FS_LABELS, severity="warning"),
    },
    "NodeFilesystemAlmostFull": {
        "failing": fs("3x60"), "healthy": fs("50x60"),
        "eval_time": "30m", "labels": dict(FS_LABELS, severity="critical"),
    },
    "NodeMemoryPressure": {
        "failing": [{"series": 'node_memory_MemAvailable_bytes{instance="n1"}', "values": "5x60"},
                    {"series": 'node_memory_MemTotal_bytes{instance="n1"}', "values": "100x60"}],
        "healthy": [{"series": 'node_memory_MemAvailable_bytes{instance="n1"}', "values": "40x60"},
                    {"series": 'node_memory_MemTotal_bytes{instance="n1"}', "values": "100x60"}],
        "eval_time": "30m", "labels": {"instance": "n1", "severity": "warning"},
    },
    "PodCrashLooping": {
        "failing": [{"series": 'kube_pod_container_status_waiting_reason{namespace="a",pod="p",container="c",reason="CrashLoopBackOff"}', "values": "1x60"}],
        "healthy": [{"series": 'kube_pod_container_status_waiting_reason{namespace="a",pod="p",container="c",reason="CrashLoopBackOff"}', "values": "0x60"}],
        "eval_time": "30m", "labels": {"namespace": "a", "pod": "p", "container": "c", "reason": "CrashLoopBackOff", "severity": "warning"},
    },
    "DeploymentReplicasUnavailable": {
        "failing": [{"series": 'kube_deployment_spec_replicas{namespace="a",deployment="d"}', "values": "3x60"},
                    {"series": 'kube_deployment_status_replicas_available{namespace="a",deployment="d"}', "values": "1x60"}],
        "healthy": [{"series": 'kube_deployment_spec_replicas{namespace="a",deployment="d"}', "values": "3x60"},
                    {"series": 'kube_deployment_status_replicas_available{namespace="a",deployment="d"}', "values": "3x60"}],
        "eval_time": "30m", "labels": {"namespace": "a", "deployment": "d", "severity": "warning"},
    },
    # A Service with two EndpointSlices (as for two address types): one empty and one whose only
    # endpoint is not ready, against one empty and one with a ready endpoint.
    "ServiceWithoutEndpoints": {
        "failing": [{"series": SLICE % "web-a", "values": "1x60"}, {"series": SLICE % "web-b", "values": "1x60"},
                    {"series": SLICE_ENDPOINT % ("web-b", "false"), "values": "1x60"}],
        "healthy": [{"series": SLICE % "web-a", "values": "1x60"}, {"series": SLICE % "web-b", "values": "1x60"},
                    {"series": SLICE_ENDPOINT % ("web-b", "true"), "values": "1x60"}],
        "eval_time": "30m", "labels": {"namespace": "a", "service": "web", "severity": "warning"},
    },
    "StatefulSetReplicasUnavailable": {
        "failing": [{"series": 'kube_statefulset_replicas{namespace="a",statefulset="s"}', "values": "3x60"},
                    {"series": 'kube_statefulset_status_replicas_ready{namespace="a",statefulset="s"}', "values": "2x60"}],
        "healthy": [{"series": 'kube_statefulset_replicas{namespace="a",statefulset="s"}', "values": "3x60"},
                    {"series": 'kube_statefulset_status_replicas_ready{namespace="a",statefulset="s"}', "values": "3x60"}],
        "eval_time": "30m", "labels": {"namespace": "a", "statefulset": "s", "severity": "warning"},
    },
    "DaemonSetPodsUnavailable": {
        "failing": [{"series": 'kube_daemonset_status_number_unavailable{namespace="a",daemonset="ds"}', "values": "1x60"}],
        "healthy": [{"series": 'kube_daemonset_status_number_unavailable{namespace="a",daemonset="ds"}', "values": "0x60"}],
        "eval_time": "30m", "labels": {"namespace": "a", "daemonset": "ds", "severity": "warning"},
    },
    "PersistentVolumeClaimFilling": {
        "failing": [{"series": 'kubelet_volume_stats_used_bytes{namespace="a",persistentvolumeclaim="v"}', "values": "90x60"},
                    {"series": 'kubelet_volume_stats_capacity_bytes{namespace="a",persistentvolumeclaim="v"}', "values": "100x60"}],
        "healthy": [{"series": 'kubelet_volume_stats_used_bytes{namespace="a",persistentvolumeclaim="v"}', "values": "50x60"},
                    {"series": 'kubelet_volume_stats_capacity_bytes{namespace="a",persistentvolumeclaim="v"}', "values": "100x60"}],
        "eval_time": "30m", "labels": {"namespace": "a", "persistentvolumeclaim": "v", "severity": "warning"},
    },
    "GaleraMemberDown": {
        "failing": [{"series": 'mysql_up{pod="m-0"}', "values": "0x20"}],
        "healthy": [{"series": 'mysql_up{pod="m-0"}', "values": "1x20"}],
        "eval_time": "10m", "labels": {"pod": "m-0", "severity": "critical"},
    },
    "GaleraClusterSizeLow": {
        "failing": [{"series": 'mysql_global_status_wsrep_cluster_size{pod="m-0"}', "values": "2x20"}],
        "healthy": [{"series": 'mysql_global_status_wsrep_cluster_size{pod="m-0"}', "values": "3x20"}],
        "eval_time": "10m", "labels": {"pod": "m-0", "severity": "critical"},
    },
    "GaleraNotSynced": {
        "failing": [{"series": 'mysql_global_status_wsrep_local_state{pod="m-0"}', "values": "2x30"}],
        "healthy": [{"series": 'mysql_global_status_wsrep_local_state{pod="m-0"}', "values": "4x30"}],
        "eval_time": "20m", "labels": {"pod": "m-0", "severity": "warning"},
    },
    # Paused 30 s of every minute (half the time) against not at all.
    "GaleraFlowControlPaused": {
        "failing": [{"series": 'mysql_global_status_wsrep_flow_control_paused_ns{pod="m-0"}', "values": "0+30000000000x60"}],
        "healthy": [{"series": 'mysql_global_status_wsrep_flow_control_paused_ns{pod="m-0"}', "values": "0x60"}],
        "eval_time": "30m", "labels": {"pod": "m-0", "severity": "warning"},
    },
    "PostgreSQLDown": {
        "failing": [{"series": 'cnpg_collector_up{pod="atlassian-db-1"}', "values": "0x20"}],
        "healthy": [{"series": 'cnpg_collector_up{pod="atlassian-db-1"}', "values": "1x20"}],
        "eval_time": "10m", "labels": {"pod": "atlassian-db-1", "severity": "critical"},
    },
    # A standby 120 s behind (threshold 60 s) against one 5 s behind.
    "PostgreSQLReplicationLag": {
        "failing": [{"series": 'cnpg_pg_replication_lag{pod="atlassian-db-2"}', "values": "120x20"}],
        "healthy": [{"series": 'cnpg_pg_replication_lag{pod="atlassian-db-2"}', "values": "5x20"}],
        "eval_time": "10m", "labels": {"pod": "atlassian-db-2", "severity": "warning"},
    },
    # Expiry timestamps: 5 days after the start of the test against 60 days.
    "GatewayCertificateExpiring": {
        "failing": [{"series": 'probe_ssl_earliest_cert_expiry{job="blackbox",instance="wp.example.test"}', "values": "%dx120" % (5 * DAY)}],
        "healthy": [{"series": 'probe_ssl_earliest_cert_expiry{job="blackbox",instance="wp.example.test"}', "values": "%dx120" % (60 * DAY)}],
        "eval_time": "90m", "labels": {"job": "blackbox", "instance": "wp.example.test", "severity": "warning"},
    },
    "ApiServerCertificateExpiring": {
        "failing": [{"series": 'probe_ssl_earliest_cert_expiry{job="blackbox-apiserver",instance="kubernetes.default.svc"}', "values": "%dx120" % (5 * DAY)}],
        "healthy": [{"series": 'probe_ssl_earliest_cert_expiry{job="blackbox-apiserver",instance="kubernetes.default.svc"}', "values": "%dx120" % (300 * DAY)}],
        "eval_time": "90m", "labels": {"job": "blackbox-apiserver", "instance": "kubernetes.default.svc", "severity": "warning"},
    },
    # A histogram of the remaining lifetime of presented client certificates: every
    # observation below 1 day (failing) or above 30 days (healthy).
    "KubeClientCertificateExpiring": {
        "failing": [
            {"series": 'apiserver_client_certificate_expiration_seconds_bucket{job="apiserver",instance="a",le="86400"}', "values": "0+10x30"},
            {"series": 'apiserver_client_certificate_expiration_seconds_bucket{job="apiserver",instance="a",le="2592000"}', "values": "0+10x30"},
            {"series": 'apiserver_client_certificate_expiration_seconds_bucket{job="apiserver",instance="a",le="+Inf"}', "values": "0+10x30"},
            {"series": 'apiserver_client_certificate_expiration_seconds_count{job="apiserver",instance="a"}', "values": "0+10x30"}],
        "healthy": [
            {"series": 'apiserver_client_certificate_expiration_seconds_bucket{job="apiserver",instance="a",le="86400"}', "values": "0x30"},
            {"series": 'apiserver_client_certificate_expiration_seconds_bucket{job="apiserver",instance="a",le="2592000"}', "values": "0x30"},
            {"series": 'apiserver_client_certificate_expiration_seconds_bucket{job="apiserver",instance="a",le="+Inf"}', "values": "0+10x30"},
            {"series": 'apiserver_client_certificate_expiration_seconds_count{job="apiserver",instance="a"}', "values": "0+10x30"}],
        "eval_time": "20m", "labels": {"job": "apiserver", "instance": "a", "severity": "warning"},
    },
    "KubeletClientCertificateExpiring": {
        "failing": [{"series": 'kubelet_certificate_manager_client_ttl_seconds{node="n1"}', "values": "%dx120" % (2 * DAY)}],
        "healthy": [{"series": 'kubelet_certificate_manager_client_ttl_seconds{node="n1"}', "values": "%dx120" % (200 * DAY)}],
        "eval_time": "90m", "labels": {"node": "n1", "severity": "warning"},
    },
    "EtcdNoLeader": {
        "failing": [{"series": 'etcd_server_has_leader{job="etcd",instance="cp-1"}', "values": "0x10"}],
        "healthy": [{"series": 'etcd_server_has_leader{job="etcd",instance="cp-1"}', "values": "1x10"}],
        "eval_time": "5m", "labels": {"job": "etcd", "instance": "cp-1", "severity": "critical"},
    },
    "EtcdMemberDown": {
        "failing": [{"series": 'up{job="etcd",instance="cp-1"}', "values": "0x10"}],
        "healthy": [{"series": 'up{job="etcd",instance="cp-1"}', "values": "1x10"}],
        "eval_time": "5m", "labels": {"job": "etcd", "instance": "cp-1", "severity": "critical"},
    },
    # Two of three members down against one of three.
    "EtcdInsufficientMembers": {
        "failing": [{"series": 'up{job="etcd",instance="cp-1"}', "values": "0x10"},
                    {"series": 'up{job="etcd",instance="cp-2"}', "values": "0x10"},
                    {"series": 'up{job="etcd",instance="cp-3"}', "values": "1x10"}],
        "healthy": [{"series": 'up{job="etcd",instance="cp-1"}', "values": "0x10"},
                    {"series": 'up{job="etcd",instance="cp-2"}', "values": "1x10"},
                    {"series": 'up{job="etcd",instance="cp-3"}', "values": "1x10"}],
        "eval_time": "5m", "labels": {"job": "etcd", "severity": "critical"},
    },
    # Five leader changes within the hour against one.
    "EtcdFrequentLeaderChanges": {
        "failing": [{"series": 'etcd_server_leader_changes_seen_total{job="etcd",instance="cp-1"}', "values": "0x60 1 2 3 4 5x20"}],
        "healthy": [{"series": 'etcd_server_leader_changes_seen_total{job="etcd",instance="cp-1"}', "values": "0x60 1x24"}],
        "eval_time": "75m", "labels": {"job": "etcd", "instance": "cp-1", "severity": "warning"},
    },
    "TargetDown": {
        "failing": [{"series": 'up{job="coredns",instance="10.0.0.1:9153"}', "values": "0x30"}],
        "healthy": [{"series": 'up{job="coredns",instance="10.0.0.1:9153"}', "values": "1x30"}],
        "eval_time": "15m", "labels": {"job": "coredns", "instance": "10.0.0.1:9153", "severity": "warning"},
    },
    "PrometheusConfigReloadFailed": {
        "failing": [{"series": 'prometheus_config_last_reload_successful{job="prometheus",instance="p-0"}', "values": "0x30"}],
        "healthy": [{"series": 'prometheus_config_last_reload_successful{job="prometheus",instance="p-0"}', "values": "1x30"}],
        "eval_time": "15m", "labels": {"job": "prometheus", "instance": "p-0", "severity": "warning"},
    },
    "AlertmanagerClusterDegraded": {
        "failing": [{"series": 'alertmanager_cluster_members{job="alertmanager",instance="am-0"}', "values": "2x30"}],
        "healthy": [{"series": 'alertmanager_cluster_members{job="alertmanager",instance="am-0"}', "values": "3x30"}],
        "eval_time": "15m", "labels": {"job": "alertmanager", "instance": "am-0", "severity": "warning"},
    },
    # Yellow for 20 minutes (green is 0) against green.
    "ElasticsearchNotGreen": {
        "failing": [{"series": 'elasticsearch_cluster_health_status{job="elasticsearch",cluster="platform-logs",color="green"}', "values": "0x30"},
                    {"series": 'elasticsearch_cluster_health_status{job="elasticsearch",cluster="platform-logs",color="yellow"}', "values": "1x30"}],
        "healthy": [{"series": 'elasticsearch_cluster_health_status{job="elasticsearch",cluster="platform-logs",color="green"}', "values": "1x30"},
                    {"series": 'elasticsearch_cluster_health_status{job="elasticsearch",cluster="platform-logs",color="yellow"}', "values": "0x30"}],
        "eval_time": "20m", "labels": {"cluster": "platform-logs", "severity": "critical"},
    },
    # Five retries a minute to an unreachable Elasticsearch against none (both drop nothing).
    "FluentBitDroppingOrRetrying": {
        "failing": [{"series": 'fluentbit_output_retries_total{job="fluent-bit",namespace="logging",pod="fb-1",name="es.0"}', "values": "0+5x40"},
                    {"series": 'fluentbit_output_dropped_records_total{job="fluent-bit",namespace="logging",pod="fb-1",name="es.0"}', "values": "0x40"}],
        "healthy": [{"series": 'fluentbit_output_retries_total{job="fluent-bit",namespace="logging",pod="fb-1",name="es.0"}', "values": "0x40"},
                    {"series": 'fluentbit_output_dropped_records_total{job="fluent-bit",namespace="logging",pod="fb-1",name="es.0"}', "values": "0x40"}],
        "eval_time": "30m", "labels": {"namespace": "logging", "pod": "fb-1", "severity": "warning"},
    },
    "ProbeFailed": {
        "failing": [{"series": 'probe_success{job="blackbox",instance="wp.example.test",route="wordpress"}', "values": "0x20"}],
        "healthy": [{"series": 'probe_success{job="blackbox",instance="wp.example.test",route="wordpress"}', "values": "1x20"}],
        "eval_time": "10m", "labels": {"job": "blackbox", "instance": "wp.example.test", "route": "wordpress", "severity": "critical"},
    },
    "ProbeSlow": {
        "failing": [{"series": 'probe_duration_seconds{job="blackbox",instance="wp.example.test",route="wordpress"}', "values": "5x30"}],
        "healthy": [{"series": 'probe_duration_seconds{job="blackbox",instance="wp.example.test",route="wordpress"}', "values": "0.2x30"}],
        "eval_time": "20m", "labels": {"job": "blackbox", "instance": "wp.example.test", "route": "wordpress", "severity": "warning"},
    },
}


def promtool_tests(rules_file: str) -> Dict[str, Any]:
    """A promtool test file: for each alert, one group where it must fire and one where it must not."""
    tests = []
    for alert, case in sorted(CASES.items()):
        for kind, expected in (("failing", [{"exp_labels": case["labels"]}]), ("healthy", [])):
            tests.append({
                "name": "%s %s" % (alert, kind),
                "interval": "1m",
                "input_series": case[kind],
                "alert_rule_test": [{"eval_time": case["eval_time"], "alertname": alert, "exp_alerts": expected}],
            })
    return {"rule_files": [rules_file], "evaluation_interval": "1m", "tests": tests}
