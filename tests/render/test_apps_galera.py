"""The rendered MariaDB Galera cluster (apps/mariadb_galera): members, probes, storage, the
writer routing, secrets and backups. Runs on the session render of site.yml."""

from __future__ import annotations

from typing import Any, Dict, List

import pytest

import policies
from rendered import Rendered, container, only, under

Obj = Dict[str, Any]
PREFIX = "apps/mariadb_galera/"
POD_NAME = {"app.kubernetes.io/name": "mariadb-galera"}

def objects(rendered: Rendered, kind: str) -> List[Obj]:
    return under(rendered, PREFIX, kind)


def one(rendered: Rendered, kind: str, name: str = "") -> Obj:
    return only(rendered, PREFIX, kind, name)


@pytest.fixture(scope="module")
def sts(rendered: Rendered) -> Obj:
    return one(rendered, "StatefulSet")


def workloads(rendered: Rendered) -> List[Obj]:
    return [o for kind in policies.WORKLOAD_KINDS for o in objects(rendered, kind)]


def test_three_members_in_parallel_with_stable_names(sts: Obj, rendered: Rendered) -> None:
    assert sts["metadata"]["namespace"] == "mariadb"
    assert sts["spec"]["replicas"] == 3
    assert sts["spec"]["podManagementPolicy"] == "Parallel"
    peers = one(rendered, "Service", sts["spec"]["serviceName"])
    assert peers["spec"]["clusterIP"] == "None" and peers["spec"]["publishNotReadyAddresses"] is True
    assert {p["port"] for p in peers["spec"]["ports"]} >= {3306, 4444, 4567, 4568}


def test_pod_labels_are_the_network_policy_contract(sts: Obj, rendered: Rendered) -> None:
    assert policies.template_labels(sts)["app.kubernetes.io/name"] == "mariadb-galera"
    cron = one(rendered, "CronJob")
    assert cron["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] == "mariadb-backup"
    ports = {p["containerPort"] for c in policies.pod_spec(sts)["containers"] for p in c.get("ports", [])}
    assert ports == {3306, 4444, 4567, 4568, 9104}


def test_retained_data_volume_per_member(sts: Obj) -> None:
    claim = sts["spec"]["volumeClaimTemplates"][0]
    assert claim["spec"]["storageClassName"] == "standard-rwo-retain"
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert sts["spec"]["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    assert any(m["mountPath"] == "/var/lib/mysql" and m["name"] == claim["metadata"]["name"]
               for m in container(sts, "mariadb")["volumeMounts"])


def test_spread_over_nodes_and_zones(sts: Obj) -> None:
    spec = policies.pod_spec(sts)
    required = spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert required[0]["topologyKey"] == "kubernetes.io/hostname"
    assert policies.selects(required[0]["labelSelector"], policies.template_labels(sts))
    assert spec["topologySpreadConstraints"][0]["topologyKey"] == "topology.kubernetes.io/zone"


def test_disruption_budget_allows_one_member_down(sts: Obj, rendered: Rendered) -> None:
    budget = one(rendered, "PodDisruptionBudget")
    assert budget["spec"]["maxUnavailable"] == 1
    assert policies.selects(budget["spec"]["selector"], policies.template_labels(sts))


def test_probes_mean_synced_and_tolerate_state_transfers(sts: Obj, rendered: Rendered) -> None:
    mariadb = container(sts, "mariadb")
    assert mariadb["readinessProbe"]["exec"]["command"][-1] == "ready"
    assert mariadb["livenessProbe"]["exec"]["command"][-1] == "alive"
    startup = mariadb["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 1800
    probe_script = one(rendered, "ConfigMap", "mariadb-galera-config")["data"]["galera-probe.sh"]
    assert "wsrep_ready\\tON" in probe_script and "wsrep_local_state_comment\\tSynced" in probe_script
    assert ".sst" in probe_script


def test_entry_command_runs_the_bootstrap_logic(sts: Obj, rendered: Rendered) -> None:
    mariadb = container(sts, "mariadb")
    assert mariadb["command"] == ["/bin/bash", "/opt/galera/galera-start.sh"]
    config = one(rendered, "ConfigMap", "mariadb-galera-config")["data"]
    assert "choose_bootstrap" in config["galera-start.sh"] and "--wsrep-new-cluster" in config["galera-start.sh"]
    assert "wsrep_sst_method=mariabackup" in config["galera.cnf"]


def test_exporter_is_its_own_container(sts: Obj) -> None:
    exporter = container(sts, "exporter")
    assert "mysqld-exporter" in exporter["image"]
    assert "--mysqld.address=127.0.0.1:3306" in exporter["args"]
    assert len(policies.pod_spec(sts)["containers"]) == 2


def test_writer_service_selects_one_labelled_member(rendered: Rendered, sts: Obj) -> None:
    writer = one(rendered, "Service", "mariadb-galera")
    selector = writer["spec"]["selector"]
    assert selector.get("orchestrate.platform/galera-writer") == "true"
    assert all(policies.template_labels(sts).get(k) == v for k, v in selector.items() if k != "orchestrate.platform/galera-writer")
    elector = one(rendered, "Deployment", "mariadb-galera-elector")
    env = {e["name"]: e.get("value") for e in container(elector, "elector")["env"]}
    assert env["GALERA_WRITER_LABEL"] == "orchestrate.platform/galera-writer"
    role = one(rendered, "Role")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "patch"]}]
    code = one(rendered, "ConfigMap", "mariadb-galera-elector")["data"]
    assert "def galera_writer" in code["galera.py"] and "from galera import galera_writer" in code["galera-writer.py"]


