"""The monitoring role as site.yml renders it, checked with the real Prometheus tools of
Debian's packages (promtool 2.42, amtool 0.25; scripts/install-system-deps.sh installs them)."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml

import prometheus_api as papi
from monitoring_alert_cases import CASES, promtool_tests
from project import ROOT
from rendered import Rendered, only, under

Obj = Dict[str, Any]
PREFIX = "observability/monitoring/"
RUNBOOK = ROOT / "docs/runbooks/alerts.md"
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
# Roles of kubernetes_sd_configs and the keys a block may have (Prometheus' kubernetes SD).
SD_ROLES = {"node", "pod", "service", "endpoints", "endpointslice", "ingress"}
SD_KEYS = {"role", "namespaces", "selectors", "api_server", "attach_metadata"}
REQUIRED_JOBS = {
    "prometheus", "alertmanager", "apiserver", "kubelet", "cadvisor", "etcd", "kube-controller-manager",
    "kube-scheduler", "kube-proxy", "coredns", "calico-felix", "node-exporter", "kube-state-metrics",
    "mariadb", "gateway", "blackbox", "blackbox-apiserver", "postgresql", "cnpg-operator",
}


def tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        pytest.fail("%s is missing: run scripts/install-system-deps.sh (Debian packages prometheus, prometheus-alertmanager)" % name)
    return path


def run(args: List[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def configmap_file(rendered: Rendered, name: str, key: str) -> str:
    return only(rendered, PREFIX, "ConfigMap", name)["data"][key]


@pytest.fixture(scope="module")
def prometheus_config(rendered: Rendered) -> Obj:
    return yaml.safe_load(configmap_file(rendered, "prometheus-config", "prometheus.yml"))


@pytest.fixture(scope="module")
def rules(rendered: Rendered) -> Obj:
    return yaml.safe_load(configmap_file(rendered, "prometheus-rules", "alerts.yml"))


def alerts(rules: Obj) -> List[Obj]:
    return [rule for group in rules["groups"] for rule in group["rules"] if "alert" in rule]


# -- the real tools --------------------------------------------------------------------------


def test_promtool_accepts_the_rules(rendered: Rendered, tmp_path: Path) -> None:
    (tmp_path / "alerts.yml").write_text(configmap_file(rendered, "prometheus-rules", "alerts.yml"))
    result = run([tool("promtool"), "check", "rules", "alerts.yml"], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_fires_on_a_failing_series_and_stays_silent_on_a_healthy_one(rules: Obj, tmp_path: Path) -> None:
    # Annotations are checked by the tests below; promtool would compare them literally.
    bare = copy.deepcopy(rules)
    for rule in alerts(bare):
        rule.pop("annotations", None)
    (tmp_path / "alerts.yml").write_text(yaml.safe_dump(bare))
    (tmp_path / "alerts_test.yml").write_text(yaml.safe_dump(promtool_tests("alerts.yml")))
    result = run([tool("promtool"), "test", "rules", "alerts_test.yml"], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_failing_and_a_healthy_case(rules: Obj) -> None:
    names = [rule["alert"] for rule in alerts(rules)]
    assert len(names) == len(set(names)), "alert names must be unique: %s" % names
    assert sorted(CASES) == sorted(names), "cases without alerts or alerts without cases"
    tests = promtool_tests("alerts.yml")["tests"]
    for name in names:
        mine = [t for t in tests if t["alert_rule_test"][0]["alertname"] == name]
        assert [bool(t["alert_rule_test"][0]["exp_alerts"]) for t in mine] == [True, False], name
        assert all(t["input_series"] for t in mine), name


def test_promtool_accepts_the_alertmanager_configuration(rendered: Rendered, tmp_path: Path) -> None:
    (tmp_path / "alertmanager.yml").write_text(configmap_file(rendered, "alertmanager-config", "alertmanager.yml"))
    result = run([tool("amtool"), "check-config", "alertmanager.yml"], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def local_config(config: Obj, root: Path) -> Obj:
    """The configuration with its files under `root` (created there), and every Kubernetes
    discovery block replaced by a file discovery of the same job: Debian's promtool is built
    without Kubernetes discovery, so those blocks are checked by test_kubernetes_discovery_blocks."""
    local = copy.deepcopy(config)
    (root / "sa").mkdir()
    (root / "sa/token").write_text("token")
    (root / "sa/ca.crt").write_text("")
    (root / "rules").mkdir()
    (root / "targets.yml").write_text("[]")
    local["rule_files"] = [str(root / "rules" / Path(pattern).name) for pattern in config["rule_files"]]
    for job in local["scrape_configs"]:
        if job.pop("kubernetes_sd_configs", None) is not None:
            job["file_sd_configs"] = [{"files": [str(root / "targets.yml")]}]
    text = yaml.safe_dump(local).replace(SA_DIR, str(root / "sa"))
    return yaml.safe_load(text)


def test_promtool_accepts_the_prometheus_configuration(prometheus_config: Obj, tmp_path: Path) -> None:
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(local_config(prometheus_config, tmp_path)))
    result = run([tool("promtool"), "check", "config", "prometheus.yml"], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_kubernetes_discovery_blocks(prometheus_config: Obj) -> None:
    for job in prometheus_config["scrape_configs"]:
        for block in job.get("kubernetes_sd_configs", []):
            assert block["role"] in SD_ROLES, job["job_name"]
            assert set(block) <= SD_KEYS, job["job_name"]
            names = (block.get("namespaces") or {}).get("names", [])
            assert all(isinstance(n, str) and n for n in names), job["job_name"]


# -- what is scraped and probed -----------------------------------------------------------------


def test_every_platform_component_is_scraped(prometheus_config: Obj) -> None:
    jobs = [job["job_name"] for job in prometheus_config["scrape_configs"]]
    assert len(jobs) == len(set(jobs))
    assert REQUIRED_JOBS <= set(jobs), REQUIRED_JOBS - set(jobs)


def test_tokens_are_sent_only_over_tls(prometheus_config: Obj) -> None:
    for job in prometheus_config["scrape_configs"]:
        if "authorization" in job:
            assert job.get("scheme") == "https", job["job_name"]


def test_every_public_route_is_probed_through_the_gateway(rendered: Rendered, prometheus_config: Obj) -> None:
    hosts = {h for route in rendered.of_kind("HTTPRoute") for h in route["spec"].get("hostnames", [])}
    assert hosts, "the platform renders no HTTPRoute host name"
    blackbox = next(job for job in prometheus_config["scrape_configs"] if job["job_name"] == "blackbox")
    probed = {group["labels"]["__param_hostname"] for group in blackbox["static_configs"]}
    assert hosts <= probed, "routes nobody probes: %s" % (hosts - probed)


def test_control_plane_targets_use_the_ports_the_kubeadm_config_opens(prometheus_config: Obj) -> None:
    kubeadm = yaml.safe_load((ROOT / "roles/kubeadm_control_plane/defaults/main.yml").read_text())
    etcd_port = int(kubeadm["kubeadm_control_plane_etcd_metrics_urls"][0].rsplit(":", 1)[1])
    proxy_port = int(kubeadm["kubeadm_control_plane_kube_proxy_metrics_address"].rsplit(":", 1)[1])
    assert kubeadm["kubeadm_control_plane_metrics_bind_address"] == "0.0.0.0"
    ports = {}
    for job in prometheus_config["scrape_configs"]:
        for relabel in job.get("relabel_configs", []):
            if relabel.get("target_label") == "__address__" and "replacement" in relabel and "$1:" in relabel["replacement"]:
                ports[job["job_name"]] = int(relabel["replacement"].split(":")[-1])
    assert ports["etcd"] == etcd_port
    assert ports["kube-proxy"] == proxy_port
    assert ports["kube-controller-manager"] == 10257 and ports["kube-scheduler"] == 10259


def test_kubelet_certificates_are_verified_when_the_cluster_stage_signs_them(prometheus_config: Obj) -> None:
    kubeadm = yaml.safe_load((ROOT / "roles/kubeadm_control_plane/defaults/main.yml").read_text())
    signed = kubeadm["kubeadm_control_plane_kubelet_serving_certificates"] is True
    jobs = {job["job_name"]: job for job in prometheus_config["scrape_configs"]}
    for name in ("kubelet", "cadvisor"):
        assert jobs[name]["tls_config"]["insecure_skip_verify"] is (not signed), name
        assert jobs[name]["tls_config"]["ca_file"].endswith("/ca.crt"), name
    # kubeadm's controller-manager and scheduler certificates are self-signed.
    assert jobs["kube-scheduler"]["tls_config"]["insecure_skip_verify"] is True


# -- alerts and their runbooks ------------------------------------------------------------------


def runbook_anchors() -> set:
    return {re.sub(r"[^a-z0-9 -]", "", line[3:].strip().lower()).replace(" ", "-")
            for line in RUNBOOK.read_text().splitlines() if line.startswith("## ")}


def test_every_alert_links_its_runbook_section(rules: Obj) -> None:
    anchors = runbook_anchors()
    for rule in alerts(rules):
        url = rule["annotations"]["runbook_url"]
        assert url.split("#")[0].endswith("docs/runbooks/alerts.md"), url
        assert url.split("#")[1] == rule["alert"].lower() and url.split("#")[1] in anchors, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]


# -- workloads ------------------------------------------------------------------------------------


def test_prometheus_is_replicated_with_a_budget_and_volumes(rendered: Rendered) -> None:
    prometheus = only(rendered, PREFIX, "StatefulSet", "prometheus")
    assert prometheus["spec"]["replicas"] == 2
    assert prometheus["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "50Gi"
    args = prometheus["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--storage.tsdb.retention.time=15d" in args and "--storage.tsdb.retention.size=45GB" in args
    assert [b for b in under(rendered, PREFIX, "PodDisruptionBudget") if b["metadata"]["name"] == "prometheus"]


def test_alertmanager_members_know_each_other(rendered: Rendered) -> None:
    alertmanager = only(rendered, PREFIX, "StatefulSet", "alertmanager")
    assert alertmanager["spec"]["replicas"] == 3
    args = alertmanager["spec"]["template"]["spec"]["containers"][0]["args"]
    peers = [a for a in args if a.startswith("--cluster.peer=")]
    assert len(peers) == 3
    volumes = {v["name"]: v for v in alertmanager["spec"]["template"]["spec"]["volumes"]}
    assert volumes["receivers"]["secret"]["optional"] is True


def test_node_exporter_runs_on_every_node(rendered: Rendered) -> None:
    daemonset = only(rendered, PREFIX, "DaemonSet", "node-exporter")
    spec = daemonset["spec"]["template"]["spec"]
    assert spec["tolerations"] == [{"operator": "Exists"}]
    assert spec["hostNetwork"] is True
    assert all(m.get("readOnly") for m in spec["containers"][0]["volumeMounts"])


def test_grafana_is_provisioned_behind_the_gateway(rendered: Rendered) -> None:
    provisioning = only(rendered, PREFIX, "ConfigMap", "grafana-provisioning")["data"]
    datasource = yaml.safe_load(provisioning["datasources.yml"])["datasources"][0]
    service = only(rendered, PREFIX, "Service", "prometheus")
    assert datasource["uid"] == "prometheus" and datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus.monitoring.svc.cluster.local:%d" % service["spec"]["ports"][0]["port"]
    dashboards = only(rendered, PREFIX, "ConfigMap", "grafana-dashboards")["data"]
    assert dashboards and all(json.loads(text)["uid"] == name[:-5] for name, text in dashboards.items())
    path = yaml.safe_load(provisioning["dashboards.yml"])["providers"][0]["options"]["path"]
    grafana = only(rendered, PREFIX, "Deployment", "grafana")
    pod = grafana["spec"]["template"]["spec"]
    mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
    assert mounts[path] == "dashboards"
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["GF_SECURITY_ADMIN_PASSWORD__FILE"].startswith(next(p for p, n in mounts.items() if n == "admin"))
    assert "GF_SECURITY_ADMIN_PASSWORD" not in env, "the password must come from the mounted Secret"
    route = only(rendered, PREFIX, "HTTPRoute", "grafana")
    assert route["spec"]["parentRefs"][0]["sectionName"] == "https"
    assert route["spec"]["rules"][0]["backendRefs"][0] == {"name": "grafana", "port": 3000}


# -- the jobs the live test expects (tests/prometheus_api.py) ------------------------------------

# Jobs whose targets are objects that this platform does not render itself: kubeadm's static pods,
# kube-proxy and CoreDNS, the API server's own Service, the nodes' kubelets, and the pods that
# the Tigera and CloudNativePG operators create.
MADE_BY_OTHERS = {"apiserver", "kubelet", "cadvisor", "etcd", "kube-controller-manager", "kube-scheduler", "kube-proxy", "coredns",
                  "calico-felix", "postgresql", "cnpg-operator"}
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet")


def rendered_inventory(rendered: Rendered) -> papi.Inventory:
    """One running pod per rendered workload template, and a ready endpoint for every rendered
    Service whose selector matches one of them (no nodes: they are not rendered)."""
    pods = []
    for workload in rendered.of_kind(*WORKLOADS):
        template = workload["spec"]["template"]
        containers = template["spec"]["containers"]
        pods.append(papi.Pod(workload["metadata"]["namespace"], workload["metadata"]["name"] + "-0", template["metadata"].get("labels", {}),
                             tuple((p.get("name", ""), p["containerPort"]) for c in containers for p in c.get("ports", [])),
                             any(not c.get("ports") for c in containers), "n1"))
    slices = []
    for service in rendered.of_kind("Service"):
        selector = service["spec"].get("selector") or {}
        namespace = service["metadata"]["namespace"]
        if selector and any(p.namespace == namespace and selector.items() <= p.labels.items() for p in pods):
            slices.append(papi.EndpointSlice(namespace, service["metadata"]["name"], tuple(p.get("name", "") for p in service["spec"]["ports"]), ("n1",)))
    return papi.Inventory((), tuple(pods), tuple(slices))


def test_every_job_finds_the_workloads_the_platform_renders(rendered: Rendered, prometheus_config: Obj) -> None:
    # The live test asks every job to have a target when the cluster has something it should
    # scrape; here the "cluster" is the platform's own rendered workloads.
    jobs = {job["job_name"] for job in prometheus_config["scrape_configs"]}
    expected = papi.expected_jobs(prometheus_config, rendered_inventory(rendered))
    assert MADE_BY_OTHERS <= jobs
    assert expected == jobs - MADE_BY_OTHERS, "jobs that match none of their rendered workloads: %s" % sorted(jobs - MADE_BY_OTHERS - expected)
    # Without the Galera StatefulSet the mariadb job has nothing to scrape.
    cluster = rendered_inventory(rendered)
    without = papi.Inventory(cluster.nodes, tuple(p for p in cluster.pods if p.namespace != "mariadb"), cluster.slices)
    assert papi.expected_jobs(prometheus_config, without) == expected - {"mariadb"}


# Rendered Services whose pods get the selected labels from something else at run time.
SELECTED_AT_RUN_TIME = {
    ("calico-system", "felix-metrics"): "calico-node pods, made by the Tigera operator",
    ("mariadb", "mariadb-galera"): "the writer label, which the elector keeps on exactly one ready member",
}


def test_every_rendered_service_selects_a_rendered_workload(rendered: Rendered) -> None:
    # ServiceWithoutEndpoints fires for a Service none of whose pods is ready: on a healthy
    # platform every Service must select pods that something makes. The rendered ones must select
    # a rendered workload's pod template (a typo in a selector would keep the alert firing).
    cluster = rendered_inventory(rendered)
    selecting = {(item.namespace, item.service) for item in cluster.slices}
    services = {(s["metadata"]["namespace"], s["metadata"]["name"]) for s in rendered.of_kind("Service")}
    assert services - selecting == set(SELECTED_AT_RUN_TIME), "Services that select no rendered workload: %s" % sorted(services - selecting)
