"""The logging role as site.yml renders it: Elasticsearch (TLS from the role's CA, generated users,
heap from the memory limit, spread and budget), Fluent Bit (every container log, multi-line
joining, verified TLS with its own user, a file-system buffer), the index lifecycle, the
exporter, Kibana behind the gateway, and the monitoring ties."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from project import ROOT
from rendered import Rendered, container, only, under

Obj = Dict[str, Any]
PREFIX = "observability/logging/"
DEFAULTS = yaml.safe_load((ROOT / "roles/logging/defaults/main.yml").read_text())
VARS = yaml.safe_load((ROOT / "roles/logging/vars/main.yml").read_text())


def configmap(rendered: Rendered, name: str) -> Dict[str, str]:
    return only(rendered, PREFIX, "ConfigMap", name)["data"]


def secret(rendered: Rendered, name: str) -> Dict[str, str]:
    obj = only(rendered, PREFIX, "Secret", name)
    if "stringData" in obj:
        return obj["stringData"]
    return {key: base64.b64decode(value).decode() for key, value in obj["data"].items()}


def pod(workload: Obj) -> Obj:
    return workload["spec"]["template"]["spec"]


def volumes(workload: Obj) -> Dict[str, Obj]:
    return {v["name"]: v for v in pod(workload)["volumes"]}


def mounts(workload: Obj, name: str) -> Dict[str, str]:
    """Mount path -> volume name of one container."""
    return {m["mountPath"]: m["name"] for m in container(workload, name).get("volumeMounts", [])}


def mounted_secret_path(workload: Obj, name: str, secret_name: str, key: str) -> str:
    """Where a container sees `key` of Secret `secret_name`, or ''."""
    for path, volume in mounts(workload, name).items():
        source = volumes(workload)[volume].get("secret")
        if source and source["secretName"] == secret_name:
            items = {i["key"]: i["path"] for i in source.get("items", [])} or {key: key}
            if key in items:
                return "%s/%s" % (path, items[key])
    return ""


def quantity_mib(value: str) -> int:
    units = {"Mi": 1, "Gi": 1024, "Ti": 1024 * 1024}
    number, unit = re.match(r"^(\d+)(Mi|Gi|Ti)$", value).groups()  # type: ignore[union-attr]
    return int(number) * units[unit]


@pytest.fixture(scope="module")
def statefulset(rendered: Rendered) -> Obj:
    return only(rendered, PREFIX, "StatefulSet", "elasticsearch")


@pytest.fixture(scope="module")
def es_config(rendered: Rendered) -> Obj:
    return yaml.safe_load(configmap(rendered, "elasticsearch-config")["elasticsearch.yml"])


@pytest.fixture(scope="module")
def fluent_bit(rendered: Rendered) -> Obj:
    return yaml.safe_load(configmap(rendered, "fluent-bit-config")["fluent-bit.yaml"])


@pytest.fixture(scope="module")
def fluent_bit_output(rendered: Rendered) -> Obj:
    outputs = yaml.safe_load(secret(rendered, "fluent-bit-output")["output.yaml"])["pipeline"]["outputs"]
    assert len(outputs) == 1
    return outputs[0]


@pytest.fixture(scope="module")
def setup(rendered: Rendered) -> Dict[str, str]:
    return configmap(rendered, "logging-setup")


# -- Elasticsearch ----------------------------------------------------------------------------------


def test_elasticsearch_is_three_nodes_spread_with_a_budget_and_kept_volumes(rendered: Rendered, statefulset: Obj) -> None:
    assert statefulset["spec"]["replicas"] == 3
    spec = pod(statefulset)
    required = spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert [term["topologyKey"] for term in required] == ["kubernetes.io/hostname"]
    assert [c["topologyKey"] for c in spec["topologySpreadConstraints"]] == ["topology.kubernetes.io/zone"]
    assert statefulset["spec"]["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    claim = statefulset["spec"]["volumeClaimTemplates"][0]
    assert claim["spec"]["resources"]["requests"]["storage"] == DEFAULTS["logging_elasticsearch_storage_size"]
    assert mounts(statefulset, "elasticsearch")["/usr/share/elasticsearch/data"] == claim["metadata"]["name"]
    budget = only(rendered, PREFIX, "PodDisruptionBudget", "elasticsearch")
    assert budget["spec"] == {"maxUnavailable": 1, "selector": statefulset["spec"]["selector"]}


def test_the_heap_is_the_configured_share_of_the_memory_limit(statefulset: Obj) -> None:
    main = container(statefulset, "elasticsearch")
    env = {e["name"]: e.get("value") for e in main["env"]}
    limit = quantity_mib(main["resources"]["limits"]["memory"])
    heap = limit * DEFAULTS["logging_elasticsearch_heap_percent"] // 100
    assert env["ES_JAVA_OPTS"] == "-Xms%dm -Xmx%dm" % (heap, heap)
    assert heap <= limit // 2, "Elastic advises at most half of the memory for the heap"


ZONE_LABEL = "topology.kubernetes.io/zone"


def init_env(statefulset: Obj) -> Dict[str, Obj]:
    return {e["name"]: e for e in container(statefulset, "config")["env"]}


def test_each_node_knows_its_zone_and_allocation_is_aware_of_it(statefulset: Obj, es_config: Obj) -> None:
    """The init container gets the zone label that the API server copies from the node onto the pod
    (downward API: no API access, no RBAC) and Elasticsearch keeps a shard's copies in different
    zones by that attribute; forced awareness is off by default."""
    env = init_env(statefulset)
    assert env["NODE_ZONE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.labels['%s']" % ZONE_LABEL}}
    assert env["ZONE_UNLABELLED"]["value"] == VARS["_logging_es_zone_unlabelled"]
    assert pod(statefulset)["automountServiceAccountToken"] is False, "the zone needs no API access"
    assert es_config["cluster.routing.allocation.awareness.attributes"] == "zone"
    assert not [key for key in es_config if key.startswith("cluster.routing.allocation.awareness.force.")]
    assert DEFAULTS["logging_elasticsearch_zone_awareness"] is True
    assert DEFAULTS["logging_elasticsearch_zone_awareness_forced_zones"] == []


def test_the_init_container_copies_into_the_directory_elasticsearch_reads(statefulset: Obj) -> None:
    env = {name: item.get("value") for name, item in init_env(statefulset).items()}
    init_mounts, main_mounts = mounts(statefulset, "config"), mounts(statefulset, "elasticsearch")
    assert init_mounts[env["ES_CONFIG_DIR"]] == "config" and main_mounts[env["ES_IMAGE_CONFIG"]] == "config"
    assert init_mounts[env["ES_CONFIG_TEMPLATE"]] == "template"
    assert volumes(statefulset)["config"]["emptyDir"] and volumes(statefulset)["template"]["configMap"]["name"] == "elasticsearch-config"


def run_init(rendered: Rendered, statefulset: Obj, tmp_path: Path, zone: Any) -> tuple:
    """The rendered init.sh run for real by bash with the rendered ConfigMap and the init
    container's environment, its three directories moved under tmp_path (the image's config
    directory a stand-in with jvm.options). Returns the result and the elasticsearch.yml it wrote."""
    data = configmap(rendered, "elasticsearch-config")
    image, template, target = tmp_path / "image", tmp_path / "template", tmp_path / "config"
    for directory in (image, template, target):
        directory.mkdir()
    (image / "jvm.options").write_text("-XX:+UseG1GC\n")
    (image / "elasticsearch.yml").write_text("cluster.name: image-default\n")
    for key, text in data.items():
        (template / key).write_text(text)
    env = {name: item.get("value", "") for name, item in init_env(statefulset).items() if "value" in item}
    env.update({"ES_IMAGE_CONFIG": str(image), "ES_CONFIG_TEMPLATE": str(template), "ES_CONFIG_DIR": str(target),
                "PATH": "/usr/bin:/bin"})
    if zone is not None:
        env["NODE_ZONE"] = zone
    result = subprocess.run([shutil.which("bash") or "bash", str(template / "init.sh")], env=env, capture_output=True,
                            text=True, timeout=30, check=False)
    written = target / "elasticsearch.yml"
    return result, (yaml.safe_load(written.read_text()) if result.returncode == 0 else None), target


@pytest.mark.parametrize("zone", ["europe-west1-b", "zone_a.1"])
def test_the_init_script_writes_the_pods_zone_as_the_awareness_attribute(rendered: Rendered, statefulset: Obj,
                                                                         tmp_path: Path, zone: str) -> None:
    result, config, target = run_init(rendered, statefulset, tmp_path, zone)
    assert result.returncode == 0, result.stdout + result.stderr
    awareness = config["cluster.routing.allocation.awareness.attributes"]
    assert config["node.attr.%s" % awareness] == zone
    assert config["cluster.name"] == DEFAULTS["logging_elasticsearch_cluster_name"], "the role's elasticsearch.yml, not the image's"
    assert (target / "jvm.options").read_text() == "-XX:+UseG1GC\n", "the image's other config files are copied"


@pytest.mark.parametrize("zone", [None, ""], ids=["no-label", "empty"])
def test_a_pod_without_a_zone_label_joins_the_one_unlabelled_zone(rendered: Rendered, statefulset: Obj, tmp_path: Path, zone: Any) -> None:
    """Without the label (a node without a zone, or the admission plugin off) the attribute still has
    a value: Elasticsearch allocates shards only to nodes that have one."""
    result, config, _ = run_init(rendered, statefulset, tmp_path, zone)
    assert result.returncode == 0, result.stdout + result.stderr
    assert config["node.attr.zone"] == VARS["_logging_es_zone_unlabelled"]
    assert "no topology.kubernetes.io/zone label" in result.stdout


@pytest.mark.parametrize("zone", ["a zone", "-a", "x" * 64, "zone\nnode.roles: []"])
def test_the_init_script_refuses_a_zone_that_is_no_label_value(rendered: Rendered, statefulset: Obj, tmp_path: Path, zone: str) -> None:
    result, _, _ = run_init(rendered, statefulset, tmp_path, zone)
    assert result.returncode != 0 and "is not a label value" in result.stderr


def test_no_container_is_privileged_or_changes_the_host_kernel(rendered: Rendered) -> None:
    """vm.max_map_count comes from node_prereqs; no pod of the logging role runs privileged."""
    workloads = [obj for obj in rendered.objects if obj.get("kind") in ("StatefulSet", "Deployment", "DaemonSet", "Job")
                 and obj["metadata"].get("namespace") == "logging"]
    assert workloads
    for workload in workloads:
        spec = pod(workload)
        for item in spec.get("initContainers", []) + spec["containers"]:
            context = item.get("securityContext") or {}
            assert not context.get("privileged"), (workload["metadata"]["name"], item["name"])
            assert context.get("allowPrivilegeEscalation") is False, (workload["metadata"]["name"], item["name"])
            assert context.get("readOnlyRootFilesystem") is True, (workload["metadata"]["name"], item["name"])
            assert context["capabilities"]["drop"] == ["ALL"] and not context["capabilities"].get("add"), item["name"]
            assert "sysctl" not in " ".join(item.get("command", []) + item.get("args", [])), item["name"]
    node_prereqs = yaml.safe_load((ROOT / "roles/node_prereqs/defaults/main.yml").read_text())
    assert node_prereqs["node_prereqs_vm_max_map_count"] >= 262144


def test_security_and_tls_are_on_with_the_mounted_certificate(statefulset: Obj, es_config: Obj) -> None:
    assert es_config["xpack.security.enabled"] is True
    certs = mounts(statefulset, "elasticsearch")
    certs_dir = next(path for path, name in certs.items() if volumes(statefulset)[name].get("secret", {}).get("secretName") == "elasticsearch-certs")
    for layer in ("transport", "http"):
        assert es_config["xpack.security.%s.ssl.enabled" % layer] is True
        for setting, key in (("key", "tls.key"), ("certificate", "tls.crt")):
            assert "/usr/share/elasticsearch/config/" + es_config["xpack.security.%s.ssl.%s" % (layer, setting)] == "%s/%s" % (certs_dir, key)
        assert es_config["xpack.security.%s.ssl.certificate_authorities" % layer] == ["certs/ca.crt"]
    assert es_config["cluster.initial_master_nodes"] == ["elasticsearch-%d" % i for i in range(3)]
    assert es_config["discovery.seed_hosts"] == ["elasticsearch-nodes.logging.svc.cluster.local"]


def test_the_node_certificate_is_signed_by_the_ca_for_every_name_clients_use(rendered: Rendered) -> None:
    certs = secret(rendered, "elasticsearch-certs")
    ca = x509.load_pem_x509_certificate(certs["ca.crt"].encode())
    node = x509.load_pem_x509_certificate(certs["tls.crt"].encode())
    assert secret(rendered, "logging-ca")["ca.crt"] == certs["ca.crt"]
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert node.issuer == ca.subject
    ca.public_key().verify(node.signature, node.tbs_certificate_bytes, ec.ECDSA(node.signature_hash_algorithm))  # type: ignore[arg-type]
    names = node.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    for host in ("elasticsearch.logging.svc.cluster.local", "elasticsearch.logging.svc", "localhost",
                 "*.elasticsearch-nodes.logging.svc.cluster.local"):
        assert host in names, names


def test_generated_secrets_reach_pods_only_as_files(rendered: Rendered) -> None:
    values = [v for v in secret(rendered, "elasticsearch-credentials").values()]
    assert len(values) == len(VARS["_logging_secret_keys"]) and all(len(v) >= 32 for v in values)
    for obj in rendered.objects:
        if obj.get("kind") == "Secret":
            continue
        text = yaml.safe_dump(obj)
        assert not any(value in text for value in values), "a generated secret in %s %s" % (obj["kind"], obj["metadata"]["name"])
    for obj in rendered.objects:
        if obj.get("kind") in ("StatefulSet", "Deployment", "DaemonSet", "Job") and obj["metadata"].get("namespace") == "logging":
            for item in pod(obj).get("initContainers", []) + pod(obj)["containers"]:
                assert not [e for e in item.get("env", []) if "secretKeyRef" in (e.get("valueFrom") or {})], item["name"]


# -- index lifecycle and the setup Job --------------------------------------------------------------


def test_lifecycle_policy_and_template_follow_the_variables(setup: Dict[str, str]) -> None:
    import json

    policy = json.loads(setup["ilm-policy.json"])["policy"]["phases"]
    assert policy["hot"]["actions"]["rollover"] == {"max_primary_shard_size": DEFAULTS["logging_index_max_size"],
                                                   "max_age": DEFAULTS["logging_index_max_age"]}
    assert policy["delete"] == {"min_age": "%dd" % DEFAULTS["logging_retention_days"], "actions": {"delete": {}}}
    template = json.loads(setup["index-template.json"])
    names = dict(line.split("=", 1) for line in setup["names.env"].splitlines() if line)
    assert template["template"]["settings"]["index.lifecycle.name"] == names["ILM_POLICY"]
    assert "data_stream" in template and template["priority"] > 100, "must win over Elasticsearch's built-in logs-*-* template"
    assert re.fullmatch(template["index_patterns"][0].replace("*", ".*"), VARS["_logging_data_stream"])


def test_fluent_bit_and_the_exporter_get_least_privilege(setup: Dict[str, str], fluent_bit_output: Obj) -> None:
    import json

    writer = json.loads(setup["role-fluent-bit-writer.json"])
    assert writer["cluster"] == []
    assert [sorted(i["privileges"]) for i in writer["indices"]] == [["auto_configure", "create_doc"]]
    exporter = json.loads(setup["role-elasticsearch-exporter.json"])
    assert exporter["cluster"] == ["monitor"] and all(i["privileges"] == ["monitor"] for i in exporter["indices"])
    users = [line.split() for line in setup["users.txt"].splitlines() if line.strip()]
    assert ["fluent-bit", "fluent-bit-writer", "fluent-bit"] in users
    assert all("role-%s.json" % role in setup for _, role, _ in users)
    assert fluent_bit_output["http_user"] == "fluent-bit"


def test_setup_job_mounts_what_its_script_reads(rendered: Rendered, setup: Dict[str, str]) -> None:
    job = next(j for j in under(rendered, PREFIX, "Job") if j["metadata"]["name"].startswith("elasticsearch-setup-"))
    names = dict(line.split("=", 1) for line in setup["names.env"].splitlines() if line)
    keys = {key for _, _, key in (line.split() for line in setup["users.txt"].splitlines() if line.strip())} | {"elastic", "kibana-system"}
    for key in keys:
        assert mounted_secret_path(job, "setup", "elasticsearch-credentials", key) == "%s/%s" % (names["SECRETS"], key), key
    assert mounted_secret_path(job, "setup", "elasticsearch-certs", "ca.crt") == names["CA_FILE"]
    assert pod(job)["restartPolicy"] == "OnFailure" and job["spec"]["backoffLimit"] > 0


@pytest.mark.parametrize("script", ["elasticsearch-setup.sh", "kibana-setup.sh", "logging-setup-lib.sh", "elasticsearch-config.sh",
                                    "kibana-config.sh"])
def test_scripts_parse(script: str) -> None:
    result = subprocess.run([shutil.which("bash") or "bash", "-n", str(ROOT / "roles/logging/files" / script)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("job, script", [("34-job-elasticsearch-setup.yaml.j2", "elasticsearch-setup.sh"),
                                         ("64-job-kibana-setup.yaml.j2", "kibana-setup.sh")])
def test_a_setup_job_is_named_by_every_file_its_script_runs(setup: Dict[str, str], job: str, script: str) -> None:
    """A Job's pod template cannot change: its name hashes the script and every file the script
    sources, all of which the setup ConfigMap carries, so a changed file makes a new Job."""
    files = ROOT / "roles/logging/files"
    sourced = re.findall(r'^\. "\$here/([\w.-]+\.sh)"$', (files / script).read_text(), re.M)
    assert sourced, "the script sources the shared library"
    inputs = re.search(r"\{% set setup_inputs = \[(.*?)\] %\}", (ROOT / "roles/logging/templates" / job).read_text(), re.S)
    hashed = set(re.findall(r"/files/([\w.-]+)'\)", inputs.group(1)))  # type: ignore[union-attr]
    assert hashed == {script, *sourced}
    for name in hashed:
        assert setup[name] == (files / name).read_text().rstrip("\n") + "\n", name


# -- Fluent Bit -------------------------------------------------------------------------------------


def test_fluent_bit_reads_every_container_log_into_a_disk_buffer(rendered: Rendered, fluent_bit: Obj) -> None:
    daemonset = only(rendered, PREFIX, "DaemonSet", "fluent-bit")
    assert pod(daemonset)["tolerations"] == [{"operator": "Exists"}]
    tail = fluent_bit["pipeline"]["inputs"][0]
    assert tail["name"] == "tail" and tail["path"] == "/var/log/containers/*.log" and tail["multiline.parser"] == "cri"
    assert tail["storage.type"] == "filesystem"
    paths = mounts(daemonset, "fluent-bit")
    host = {name: v["hostPath"]["path"] for name, v in volumes(daemonset).items() if "hostPath" in v}
    buffer_mount = next(path for path, name in paths.items() if host.get(name) == DEFAULTS["logging_fluent_bit_buffer_path"])
    assert fluent_bit["service"]["storage.path"].startswith(buffer_mount + "/")
    assert tail["db"].startswith(buffer_mount + "/"), "read positions must outlive the pod"
    assert {"/var/log/containers", "/var/log/pods"} <= set(paths)
    filters = [f["name"] for f in fluent_bit["pipeline"]["filters"]]
    assert filters[-1] == "kubernetes" and set(filters[:-1]) == {"multiline"}
    assert fluent_bit["service"]["http_port"] == 2020
    assert [p["containerPort"] for p in container(daemonset, "fluent-bit")["ports"] if p["name"] == "metrics"] == [2020]


def test_the_output_verifies_tls_never_gives_up_and_bounds_the_buffer(rendered: Rendered, fluent_bit: Obj, fluent_bit_output: Obj) -> None:
    daemonset = only(rendered, PREFIX, "DaemonSet", "fluent-bit")
    assert fluent_bit["includes"] == [mounted_secret_path(daemonset, "fluent-bit", "fluent-bit-output", "output.yaml")]
    assert fluent_bit_output["tls"] == "on" and fluent_bit_output["tls.verify"] == "on"
    assert fluent_bit_output["tls.ca_file"] == mounted_secret_path(daemonset, "fluent-bit", "elasticsearch-certs", "ca.crt")
    assert fluent_bit_output["host"] == "elasticsearch.logging.svc.cluster.local" and fluent_bit_output["port"] == 9200
    assert fluent_bit_output["retry_limit"] == "no_limits"
    assert fluent_bit_output["storage.total_limit_size"] == DEFAULTS["logging_fluent_bit_buffer_limit"]
    assert fluent_bit_output["write_operation"] == "create" and fluent_bit_output["index"] == VARS["_logging_data_stream"]
    assert fluent_bit_output["http_passwd"] == secret(rendered, "elasticsearch-credentials")["fluent-bit"]


def joined(parser: Obj, lines: List[str]) -> List[str]:
    """Fluent Bit's regex multi-line state machine over `lines` (the rules' /.../ regexes, which
    use only syntax Onigmo and Python share): a line matching start_state opens a record, a line
    matching a rule of the current state is appended, anything else stands alone."""
    rules = [(r["state"], re.compile(r["regex"].strip("/")), r["next_state"]) for r in parser["rules"]]
    records: List[str] = []
    state = None
    for line in lines:
        if state is not None:
            follow = [nxt for st, regex, nxt in rules if st == state and regex.search(line)]
            if follow:
                records[-1] += "\n" + line
                state = follow[0]
                continue
        starts = [nxt for st, regex, nxt in rules if st == "start_state" and regex.search(line)]
        records.append(line)
        state = starts[0] if starts else None
    return records


JIRA = [
    "2026-11-30 10:00:00,001+0000 http-nio-8080-exec-1 INFO      [c.a.jira.startup] Jira started",
    "2026-11-30 10:00:01,002+0000 http-nio-8080-exec-2 ERROR     [c.a.j.web.servlet] Request failed",
    "java.lang.IllegalStateException: boom",
    "\tat com.atlassian.jira.web.Servlet.service(Servlet.java:42)",
    "\tat javax.servlet.http.HttpServlet.service(HttpServlet.java:764)",
    "Caused by: java.lang.NullPointerException",
    "\t... 12 more",
    "2026-11-30 10:00:02,003+0000 http-nio-8080-exec-3 INFO      [c.a.jira.web] Next request",
]
PHP = [
    "[Mon Nov 30 10:00:00.000000 2026] [php:notice] [pid 7] [client 10.0.0.1:1] PHP Fatal error:  Uncaught Exception: boom in /var/www/html/x.php:3",
    "Stack trace:",
    "#0 /var/www/html/index.php(17): run()",
    "#1 {main}",
    "  thrown in /var/www/html/x.php on line 3",
    '10.0.0.1 - - [30/Nov/2026:10:00:01 +0000] "GET / HTTP/1.1" 200 512',
]


def test_java_stack_traces_and_php_errors_are_joined(fluent_bit: Obj) -> None:
    parsers = {p["name"]: p for p in fluent_bit["multiline_parsers"]}
    java = joined(parsers["platform-java"], JIRA)
    assert len(java) == 3 and java[1].startswith(JIRA[1]) and java[1].endswith("\t... 12 more")
    assert java[0] == JIRA[0] and java[2] == JIRA[-1], "timestamped lines must stay records of their own"
    php = joined(parsers["platform-php"], PHP)
    assert len(php) == 2 and php[0].endswith("on line 3") and php[1] == PHP[-1]
    matches = {f["multiline.parser"]: f["match"] for f in fluent_bit["pipeline"]["filters"] if f["name"] == "multiline"}
    assert matches == {"platform-java": "kube.var.log.containers.*_atlassian_*", "platform-php": "kube.var.log.containers.*_wordpress_*"}


def test_fluent_bit_may_only_read_pods_and_namespaces(rendered: Rendered) -> None:
    role = only(rendered, PREFIX, "ClusterRole", "orchestrate-platform:fluent-bit")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods", "namespaces"], "verbs": ["get", "list", "watch"]}]
    binding = only(rendered, PREFIX, "ClusterRoleBinding", "orchestrate-platform:fluent-bit")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "fluent-bit", "namespace": "logging"}]


# -- Kibana and the monitoring ties -----------------------------------------------------------------


def test_kibana_is_behind_the_gateway_with_tls_to_elasticsearch(rendered: Rendered, setup: Dict[str, str]) -> None:
    import json

    route = only(rendered, PREFIX, "HTTPRoute", "kibana")
    assert route["spec"]["parentRefs"][0]["sectionName"] == "https"
    assert route["spec"]["rules"][0]["backendRefs"][0] == {"name": "kibana", "port": 5601}
    config = yaml.safe_load(configmap(rendered, "kibana-config")["kibana.yml"])
    assert config["elasticsearch.hosts"] == ["https://elasticsearch.logging.svc.cluster.local:9200"]
    assert config["elasticsearch.ssl.verificationMode"] == "full"
    kibana = only(rendered, PREFIX, "Deployment", "kibana")
    assert config["elasticsearch.ssl.certificateAuthorities"] == [mounted_secret_path(kibana, "kibana", "elasticsearch-certs", "ca.crt")]
    assert "elasticsearch.password" not in config, "the password is appended from the Secret by the init container"
    assert mounted_secret_path(kibana, "config", "elasticsearch-credentials", "kibana-system")
    images = {c["image"].rsplit(":", 1)[1] for c in pod(kibana)["containers"]}
    assert images == {container(only(rendered, PREFIX, "StatefulSet", "elasticsearch"), "elasticsearch")["image"].rsplit(":", 1)[1]}
    view = json.loads(setup["data-view.json"])
    assert view["override"] is True and view["data_view"]["timeFieldName"] == "@timestamp"
    template = json.loads(setup["index-template.json"])
    assert view["data_view"]["title"] == template["index_patterns"][0]
    assert any(j["metadata"]["name"].startswith("kibana-setup-") for j in under(rendered, PREFIX, "Job"))


def test_prometheus_scrapes_the_exporter_and_fluent_bit(rendered: Rendered) -> None:
    config = yaml.safe_load(only(rendered, "observability/monitoring/", "ConfigMap", "prometheus-config")["data"]["prometheus.yml"])
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["fluent-bit"]["metrics_path"] == "/api/v2/metrics/prometheus"
    assert "metrics_path" not in jobs["elasticsearch"]
    for name, workload in (("elasticsearch", only(rendered, PREFIX, "Deployment", "elasticsearch-exporter")),
                           ("fluent-bit", only(rendered, PREFIX, "DaemonSet", "fluent-bit"))):
        keep = [r for r in jobs[name]["relabel_configs"] if r.get("action") == "keep" and "app_kubernetes_io_name" in r["source_labels"][0]]
        assert keep and keep[0]["regex"] == workload["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"]
        assert jobs[name]["kubernetes_sd_configs"][0]["namespaces"]["names"] == ["logging"]
        assert any(p["name"] == "metrics" for c in pod(workload)["containers"] for p in c["ports"])


def test_grafana_reads_the_logs_with_its_own_user_over_verified_tls(rendered: Rendered, setup: Dict[str, str]) -> None:
    provisioning = only(rendered, "observability/monitoring/", "ConfigMap", "grafana-provisioning")["data"]
    sources = {d["uid"]: d for d in yaml.safe_load(provisioning["datasources.yml"])["datasources"]}
    es_source = sources["elasticsearch"]
    assert es_source["type"] == "elasticsearch" and es_source["url"] == "https://elasticsearch.logging.svc.cluster.local:9200"
    assert es_source["jsonData"]["tlsAuthWithCACert"] is True and es_source["jsonData"]["index"] == "logs-platform-*"
    users = {line.split()[0]: line.split() for line in setup["users.txt"].splitlines() if line.strip()}
    assert es_source["basicAuthUser"] in users and users[es_source["basicAuthUser"]][1] == "logs-reader"
    grafana = only(rendered, "observability/monitoring/", "Deployment", "grafana")
    copy = only(rendered, "observability/monitoring/", "Secret", "grafana-elasticsearch")["stringData"]
    for field, key in (("basicAuthPassword", "password"), ("tlsCACert", "ca.crt")):
        path = re.fullmatch(r"\$__file\{(.+)\}", es_source["secureJsonData"][field]).group(1)  # type: ignore[union-attr]
        assert path == mounted_secret_path(grafana, "grafana", "grafana-elasticsearch", key), field
    assert copy["password"] == secret(rendered, "elasticsearch-credentials")[users[es_source["basicAuthUser"]][2]]
    assert copy["ca.crt"] == secret(rendered, "elasticsearch-certs")["ca.crt"]