def test_passwords_live_in_a_secret(rendered: Rendered) -> None:
    secret = one(rendered, "Secret")
    passwords = {k: v for k, v in secret["stringData"].items() if k.endswith("-password")}
    assert set(passwords) == {"root-password", "user-password", "sst-password", "exporter-password", "backup-password", "restore-password"}
    assert all(len(value) == 32 and value.isalnum() for value in passwords.values())
    # The exporter's client file is derived from its password, not kept on its own.
    assert set(secret["stringData"]) - set(passwords) == {"exporter.cnf"}
    assert secret["stringData"]["exporter.cnf"] == "[client]\npassword=%s\n" % passwords["exporter-password"]
    for workload in workloads(rendered):
        for c in policies.containers(workload):
            for env in c.get("env", []):
                if "PASSWORD" in env["name"] and not env["name"].endswith("_FILE"):
                    assert "value" not in env, "%s inlines %s" % (policies.name(workload), env["name"])


FILE_CONTAINERS = [("StatefulSet", "mariadb"), ("CronJob", "backup")]


@pytest.mark.parametrize("kind", ["StatefulSet", "CronJob"])
def test_no_container_takes_a_password_from_the_environment(rendered: Rendered, kind: str) -> None:
    assert not policies.secret_env_problems(one(rendered, kind))


def test_the_exporter_reads_its_password_from_a_mounted_client_file(sts: Obj, rendered: Rendered) -> None:
    exporter = container(sts, "exporter")
    flag = next(a for a in exporter["args"] if a.startswith("--config.my-cnf="))
    directory, _, file = flag.split("=", 1)[1].rpartition("/")
    mount = next(m for m in exporter["volumeMounts"] if m["mountPath"] == directory)
    volume = next(v for v in policies.pod_spec(sts)["volumes"] if v["name"] == mount["name"])["secret"]
    assert mount["readOnly"] is True and volume["secretName"] == one(rendered, "Secret")["metadata"]["name"]
    assert volume["items"] == [{"key": "exporter.cnf", "path": file}]
    assert "--mysqld.username=exporter" in exporter["args"] and not exporter.get("env")


@pytest.mark.parametrize("kind, name", FILE_CONTAINERS)
def test_passwords_reach_mariadb_and_backup_as_mounted_files(rendered: Rendered, kind: str, name: str) -> None:
    workload = one(rendered, kind)
    assert not policies.secret_env_problems(workload, [name])
    assert not policies.secret_file_problems(workload, name, one(rendered, "Secret"))
    files = {e["name"] for e in container(workload, name)["env"] if e["name"].endswith("_PASSWORD_FILE")}
    expected = {"MARIADB_BACKUP_PASSWORD_FILE", "MARIADB_RESTORE_PASSWORD_FILE"}
    if kind == "StatefulSet":
        # The official image reads these two itself; the platform's scripts read the others.
        expected |= {"MARIADB_ROOT_PASSWORD_FILE", "MARIADB_PASSWORD_FILE", "GALERA_SST_PASSWORD_FILE", "MARIADB_EXPORTER_PASSWORD_FILE"}
    assert files == expected


