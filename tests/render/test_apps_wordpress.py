"""The rendered WordPress (apps/wordpress): replicas and spreading, the php-fpm + nginx pod,
shared uploads, keys and salts, autoscaler, gateway route, WP-Cron and the installation job.
Runs on the session render of site.yml."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml

from project import run_playbook

import policies
from rendered import Rendered, container, only, under

Obj = Dict[str, Any]
PREFIX = "apps/wordpress/"
SALTS = ["WORDPRESS_%s" % name for name in (
    "AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY", "NONCE_KEY", "AUTH_SALT", "SECURE_AUTH_SALT", "LOGGED_IN_SALT", "NONCE_SALT")]

def objects(rendered: Rendered, kind: str) -> List[Obj]:
    return under(rendered, PREFIX, kind)


def one(rendered: Rendered, kind: str, name: str = "") -> Obj:
    return only(rendered, PREFIX, kind, name)


@pytest.fixture(scope="module")
def deployment(rendered: Rendered) -> Obj:
    return one(rendered, "Deployment")


def env_of(c: Obj) -> Dict[str, Obj]:
    return {e["name"]: e for e in c.get("env", [])}


def workloads(rendered: Rendered) -> List[Obj]:
    return [o for kind in policies.WORKLOAD_KINDS for o in objects(rendered, kind)]


def test_at_least_three_replicas_spread_with_a_budget(deployment: Obj, rendered: Rendered) -> None:
    assert deployment["metadata"]["namespace"] == "wordpress"
    assert deployment["spec"]["replicas"] >= 3
    assert not policies.availability_problems(deployment, objects(rendered, "PodDisruptionBudget"))
    spread = {c["topologyKey"] for c in policies.pod_spec(deployment)["topologySpreadConstraints"]}
    assert spread == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
    assert policies.template_labels(deployment)["app.kubernetes.io/name"] == "wordpress"


def test_one_daemon_per_container_http_on_8080(deployment: Obj, rendered: Rendered) -> None:
    names = [c["name"] for c in policies.pod_spec(deployment)["containers"]]
    assert names == ["php-fpm", "nginx"]
    assert container(deployment, "php-fpm")["image"].endswith("-fpm")
    nginx = container(deployment, "nginx")
    assert "nginx-unprivileged" in nginx["image"] and nginx["ports"] == [{"name": "http", "containerPort": 8080}]
    service = one(rendered, "Service")
    assert service["spec"]["ports"][0]["port"] == 8080
    assert policies.selects({"matchLabels": service["spec"]["selector"]}, policies.template_labels(deployment))


def test_code_from_the_image_uploads_on_rwx(deployment: Obj, rendered: Rendered) -> None:
    spec = policies.pod_spec(deployment)
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert "emptyDir" in volumes["code"]
    claim = volumes["uploads"]["persistentVolumeClaim"]["claimName"]
    pvc = one(rendered, "PersistentVolumeClaim")
    assert pvc["metadata"]["name"] == claim
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"] and pvc["spec"]["storageClassName"] == "shared-rwx"
    mounts = {m["mountPath"]: m["name"] for m in container(deployment, "php-fpm")["volumeMounts"]}
    assert mounts["/var/www/html"] == "code" and mounts["/var/www/html/wp-content/uploads"] == "uploads"
    assert "/usr/src/wordpress" in " ".join(spec["initContainers"][0]["command"])


def mounted_secret_files(workload: Obj, c: Obj) -> Dict[str, str]:
    """Path of each file of a mounted Secret in container `c` -> (Secret name, key)."""
    volumes = {v["name"]: v for v in policies.pod_spec(workload).get("volumes", [])}
    files = {}
    for mount in c.get("volumeMounts", []):
        secret = volumes[mount["name"]].get("secret")
        if secret:
            for key in [i["key"] for i in secret.get("items", [])] or ["*"]:
                files[mount["mountPath"] + "/" + key] = (secret["secretName"], key)
    return files


def test_every_replica_and_job_shares_the_keys_and_salts_as_files(rendered: Rendered) -> None:
    secret = one(rendered, "Secret")
    code = [(w, c) for w in workloads(rendered) for c in policies.pod_spec(w)["containers"] if c["name"] != "nginx"]
    assert len(code) == 3  # php-fpm, wp-cron, install
    for workload, c in code:
        env = env_of(c)
        files = mounted_secret_files(workload, c)
        for name in SALTS + ["WORDPRESS_DB_PASSWORD"]:
            # The image's wp-config-docker.php reads <NAME>_FILE; the value itself is not in the environment.
            assert name not in env, "%s has %s in its environment" % (c["name"], name)
            path = env[name + "_FILE"]["value"]
            directory, key = path.rsplit("/", 1)
            assert files.get(path) == (secret["metadata"]["name"], key) or files.get(directory + "/*") == (secret["metadata"]["name"], "*")
            assert key in secret["stringData"]
    assert len(set(secret["stringData"].values())) == len(secret["stringData"])


def test_no_password_in_any_environment(rendered: Rendered) -> None:
    problems = [p for w in workloads(rendered) for p in policies.secret_env_problems(w)]
    assert not problems, "\n".join(problems)
    for workload in workloads(rendered):
        for c in policies.containers(workload):
            for env in c.get("env", []):
                if any(word in env["name"] for word in ("PASSWORD", "KEY", "SALT")):
                    assert env["name"].endswith("_FILE"), "%s inlines %s" % (policies.name(workload), env["name"])


def test_no_code_changes_from_wp_admin(rendered: Rendered) -> None:
    for workload in workloads(rendered):
        for c in policies.pod_spec(workload)["containers"]:
            if c["name"] != "nginx":
                assert "define('DISALLOW_FILE_MODS', true);" in env_of(c)["WORDPRESS_CONFIG_EXTRA"]["value"]


def test_wp_cron_off_in_pods_and_https_behind_the_gateway(deployment: Obj, rendered: Rendered) -> None:
    extra = env_of(container(deployment, "php-fpm"))["WORDPRESS_CONFIG_EXTRA"]["value"]
    assert "define('DISABLE_WP_CRON', true);" in extra
    assert "define('WP_HOME', 'https://wordpress.platform.example.test');" in extra
    nginx_conf = one(rendered, "ConfigMap")["data"]["default.conf"]
    assert "$http_x_forwarded_proto" in nginx_conf and "fastcgi_param HTTPS" in nginx_conf


def test_wp_cron_runs_from_one_cronjob(rendered: Rendered) -> None:
    cron = one(rendered, "CronJob")
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert cron["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] == "wordpress-cron"
    assert policies.pod_spec(cron)["containers"][0]["command"][:4] == ["wp", "cron", "event", "run"]
    assert ":cli-" in policies.pod_spec(cron)["containers"][0]["image"]


def test_first_run_installation_is_idempotent(rendered: Rendered) -> None:
    job = one(rendered, "Job")
    script = policies.pod_spec(job)["containers"][0]["command"][-1]
    assert script.index("wp core is-installed") < script.index("wp core install")
    # The administrator's password comes from the mounted Secret on standard input.
    assert "--admin_password" not in script and '--prompt=admin_password <"${WP_ADMIN_PASSWORD_FILE}"' in script
    install = policies.pod_spec(job)["containers"][0]
    path = env_of(install)["WP_ADMIN_PASSWORD_FILE"]["value"]
    assert path.endswith("/admin-password") and path.rsplit("/", 1)[0] in [m["mountPath"] for m in install["volumeMounts"]]


def test_installed_site_gets_its_database_updated(rendered: Rendered) -> None:
    script = policies.pod_spec(one(rendered, "Job"))["containers"][0]["command"][-1]
    installed, fresh = script.split("fi;", 1)
    assert "wp core is-installed" in installed and "wp core update-db" in installed
    assert "wp core install" in fresh and "update-db" not in fresh


def test_a_new_wordpress_version_makes_a_new_install_job(rendered: Rendered, tmp_path: Path) -> None:
    """The Job that runs update-db is new for a new version (a Job's pod template cannot change)."""
    result = run_playbook(["playbooks/apps.yml", "--tags", "wordpress", "-e", "platform_render_dir=%s" % tmp_path,
                           "-e", "wordpress_version=7.1.2"])
    assert result.returncode == 0, result.stdout[-3000:]
    job = [d for d in yaml.safe_load_all((tmp_path / PREFIX / "60-job-install.yaml").read_text()) if d][0]
    assert job["metadata"]["name"] != one(rendered, "Job")["metadata"]["name"]
    assert ":7.1.2-" in policies.pod_spec(job)["initContainers"][0]["image"]


def test_autoscaler_on_cpu_within_bounds(deployment: Obj, rendered: Rendered) -> None:
    hpa = one(rendered, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 10)
    assert hpa["spec"]["minReplicas"] <= deployment["spec"]["replicas"] <= hpa["spec"]["maxReplicas"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    assert all("cpu" in c["resources"]["requests"] for c in policies.pod_spec(deployment)["containers"])


def test_route_on_the_platform_gateway(rendered: Rendered) -> None:
    route = one(rendered, "HTTPRoute")
    parent = route["spec"]["parentRefs"][0]
    assert (parent["name"], parent["namespace"], parent["sectionName"]) == ("platform", "gateway", "https")
    assert route["spec"]["hostnames"] == ["wordpress.platform.example.test"]
    assert route["spec"]["rules"][0]["backendRefs"] == [{"name": "wordpress", "port": 8080}]


def test_probes_on_every_container(deployment: Obj) -> None:
    assert not policies.probe_problems(deployment)
    assert container(deployment, "nginx")["readinessProbe"]["httpGet"]["path"] == "/fpm-ping"
    assert "startupProbe" in container(deployment, "php-fpm")


WORKLOAD_RULES = {
    "images": policies.image_problems,
    "resources": policies.resource_problems,
    "security": lambda w: policies.security_context_problems(w, []),
}


@pytest.mark.parametrize("rule", sorted(WORKLOAD_RULES))
def test_platform_rules_hold_for_every_workload(rendered: Rendered, rule: str) -> None:
    problems = [p for w in workloads(rendered) for p in WORKLOAD_RULES[rule](w)]
    assert not problems, "\n".join(problems)
