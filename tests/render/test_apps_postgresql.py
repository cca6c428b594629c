"""The rendered PostgreSQL for Jira and Confluence (apps/postgresql and apps/postgresql_bootstrap):
the CloudNativePG Cluster, the owners' Secrets, the bootstrap Job and the backups of either
target. The pvc target is the session render of site.yml; the gcs target and the operator's
release manifest (a small stand-in shaped like it in the download directory, since nothing is
downloaded in tests) are rendered here."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml

import policies
from project import ROLES, ROOT, gce_inventory_backup_flow, run_playbook
from rendered import Rendered, container, only, under

Obj = Dict[str, Any]
PREFIX = "apps/postgresql/"
BOOTSTRAP = "apps/postgresql_bootstrap/"
DEFAULTS = yaml.safe_load((ROLES / "postgresql/defaults/main.yml").read_text())
KEY = {"type": "service_account", "client_email": "backup@p.iam.gserviceaccount.com", "private_key": "not-a-real-key"}


@pytest.fixture(scope="module")
def cluster(rendered: Rendered) -> Obj:
    return only(rendered, PREFIX, "Cluster", "atlassian-db")


@pytest.fixture(scope="module")
def job(rendered: Rendered) -> Obj:
    return only(rendered, BOOTSTRAP, "Job")


def render_apps(root: Path, *extra: str) -> Dict[str, List[Obj]]:
    """playbooks/apps.yml --tags postgresql into root/out; the objects by kind."""
    result = run_playbook(["playbooks/apps.yml", "--tags", "postgresql", "-e", "platform_render_dir=%s" % (root / "out"),
                           "-e", "platform_build_dir=%s" % root, *extra])
    assert result.returncode == 0, result.stdout[-4000:]
    by_kind: Dict[str, List[Obj]] = {}
    for path in sorted((root / "out").rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                by_kind.setdefault(doc["kind"], []).append(doc)
    return by_kind


@pytest.fixture(scope="module")
def gcs(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, List[Obj]]:
    root = tmp_path_factory.mktemp("postgresql-gcs")
    (root / "secrets").mkdir()
    (root / "secrets" / "gcs-backup-key.json").write_text(json.dumps(KEY))
    return render_apps(root, "-e", "platform_cloud=gce", "-e", "platform_backup_bucket=acme-platform-backups")


@pytest.fixture(scope="module")
def with_operator(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, List[Obj]]:
    root = tmp_path_factory.mktemp("postgresql-operator")
    downloads = root / "downloads" / "postgresql" / DEFAULTS["postgresql_version"]
    downloads.mkdir(parents=True)
    image = "ghcr.io/cloudnative-pg/cloudnative-pg:%s" % DEFAULTS["postgresql_version"]
    stand_in = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "cnpg-system"}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "cnpg-manager", "namespace": "cnpg-system"}},
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": "cnpg-controller-manager", "namespace": "cnpg-system"},
         "spec": {"replicas": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": "cloudnative-pg"}},
                  "template": {"metadata": {"labels": {"app.kubernetes.io/name": "cloudnative-pg"}},
                               "spec": {"containers": [{"name": "manager", "image": image,
                                                        "env": [{"name": "OPERATOR_IMAGE_NAME", "value": image}]}]}}}},
    ]
    (downloads / ("cnpg-%s.yaml" % DEFAULTS["postgresql_version"])).write_text(yaml.safe_dump_all(stand_in))
    return render_apps(root, "-e", "postgresql_operator_registry=registry.example.org")


# -- the cluster ------------------------------------------------------------------------------


def test_three_instances_named_as_the_apps_expect(cluster: Obj) -> None:
    assert cluster["metadata"]["namespace"] == "atlassian"
    assert cluster["spec"]["instances"] == 3
    # CloudNativePG names the read-write Service <cluster>-rw: atlassian-db-rw.atlassian.svc:5432.
    assert cluster["metadata"]["name"] + "-rw" == "atlassian-db-rw"


def test_instances_run_the_pinned_operand_image_through_the_registry_variable(cluster: Obj) -> None:
    image = cluster["spec"]["imageName"]
    assert policies.PINNED_IMAGE.match(image), image
    assert image == "%s/cloudnative-pg/postgresql:%s" % (DEFAULTS["postgresql_registry"], DEFAULTS["postgresql_image_tag"])
    assert DEFAULTS["postgresql_image_tag"] != "latest"


def test_instances_carry_the_matrix_labels(cluster: Obj) -> None:
    assert cluster["spec"]["inheritedMetadata"]["labels"]["app.kubernetes.io/name"] == "postgresql"


def test_resources_requests_and_memory_limit(cluster: Obj) -> None:
    resources = cluster["spec"]["resources"]
    assert resources["requests"]["cpu"] and resources["requests"]["memory"] and resources["limits"]["memory"]


def test_spread_over_nodes_and_zones(cluster: Obj) -> None:
    affinity = cluster["spec"]["affinity"]
    assert affinity == {"enablePodAntiAffinity": True, "podAntiAffinityType": "required", "topologyKey": "kubernetes.io/hostname"}
    (spread,) = cluster["spec"]["topologySpreadConstraints"]
    assert spread["topologyKey"] == "topology.kubernetes.io/zone" and spread["maxSkew"] == 1
    assert spread["labelSelector"]["matchLabels"] == {"cnpg.io/cluster": "atlassian-db", "cnpg.io/podRole": "instance"}


def test_data_and_wal_on_retained_volumes(cluster: Obj, rendered: Rendered) -> None:
    classes = {sc["metadata"]["name"]: sc for sc in rendered.of_kind("StorageClass")}
    for volume in ("storage", "walStorage"):
        name = cluster["spec"][volume]["storageClass"]
        assert classes[name]["reclaimPolicy"] == "Retain", (volume, name)


def test_the_operator_makes_and_owns_the_instances_pdb(cluster: Obj, rendered: Rendered) -> None:
    assert cluster["spec"]["enablePDB"] is True
    pdbs = under(rendered, PREFIX, "PodDisruptionBudget")
    assert [p["metadata"]["namespace"] for p in pdbs] == ["cnpg-system"]  # only the operator's own


def test_initdb_makes_the_first_database_with_its_locale(cluster: Obj) -> None:
    initdb = cluster["spec"]["bootstrap"]["initdb"]
    assert initdb == {"database": "jira", "owner": "jira", "secret": {"name": "jira-database"},
                      "encoding": "UTF8", "localeCollate": "C", "localeCType": "C"}


def test_pvc_target_has_no_object_store(cluster: Obj) -> None:
    assert "backup" not in cluster["spec"]


# -- Secrets --------------------------------------------------------------------------------


def test_owner_secrets_are_basic_auth_and_kept_across_runs(rendered: Rendered) -> None:
    secrets = {s["metadata"]["name"]: s for s in under(rendered, PREFIX, "Secret")}
    assert set(secrets) == {"jira-database", "confluence-database"}
    for name, owner in (("jira-database", "jira"), ("confluence-database", "confluence")):
        secret = secrets[name]
        assert secret["metadata"]["namespace"] == "atlassian" and secret["type"] == "kubernetes.io/basic-auth"
        assert set(secret["stringData"]) == {"username", "password"} and secret["stringData"]["username"] == owner
        assert len(secret["stringData"]["password"]) == 32
        kept = (rendered.build / "secrets" / ("postgresql-%s-password" % name)).read_text().strip()
        assert kept == secret["stringData"]["password"]
    assert secrets["jira-database"]["stringData"]["password"] != secrets["confluence-database"]["stringData"]["password"]


def test_jobs_mount_secrets_and_inline_none(job: Obj, rendered: Rendered) -> None:
    cron = only(rendered, PREFIX, "CronJob")
    passwords = [s["stringData"]["password"] for s in under(rendered, PREFIX, "Secret")]
    for workload in (job, cron):
        text = json.dumps(workload)
        assert not any(password in text for password in passwords)
        pod = policies.pod_spec(workload)
        for c in pod["containers"]:
            assert all("valueFrom" not in e for e in c.get("env", [])), c["name"]
        secret_volumes = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
        assert {"jira-database", "confluence-database"} <= secret_volumes
    assert "atlassian-db-superuser" in {v["secret"]["secretName"] for v in policies.pod_spec(job)["volumes"] if "secret" in v}


# -- bootstrap --------------------------------------------------------------------------------


def test_bootstrap_runs_the_roles_sql_file(rendered: Rendered, job: Obj) -> None:
    config = only(rendered, PREFIX, "ConfigMap", "atlassian-db-bootstrap")["data"]
    assert config["bootstrap-database.sql"] == (ROLES / "postgresql/files/bootstrap-database.sql").read_text().rstrip("\n")
    assert config["databases"].splitlines() == ["jira jira jira-database UTF8 C C",
                                                "confluence confluence confluence-database UTF8 en_US.UTF-8 en_US.UTF-8"]
    boot = container(job, "bootstrap")
    assert boot["command"] == ["/bin/bash", "/opt/bootstrap/bootstrap.sh"]
    assert {e["name"]: e["value"] for e in boot["env"]}["PGHOST"] == "atlassian-db-rw"
    assert policies.PINNED_IMAGE.match(boot["image"])


def test_bootstrap_job_is_renamed_when_its_inputs_change(tmp_path: Path, job: Obj) -> None:
    other = render_apps(tmp_path, "-e", json.dumps({"postgresql_databases": DEFAULTS["postgresql_databases"][:1]}))
    (renamed,) = other["Job"]
    assert renamed["metadata"]["name"].startswith("atlassian-db-bootstrap-")
    assert renamed["metadata"]["name"] != job["metadata"]["name"]


def test_jobs_run_restricted(job: Obj, rendered: Rendered) -> None:
    for workload in (job, only(rendered, PREFIX, "CronJob")):
        pod = policies.pod_spec(workload)
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["automountServiceAccountToken"] is False
        for c in pod["containers"]:
            assert c["securityContext"]["allowPrivilegeEscalation"] is False
            assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
            assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]


# -- backups --------------------------------------------------------------------------------


def test_pvc_target_dumps_nightly_to_a_retained_volume(rendered: Rendered) -> None:
    cron = only(rendered, PREFIX, "CronJob")
    assert cron["spec"]["schedule"] == DEFAULTS["postgresql_backup_schedule"]
    env = {e["name"]: e["value"] for e in container(cron, "backup")["env"]}
    assert env["BACKUP_RETENTION_DAYS"] == str(DEFAULTS["postgresql_backup_retention_days"])
    claim = only(rendered, PREFIX, "PersistentVolumeClaim")
    classes = {sc["metadata"]["name"]: sc for sc in rendered.of_kind("StorageClass")}
    assert classes[claim["spec"]["storageClassName"]]["reclaimPolicy"] == "Retain"
    volumes = {v["name"]: v for v in policies.pod_spec(cron)["volumes"]}
    assert volumes["backup"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert cron["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] == "postgresql-backup"


def test_gcs_target_archives_to_the_bucket_with_its_key(gcs: Dict[str, List[Obj]]) -> None:
    (cluster,) = gcs["Cluster"]
    store = cluster["spec"]["backup"]["barmanObjectStore"]
    assert store["destinationPath"] == "gs://acme-platform-backups/postgresql/atlassian-db"
    assert store["googleCredentials"] == {"applicationCredentials": {"name": "atlassian-db-backup-gcs", "key": "key.json"}}
    assert "retentionPolicy" not in cluster["spec"]["backup"]  # the bucket's account cannot delete
    (secret,) = [s for s in gcs["Secret"] if s["metadata"]["name"] == "atlassian-db-backup-gcs"]
    assert json.loads(secret["stringData"]["key.json"]) == KEY
    (scheduled,) = gcs["ScheduledBackup"]
    assert scheduled["spec"]["schedule"] == "0 " + DEFAULTS["postgresql_backup_schedule"]  # CNPG's seconds field
    assert scheduled["spec"]["cluster"] == {"name": "atlassian-db"} and scheduled["spec"]["method"] == "barmanObjectStore"
    assert "CronJob" not in gcs and "PersistentVolumeClaim" not in gcs


# -- the operator -----------------------------------------------------------------------------


def test_offline_render_says_the_release_manifest_is_left_out(rendered: Rendered) -> None:
    assert "upstream postgresql: left out (1 file(s))" in rendered.first.stdout
    assert not [path for path in rendered.files if path.startswith(PREFIX + "cnpg-")]


def test_release_manifest_is_applied_without_its_namespace_and_with_the_mirrors_image(with_operator: Dict[str, List[Obj]]) -> None:
    assert "Namespace" not in with_operator
    (deployment,) = with_operator["Deployment"]
    manager = deployment["spec"]["template"]["spec"]["containers"][0]
    image = "registry.example.org/cloudnative-pg/cloudnative-pg:%s" % DEFAULTS["postgresql_version"]
    assert manager["image"] == image and manager["env"] == [{"name": "OPERATOR_IMAGE_NAME", "value": image}]
    assert deployment["spec"]["replicas"] == DEFAULTS["postgresql_operator_replicas"] == 2
    (pdb,) = with_operator["PodDisruptionBudget"]
    assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]


def test_release_manifest_is_pinned_by_sha256() -> None:
    assert len(DEFAULTS["postgresql_operator_manifest_checksum"]) == 64
    assert "releases/cnpg-{{ postgresql_version }}.yaml" in DEFAULTS["postgresql_operator_manifest_url"]
    assert os.path.basename(DEFAULTS["postgresql_operator_manifest_url"]).startswith("cnpg-")


def test_restore_bootstraps_from_another_folder_of_the_bucket(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "gcs-backup-key.json").write_text(json.dumps(KEY))
    objects = render_apps(tmp_path, "-e", "platform_cloud=gce", "-e", "platform_backup_bucket=acme-platform-backups",
                          "-e", "postgresql_restore_bucket_path=postgresql/atlassian-db",
                          "-e", "postgresql_backup_bucket_path=postgresql/atlassian-db-20261201",
                          "-e", "postgresql_restore_target_time=2026-12-01T09:30:00Z")
    (cluster,) = objects["Cluster"]
    assert cluster["spec"]["bootstrap"] == {"recovery": {"source": "backup-source",
                                                         "recoveryTarget": {"targetTime": "2026-12-01T09:30:00Z"}}}
    (source,) = cluster["spec"]["externalClusters"]
    store = source["barmanObjectStore"]
    assert store["destinationPath"] == "gs://acme-platform-backups/postgresql/atlassian-db" and store["serverName"] == "atlassian-db"
    assert cluster["spec"]["backup"]["barmanObjectStore"]["destinationPath"] == "gs://acme-platform-backups/postgresql/atlassian-db-20261201"


def test_restore_into_the_folder_it_reads_is_refused(tmp_path: Path) -> None:
    result = run_playbook(["playbooks/apps.yml", "--tags", "postgresql", "-e", "platform_render_dir=%s" % (tmp_path / "out"),
                           "-e", "platform_cloud=gce", "-e", "platform_backup_bucket=acme-platform-backups",
                           "-e", "postgresql_restore_bucket_path=postgresql/atlassian-db"])
    assert result.returncode != 0
    assert "postgresql_restore_bucket_path 'postgresql/atlassian-db'" in result.stdout
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("bucket,expected", [(None, False), ("", False), ("acme-platform-backups", True)])
def test_the_gce_inventory_opens_the_bucket_flow_exactly_when_the_backups_go_there(tmp_path: Path, bucket: Any, expected: bool) -> None:
    """inventories/gce lets the instances reach Cloud Storage (optional flow postgresql_backup_bucket)
    under the same condition as the role's gcs default, evaluated by ansible from the inventory's
    own group_vars (a static copy: the dynamic inventory would call the Compute API)."""
    output = gce_inventory_backup_flow(tmp_path, "postgresql_backup_bucket", DEFAULTS["postgresql_backup_target"], bucket)
    assert "flow=%s target=%s" % (expected, "gcs" if expected else "pvc") in output