def test_the_scripts_read_the_password_files(rendered: Rendered) -> None:
    config = one(rendered, "ConfigMap", "mariadb-galera-config")["data"]
    initdb = one(rendered, "ConfigMap", "mariadb-galera-initdb")["data"]["10-platform-users.sh"]
    backup = one(rendered, "ConfigMap", "mariadb-galera-backup")["data"]
    assert '$(<"$GALERA_SST_PASSWORD_FILE")' in config["galera-start.sh"]
    assert "MARIADB_ROOT_PASSWORD_FILE" in config["galera-probe.sh"]
    for variable in ("GALERA_SST", "MARIADB_EXPORTER", "MARIADB_BACKUP", "MARIADB_RESTORE"):
        assert '$(<"$%s_PASSWORD_FILE")' % variable in initdb
    assert '$(<"$MARIADB_BACKUP_PASSWORD_FILE")' in backup["backup.sh"]
    assert '$(<"$MARIADB_RESTORE_PASSWORD_FILE")' in backup["restore.sh"]


def test_mariadb_runs_on_a_read_only_root_with_writable_run_and_temp(sts: Obj) -> None:
    assert not policies.read_only_root_problems(sts, "mariadb", ["/var/lib/mysql", "/run/mysqld", "/tmp"])
    env = {e["name"]: e.get("value") for e in container(sts, "mariadb")["env"]}
    # The scripts' directories are the mounts (one source in vars/main.yml).
    assert env["GALERA_DATADIR"] == "/var/lib/mysql" and env["GALERA_RUN_DIR"] == "/run/mysqld"


def test_backup_job_runs_on_a_read_only_root(rendered: Rendered) -> None:
    assert not policies.read_only_root_problems(one(rendered, "CronJob"), "backup", ["/backup", "/tmp"])


def test_the_policies_catch_secret_variables_and_writable_roots() -> None:
    """The checks above are not vacuous: a password from secretKeyRef and a writable root fail."""
    bad = {"kind": "Deployment", "metadata": {"name": "db"}, "spec": {"template": {"spec": {
        "containers": [{"name": "db", "env": [{"name": "PW", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
                                               {"name": "PW_FILE", "value": "/secrets/other"}],
                        "volumeMounts": [{"name": "s", "mountPath": "/secrets"}, {"name": "cfg", "mountPath": "/tmp"}]}],
        "volumes": [{"name": "s", "secret": {"secretName": "s"}}, {"name": "cfg", "configMap": {"name": "c"}}]}}}}
    secret = {"kind": "Secret", "metadata": {"name": "s"}, "stringData": {"k": "x"}}
    assert policies.secret_env_problems(bad) and policies.secret_file_problems(bad, "db", secret)
    problems = policies.read_only_root_problems(bad, "db", ["/tmp", "/run"])
    assert len(problems) == 3, problems


def test_runtime_config_is_handed_to_mariadbd_not_included_from_a_fixed_path(rendered: Rendered) -> None:
    config = one(rendered, "ConfigMap", "mariadb-galera-config")["data"]
    assert "!includedir" not in config["galera.cnf"]
    assert '--defaults-extra-file="$RUNTIME_CNF"' in config["galera-start.sh"]
    assert "--wsrep_start_position" in config["galera-start.sh"]
    assert "gcache.size=512M" in config["galera.cnf"]


def test_secret_file_is_private(rendered: Rendered) -> None:
    path = next(p for p in rendered.files if p.startswith(PREFIX) and "-secret-" in p)
    assert (rendered.root / path).stat().st_mode & 0o077 == 0


def test_backup_cronjob_and_volume(rendered: Rendered) -> None:
    cron = one(rendered, "CronJob")
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    pod = policies.pod_spec(cron)
    claim = next(v for v in pod["volumes"] if v["name"] == "backup")["persistentVolumeClaim"]["claimName"]
    assert one(rendered, "PersistentVolumeClaim", claim)["spec"]["storageClassName"] == "standard-rwo-retain"  # the pvc target keeps its disk
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["BACKUP_RETENTION_DAYS"] == "7" and env["BACKUP_DATABASES"] == "wordpress"
    assert env["BACKUP_SOURCE_HOST"].startswith("mariadb-galera-read.")
    scripts = one(rendered, "ConfigMap", "mariadb-galera-backup")["data"]
    assert "--single-transaction" in scripts["backup.sh"] and "-mtime" in scripts["backup.sh"]


WORKLOAD_RULES = {
    "images": policies.image_problems,
    "resources": policies.resource_problems,
    "probes": policies.probe_problems,
    "security": lambda w: policies.security_context_problems(w, []),
}


@pytest.mark.parametrize("rule", sorted(WORKLOAD_RULES))
def test_platform_rules_hold_for_every_workload(rendered: Rendered, rule: str) -> None:
    problems = [p for w in workloads(rendered) for p in WORKLOAD_RULES[rule](w)]
    assert not problems, "\n".join(problems)


def test_restricted_pod_security_needs_seccomp(rendered: Rendered) -> None:
    for workload in workloads(rendered):
        assert policies.pod_spec(workload)["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
