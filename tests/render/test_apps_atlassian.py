"""The rendered Jira and Confluence (apps/jira, apps/confluence): Atlassian's pinned Data Center
images, the local home per node, database settings from the postgresql role's Secret, the proxy
settings behind the TLS gateway, probes, resources sized for the JVM, spreading and the budget;
the default (single node) on the session render of site.yml, clustered mode and a licence on
renders of playbooks/apps.yml."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml

import policies
from project import run_playbook
from rendered import Rendered, container, under

Obj = Dict[str, Any]
MIB = {"m": 1, "g": 1024}
APPS = {
    "jira": {"image": "docker.io/atlassian/jira-software:", "uid": 2001, "port": 8080, "db": "jira",
             "cluster_ports": {"ehcache": 40001, "ehcache-object": 40011}, "install": "/opt/atlassian/jira"},
    "confluence": {"image": "docker.io/atlassian/confluence:", "uid": 2002, "port": 8090, "db": "confluence",
                   "cluster_ports": {"hazelcast": 5701, "synchrony": 25500}, "install": "/opt/atlassian/confluence"},
}
# A string with the shape of an Atlassian licence (base64 text starting with AAA, the X02 marker).
FAKE_LICENSE = "AAAB" + "Qm9ndXNMaWNlbnNlRm9yUmVuZGVyVGVzdHM" * 8 + "X02abc"


def env_of(c: Obj) -> Dict[str, Obj]:
    return {e["name"]: e for e in c.get("env", [])}


def jvm_mib(text: str) -> int:
    match = re.fullmatch(r"([0-9]+)([mg])", text)
    assert match, text
    return int(match.group(1)) * MIB[match.group(2)]


def quantity_mib(text: str) -> float:
    match = re.fullmatch(r"([0-9]+)(Mi|Gi)", text)
    assert match, text
    return int(match.group(1)) * (1024 if match.group(2) == "Gi" else 1)


def objects_in(tree: Dict[str, List[Obj]], app: str) -> List[Obj]:
    return [o for path, objs in tree.items() if path.startswith("apps/%s/" % app) for o in objs]


def one_of(objects: List[Obj], kind: str, name: str = "") -> Obj:
    found = [o for o in objects if o["kind"] == kind and (not name or o["metadata"]["name"] == name)]
    assert len(found) == 1, "%s %s: %d" % (kind, name, len(found))
    return found[0]


@pytest.fixture(scope="module", params=sorted(APPS))
def app(request: pytest.FixtureRequest, rendered: Rendered) -> Dict[str, Any]:
    name = request.param
    objects = under(rendered, "apps/%s/" % name, "StatefulSet")
    assert len(objects) == 1
    everything = [o for path, objs in rendered.files.items() if path.startswith("apps/%s/" % name) for o in objs]
    return dict(APPS[name], name=name, sts=objects[0], objects=everything)


def test_official_data_center_image_pinned_with_the_registry_prefix(app: Dict[str, Any]) -> None:
    image = container(app["sts"], app["name"])["image"]
    assert image.startswith(app["image"]) and re.search(r":[0-9]+\.[0-9]+\.[0-9]+$", image), image
    assert not policies.image_problems(app["sts"])


def test_runs_as_the_images_user_without_privileges(app: Dict[str, Any]) -> None:
    pod = policies.pod_spec(app["sts"])
    assert pod["securityContext"]["runAsUser"] == app["uid"] and pod["securityContext"]["fsGroup"] == app["uid"]
    assert not policies.security_context_problems(app["sts"], [])
    assert pod["automountServiceAccountToken"] is False


def test_single_node_by_default_with_a_local_home_kept_on_its_own_volume(app: Dict[str, Any]) -> None:
    sts = app["sts"]
    assert sts["spec"]["replicas"] == 1 and sts["spec"]["podManagementPolicy"] == "OrderedReady"
    assert sts["spec"]["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    claim = sts["spec"]["volumeClaimTemplates"][0]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"] and claim["spec"]["storageClassName"] == "standard-rwo-retain"
    mounts = {m["name"]: m["mountPath"] for m in container(sts, app["name"])["volumeMounts"]}
    assert mounts["local-home"] == "/var/atlassian/application-data/%s" % app["name"]
    assert "shared-home" not in mounts
    assert not [o for o in app["objects"] if o["kind"] == "PersistentVolumeClaim"]


def test_database_settings_come_from_the_postgresql_secret(app: Dict[str, Any]) -> None:
    env = env_of(container(app["sts"], app["name"]))
    assert env["ATL_JDBC_URL"]["value"] == "jdbc:postgresql://atlassian-db-rw.atlassian.svc:5432/%s" % app["db"]
    for variable, key in (("ATL_JDBC_USER", "username"), ("ATL_JDBC_PASSWORD", "password")):
        assert "value" not in env[variable]
        assert env[variable]["valueFrom"]["secretKeyRef"] == {"name": "%s-database" % app["db"], "key": key}
    # The role references the postgresql role's Secret; it never renders (inlines) it.
    assert not [o for o in app["objects"] if o["kind"] == "Secret" and o["metadata"]["name"].endswith("-database")]


def test_proxy_settings_behind_the_tls_gateway(app: Dict[str, Any], rendered: Rendered) -> None:
    host = "%s.platform.example.test" % app["name"]
    env = env_of(container(app["sts"], app["name"]))
    assert {k: env[k]["value"] for k in ("ATL_PROXY_NAME", "ATL_PROXY_PORT", "ATL_TOMCAT_SCHEME", "ATL_TOMCAT_SECURE")} == {
        "ATL_PROXY_NAME": host, "ATL_PROXY_PORT": "443", "ATL_TOMCAT_SCHEME": "https", "ATL_TOMCAT_SECURE": "true"}
    # Started as non-root the entrypoint writes no server.xml: the mounted one carries the same settings.
    config = one_of(app["objects"], "ConfigMap")
    connector = ET.fromstring(config["data"]["server.xml"].encode()).find("./Service/Connector")
    assert connector is not None
    assert (connector.get("port"), connector.get("proxyName"), connector.get("proxyPort"), connector.get("scheme"), connector.get("secure")) == (
        str(app["port"]), host, "443", "https", "true")
    mount = next(m for m in container(app["sts"], app["name"])["volumeMounts"] if m.get("subPath") == "server.xml")
    assert mount["mountPath"] == app["install"] + "/conf/server.xml"


def test_route_and_service_reach_the_http_port(app: Dict[str, Any]) -> None:
    route = one_of(app["objects"], "HTTPRoute")
    assert route["spec"]["hostnames"] == ["%s.platform.example.test" % app["name"]]
    assert route["spec"]["parentRefs"][0]["sectionName"] == "https"
    backend = route["spec"]["rules"][0]["backendRefs"][0]
    service = one_of(app["objects"], "Service", backend["name"])
    assert service["spec"]["ports"][0]["port"] == backend["port"] == app["port"]
    assert policies.selects({"matchLabels": service["spec"]["selector"]}, policies.template_labels(app["sts"]))
    assert "sessionAffinity" not in service["spec"]  # one node: nothing to stick to


def test_probes_allow_a_first_start_of_minutes_on_status(app: Dict[str, Any]) -> None:
    c = container(app["sts"], app["name"])
    for probe in ("startupProbe", "readinessProbe"):
        assert c[probe]["httpGet"]["path"] == "/status", probe
    startup = c["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 600
    assert "livenessProbe" in c and not policies.probe_problems(app["sts"])


def test_memory_limit_holds_one_and_a_half_times_heap_and_code_cache(app: Dict[str, Any]) -> None:
    c = container(app["sts"], app["name"])
    env = env_of(c)
    needed = 1.5 * (jvm_mib(env["JVM_MAXIMUM_MEMORY"]["value"]) + jvm_mib(env["JVM_RESERVED_CODE_CACHE_SIZE"]["value"]))
    assert quantity_mib(c["resources"]["limits"]["memory"]) >= needed
    assert jvm_mib(env["JVM_MINIMUM_MEMORY"]["value"]) <= jvm_mib(env["JVM_MAXIMUM_MEMORY"]["value"])
    assert not policies.resource_problems(app["sts"])


def test_spread_over_nodes_and_zones_with_a_budget(app: Dict[str, Any]) -> None:
    spec = policies.pod_spec(app["sts"])
    assert {c["topologyKey"] for c in spec["topologySpreadConstraints"]} == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
    assert spec["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    budget = one_of(app["objects"], "PodDisruptionBudget")
    assert budget["spec"]["maxUnavailable"] == 1
    assert policies.selects(budget["spec"]["selector"], policies.template_labels(app["sts"]))


def test_no_licence_means_no_licence_secret_and_a_plain_message(app: Dict[str, Any], rendered: Rendered) -> None:
    assert not [o for o in app["objects"] if o["kind"] == "Secret" and o["metadata"]["name"].endswith("-license")]
    assert "ATL_LICENSE_KEY" not in env_of(container(app["sts"], app["name"]))
    # A render run deployed nothing: it says what an applied run does, and points at no site.
    assert "%s_license is empty: once applied, %s starts at its setup screen" % (app["name"], app["name"].capitalize()) in rendered.first.stdout
    assert "%s has no licence" % app["name"].capitalize() not in rendered.first.stdout


def test_admin_secret_is_generated_and_kept(app: Dict[str, Any], rendered: Rendered) -> None:
    secret = one_of(app["objects"], "Secret", "%s-admin" % app["name"])
    assert secret["type"] == "kubernetes.io/basic-auth"
    assert secret["stringData"]["username"] == "platform-admin" and len(secret["stringData"]["password"]) == 32
    # Kept on the controller too (build/secrets), so a second run renders the same password.
    kept = (rendered.build / "secrets" / ("%s-admin-password" % app["name"])).read_text().strip()
    assert kept == secret["stringData"]["password"]


# -- clustered mode and a licence (renders of playbooks/apps.yml) -------------------------------


def render_apps(tmp_path: Path, extra: Dict[str, Any]) -> Dict[str, List[Obj]]:
    target = tmp_path / "manifests"
    result = run_playbook(["playbooks/apps.yml", "--tags", "jira,confluence", "-e", "platform_render_dir=%s" % target,
                           "-e", json.dumps(extra)], timeout=300)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    return {str(p.relative_to(target)): [d for d in yaml.safe_load_all(p.read_text()) if d] for p in sorted(target.rglob("*.yaml"))}


@pytest.fixture(scope="module")
def clustered(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, List[Obj]]:
    return render_apps(tmp_path_factory.mktemp("clustered"), {
        "jira_replicas": 3, "jira_shared_home_storage_class": "shared-rwx",
        "confluence_replicas": 2, "confluence_shared_home_storage_class": "shared-rwx", "confluence_session_affinity": "route",
        "confluence_license": FAKE_LICENSE})


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(APPS))
def test_clustered_nodes_share_a_rwx_home_and_open_their_cluster_ports(clustered: Dict[str, List[Obj]], name: str) -> None:
    objects = objects_in(clustered, name)
    sts = one_of(objects, "StatefulSet")
    c = container(sts, name)
    pvc = one_of(objects, "PersistentVolumeClaim")
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"] and pvc["spec"]["storageClassName"] == "shared-rwx"
    volumes = {v["name"]: v for v in policies.pod_spec(sts)["volumes"]}
    assert volumes["shared-home"]["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
    assert {p["name"]: p["containerPort"] for p in c["ports"] if p["name"] != "http"} == APPS[name]["cluster_ports"]
    headless = one_of(objects, "Service", "%s-cluster" % name)
    assert headless["spec"]["clusterIP"] == "None" and sts["spec"]["serviceName"] == "%s-cluster" % name
    assert not policies.availability_problems(sts, [o for o in objects if o["kind"] == "PodDisruptionBudget"])


@pytest.mark.slow
def test_clustered_jira_nodes_have_ids_and_announce_their_pod_ip(clustered: Dict[str, List[Obj]]) -> None:
    objects = objects_in(clustered, "jira")
    env = env_of(container(one_of(objects, "StatefulSet"), "jira"))
    assert env["CLUSTERED"]["value"] == "true"
    assert env["JIRA_NODE_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["EHCACHE_LISTENER_HOSTNAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    assert (env["EHCACHE_LISTENER_PORT"]["value"], env["EHCACHE_OBJECT_PORT"]["value"]) == ("40001", "40011")
    assert env["JIRA_SHARED_HOME"]["value"] == "/var/atlassian/application-data/shared-home"
    service = one_of(objects, "Service", "jira")
    assert service["spec"]["sessionAffinity"] == "ClientIP"


@pytest.mark.slow
def test_clustered_confluence_lists_every_member_and_sticks_through_the_route(clustered: Dict[str, List[Obj]]) -> None:
    objects = objects_in(clustered, "confluence")
    env = env_of(container(one_of(objects, "StatefulSet"), "confluence"))
    assert env["ATL_CLUSTER_TYPE"]["value"] == "tcp_ip"
    assert env["ATL_CLUSTER_PEERS"]["value"].split(",") == [
        "confluence-%d.confluence-cluster.atlassian.svc" % i for i in range(2)]
    route = one_of(objects, "HTTPRoute")
    assert route["spec"]["rules"][0]["sessionPersistence"] == {"sessionName": "CONFLUENCE_ROUTE", "type": "Cookie"}
    assert "sessionAffinity" not in one_of(objects, "Service", "confluence")["spec"]


@pytest.mark.slow
def test_confluence_licence_reaches_the_image_from_a_secret(clustered: Dict[str, List[Obj]]) -> None:
    objects = objects_in(clustered, "confluence")
    secret = one_of(objects, "Secret", "confluence-license")
    assert secret["stringData"]["license-key"] == FAKE_LICENSE
    env = env_of(container(one_of(objects, "StatefulSet"), "confluence"))
    assert env["ATL_LICENSE_KEY"] == {"name": "ATL_LICENSE_KEY", "valueFrom": {"secretKeyRef": {"name": "confluence-license", "key": "license-key"}}}
    # Jira's image reads no licence: nothing of it in Jira's pods.
    jira = env_of(container(one_of(objects_in(clustered, "jira"), "StatefulSet"), "jira"))
    assert not [name for name in jira if "LICEN" in name]
