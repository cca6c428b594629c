"""The HA test's prober and load Jobs as playbooks/ha_test.yml renders them: valid, bounded,
hardened, the prober's code is the tested module, and the NetworkPolicies rendered by site.yml
from the matrix let the prober and the load reach exactly what they need."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml

import policies
from project import ROOT, run_playbook
from rendered import Rendered, container, only
from test_schema import schema_errors, target_minor

sys.path.insert(0, str(ROOT / "tests" / "policy"))
from evaluator import Endpoint, Evaluator  # noqa: E402

Obj = Dict[str, Any]
PREFIX = "ha_test/ha_test/"


def render(tmp: Path, *extra: str) -> Rendered:
    args = ["playbooks/ha_test.yml", "-e", "platform_render_dir=%s" % tmp, "-e", "platform_secrets_dir=%s" % (tmp / "secrets"),
            *extra]
    result = run_playbook(args)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return Rendered(tmp, result, result)


@pytest.fixture(scope="module")
def ha(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    return render(tmp_path_factory.mktemp("ha-test"))


@pytest.fixture(scope="module")
def ha_without_writes(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    return render(tmp_path_factory.mktemp("ha-test-nowrites"), "-e", "ha_test_writes_enabled=false")


def defaults() -> Dict[str, Any]:
    return yaml.safe_load((ROOT / "roles/ha_test/defaults/main.yml").read_text())


def env(c: Obj) -> Dict[str, str]:
    return {e["name"]: e.get("value") for e in c.get("env") or []}


def test_render_mode_measures_nothing_and_says_so(ha: Rendered) -> None:
    assert "the HA test only renders its manifests" in ha.first.stdout
    assert "ha_experiment" not in ha.first.stdout


def test_every_object_is_valid_and_labelled(ha: Rendered) -> None:
    kinds = sorted(o["kind"] for o in ha.objects)
    assert kinds == ["ConfigMap", "Job", "Job", "Secret"]
    problems = [e for o in ha.objects for e in schema_errors(o, target_minor())]
    assert not problems, problems
    assert not policies.missing_managed_by(ha.objects)
    assert {o["metadata"]["namespace"] for o in ha.objects} == {"ha-test"}


@pytest.mark.parametrize("check", [policies.image_problems, policies.resource_problems, policies.secret_env_problems,
                                   lambda w: policies.security_context_problems(w, [])])
def test_jobs_follow_the_workload_rules(ha: Rendered, check: Any) -> None:
    problems = [p for job in ha.of_kind("Job") for p in check(job)]
    assert not problems, problems


def test_the_jobs_are_bounded_in_count_and_duration(ha: Rendered) -> None:
    values = defaults()
    prober = only(ha, PREFIX, "Job", "ha-prober")
    load = only(ha, PREFIX, "Job", "ha-prober-load")
    for job in (prober, load):
        spec = job["spec"]
        assert spec["backoffLimit"] == 0 and spec["template"]["spec"]["restartPolicy"] == "Never"
        assert spec["ttlSecondsAfterFinished"] > 0 and spec["template"]["spec"]["automountServiceAccountToken"] is False
    probe_env = env(container(prober, "prober"))
    assert int(probe_env["PROBE_MAX_SECONDS"]) == values["ha_test_probe_max_seconds"]
    assert int(probe_env["PROBE_COUNT"]) * float(probe_env["PROBE_INTERVAL"]) <= values["ha_test_probe_max_seconds"] + 1
    assert prober["spec"]["activeDeadlineSeconds"] > values["ha_test_probe_max_seconds"]
    load_env = env(container(load, "load"))
    assert int(load_env["PROBE_COUNT"]) == values["ha_test_load_requests"] and load_env["PROBE_EMIT"] == "summary"
    assert int(load_env["PROBE_MAX_SECONDS"]) == values["ha_test_load_max_seconds"]
    assert load["spec"]["activeDeadlineSeconds"] <= values["ha_test_load_max_seconds"] + 300
    assert load["spec"]["parallelism"] == load["spec"]["completions"] == values["ha_test_load_pods"]
    writer_env = env(container(prober, "writer"))
    assert int(writer_env["WRITER_COUNT"]) * float(writer_env["WRITER_INTERVAL"]) <= values["ha_test_probe_max_seconds"] + 1


def test_the_configmap_carries_the_tested_prober(ha: Rendered) -> None:
    data = only(ha, PREFIX, "ConfigMap")["data"]
    assert data["ha_probe.py"].strip() == (ROOT / "plugins/module_utils/ha_probe.py").read_text().strip()
    assert data["ha-writer.sh"].strip() == (ROOT / "roles/ha_test/files/ha-writer.sh").read_text().strip()


def test_the_password_reaches_the_writer_as_a_file(ha: Rendered) -> None:
    secret = only(ha, PREFIX, "Secret")
    assert len(secret["stringData"]["password"]) == 32
    prober = only(ha, PREFIX, "Job", "ha-prober")
    mounts = {m["name"]: m["mountPath"] for m in container(prober, "writer")["volumeMounts"]}
    assert env(container(prober, "writer"))["WRITER_PASSWORD_FILE"] == mounts["secrets"] + "/password"


def test_without_writes_there_is_no_writer_and_no_secret_volume(ha_without_writes: Rendered) -> None:
    prober = only(ha_without_writes, PREFIX, "Job", "ha-prober")
    assert [c["name"] for c in prober["spec"]["template"]["spec"]["containers"]] == ["prober"]
    assert "secrets" not in [v["name"] for v in prober["spec"]["template"]["spec"]["volumes"]]


# -- the NetworkPolicies of the matrix (rendered by site.yml) ----------------------------


def pod(workload: Obj, name: str) -> Endpoint:
    template = workload["spec"]["template"]
    ports = {p["name"]: (p.get("protocol", "TCP"), p["containerPort"])
             for c in template["spec"]["containers"] for p in c.get("ports") or [] if "name" in p}
    return Endpoint(name, workload["metadata"]["namespace"], template["metadata"]["labels"], named_ports=ports)


@pytest.fixture(scope="module")
def evaluator(rendered: Rendered) -> Evaluator:
    namespaces = {ns["metadata"]["name"]: ns["metadata"].get("labels") or {} for ns in rendered.of_kind("Namespace")}
    assert "ha-test" in namespaces, "the namespaces role does not render the ha-test namespace"
    return Evaluator(rendered.of_kind("NetworkPolicy"), namespaces)


def https_target_port(rendered: Rendered) -> int:
    """The gateway pods' port behind the Service port the prober's address names (443)."""
    address = defaults()["ha_test_gateway_address"]
    assert defaults()["ha_test_http_targets"][0]["address"] == "{{ ha_test_gateway_address }}"
    service_port = int(address.rsplit(":", 1)[1])
    service = only(rendered, "platform/gateway/", "Service", "gateway-proxy")
    target = next(p["targetPort"] for p in service["spec"]["ports"] if p["port"] == service_port)
    deployment = only(rendered, "platform/gateway/", "Deployment")
    return pod(deployment, "gateway").named_ports[target][1] if isinstance(target, str) else int(target)


def test_the_prober_and_the_load_reach_the_gateway_and_only_the_prober_the_database(
        ha: Rendered, rendered: Rendered, evaluator: Evaluator) -> None:
    prober = pod(only(ha, PREFIX, "Job", "ha-prober"), "ha-prober")
    load = pod(only(ha, PREFIX, "Job", "ha-prober-load"), "ha-load")
    gateway = pod(only(rendered, "platform/gateway/", "Deployment"), "gateway")
    galera = pod(only(rendered, "apps/mariadb_galera/", "StatefulSet"), "galera")
    wordpress = pod(only(rendered, "apps/wordpress/", "Deployment", "wordpress"), "wordpress")
    https = ("TCP", https_target_port(rendered))
    assert evaluator.allowed(prober, gateway, https) and evaluator.allowed(load, gateway, https)
    assert evaluator.allowed(prober, galera, ("TCP", 3306))
    assert not evaluator.allowed(load, galera, ("TCP", 3306)), "the load generator must not reach the database"
    assert not evaluator.allowed(prober, wordpress, ("TCP", 8080)), "the prober goes through the gateway, as users do"
    assert not evaluator.allowed(prober, galera, ("TCP", 4567))


@pytest.fixture(scope="module")
def ha_placed(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    extra = {"ha_test_node_selector": {"pool": "test"},
             "ha_test_tolerations": [{"key": "pool", "operator": "Equal", "value": "test", "effect": "NoSchedule"}],
             "ha_test_probe_jira": False, "ha_test_gateway_address": "gw.example.test:8443"}
    import json
    return render(tmp_path_factory.mktemp("ha-test-placed"), "-e", json.dumps(extra))


def targets(job: Obj, name: str) -> List[Obj]:
    import json
    return json.loads(env(container(job, name))["PROBE_TARGETS"])


def test_the_prober_also_probes_jira_confluence_kibana_and_grafana_through_the_gateway(ha: Rendered) -> None:
    found = {t["name"]: t for t in targets(only(ha, PREFIX, "Job", "ha-prober"), "prober")}
    assert list(found) == ["wordpress", "jira", "confluence", "kibana", "grafana"]
    assert found["jira"]["url"] == "https://jira.platform.example.test/status"
    assert found["confluence"]["url"] == "https://confluence.platform.example.test/status"
    assert found["kibana"]["url"] == "https://kibana.platform.example.test/login"
    assert found["grafana"]["url"] == "https://grafana.platform.example.test/api/health"
    assert {t["address"] for t in found.values()} == {"gateway-proxy.gateway.svc.cluster.local:443"}
    # only what the prober reads is passed on (not the Service it was found by)
    assert all(set(t) == {"name", "url", "address", "verify_tls"} for t in found.values())
    # the load stays on WordPress
    assert [t["name"] for t in targets(only(ha, PREFIX, "Job", "ha-prober-load"), "load")] == ["wordpress"]


def test_an_application_can_be_left_out_and_the_gateway_moved(ha_placed: Rendered) -> None:
    found = targets(only(ha_placed, PREFIX, "Job", "ha-prober"), "prober")
    assert [t["name"] for t in found] == ["wordpress", "confluence", "kibana", "grafana"]
    assert {t["address"] for t in found} == {"gw.example.test:8443"}


def test_the_jobs_can_be_placed_on_tainted_test_nodes(ha: Rendered, ha_placed: Rendered) -> None:
    for name in ("ha-prober", "ha-prober-load"):
        spec = only(ha_placed, PREFIX, "Job", name)["spec"]["template"]["spec"]
        assert spec["nodeSelector"] == {"pool": "test"}
        assert spec["tolerations"] == [{"key": "pool", "operator": "Equal", "value": "test", "effect": "NoSchedule"}]
        default = only(ha, PREFIX, "Job", name)["spec"]["template"]["spec"]
        assert "nodeSelector" not in default and "tolerations" not in default
