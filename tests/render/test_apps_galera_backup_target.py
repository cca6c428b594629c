"""Where the Galera backups go: a Cloud Storage bucket (gcs) or a Retain volume (pvc), and a
restore Job built for either. The pvc target is the session render of site.yml (the default
inventory); the gcs target is rendered here with a bucket and a service-account key file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml

import policies
from project import ROOT, gce_inventory_backup_flow, run_playbook
from rendered import Rendered, container, only

from ansible_collections.orchestrate.platform.plugins.filter.galera_backup import galera_restore_job_spec

Obj = Dict[str, Any]
PREFIX = "apps/mariadb_galera/"
KEY = {"type": "service_account", "client_email": "galera-backup@p.iam.gserviceaccount.com", "private_key": "not-a-real-key"}


def render_galera(root: Path, variables: Dict[str, Any]) -> Dict[str, List[Obj]]:
    """The mariadb_galera role rendered alone with `variables`, its objects by kind (the gcs
    target's key file is there, as the infra stage leaves it)."""
    secrets = root / "secrets"
    secrets.mkdir()
    (secrets / "gcs-backup-key.json").write_text(json.dumps(KEY))
    result = run_playbook(["playbooks/apps.yml", "--tags", "mariadb_galera", "-e", "platform_render_dir=%s" % (root / "out"),
                           "-e", "platform_secrets_dir=%s" % secrets, "-e", json.dumps(variables)])
    assert result.returncode == 0, result.stdout[-4000:]
    files = sorted((root / "out" / PREFIX).glob("*.yaml"))
    objects = [doc for path in files for doc in yaml.safe_load_all(path.read_text()) if doc]
    by_kind: Dict[str, List[Obj]] = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], []).append(obj)
    return by_kind


@pytest.fixture(scope="module")
def gcs(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, List[Obj]]:
    return render_galera(tmp_path_factory.mktemp("gcs"), {"platform_cloud": "gce", "platform_backup_bucket": "acme-galera-backups"})


def cronjob(objects: Dict[str, List[Obj]]) -> Obj:
    (found,) = [o for o in objects["CronJob"] if o["metadata"]["name"] == "mariadb-galera-backup"]
    return found


def volumes(workload: Obj) -> Dict[str, Obj]:
    return {v["name"]: v for v in policies.pod_spec(workload)["volumes"]}


def test_pvc_target_keeps_its_disk_when_the_claim_goes(rendered: Rendered) -> None:
    claim = only(rendered, PREFIX, "PersistentVolumeClaim", "mariadb-galera-backup")
    assert claim["spec"]["storageClassName"] == "standard-rwo-retain"
    classes = {o["metadata"]["name"]: o for o in rendered.of_kind("StorageClass")}
    assert classes["standard-rwo-retain"]["reclaimPolicy"] == "Retain"
    cron = only(rendered, PREFIX, "CronJob")
    assert [c["name"] for c in policies.pod_spec(cron)["containers"]] == ["backup"]
    assert volumes(cron)["backup"]["persistentVolumeClaim"]["claimName"] == "mariadb-galera-backup"


def test_gcs_target_dumps_then_uploads_with_its_own_key(gcs: Dict[str, List[Obj]]) -> None:
    cron = cronjob(gcs)
    pod = policies.pod_spec(cron)
    assert [c["name"] for c in pod["initContainers"]] == ["backup"]  # the dump, its own step
    assert [c["name"] for c in pod["containers"]] == ["upload"]
    upload = container(cron, "upload")
    assert upload["image"] == "docker.io/rclone/rclone:1.69.1" and not policies.image_problems(cron)
    env = {e["name"]: e.get("value") for e in upload["env"]}
    assert env["BACKUP_BUCKET"] == "acme-galera-backups" and env["BACKUP_BUCKET_PATH"] == "mariadb-galera"
    key_mount = next(m for m in upload["volumeMounts"] if m["name"] == "gcs-key")
    assert env["RCLONE_GCS_SERVICE_ACCOUNT_FILE"] == key_mount["mountPath"] + "/key.json" and key_mount["readOnly"]
    assert volumes(cron)["gcs-key"]["secret"]["secretName"] == "mariadb-galera-backup-gcs"
    assert "emptyDir" in volumes(cron)["backup"]  # nothing of the dump stays in the cluster
    assert all("valueFrom" not in e for e in upload["env"])
    assert upload["securityContext"]["readOnlyRootFilesystem"] is True
    assert "/bin/sh /opt/backup/backup-upload.sh" == " ".join(upload["command"])


def test_gcs_target_has_no_backup_volume_and_keeps_the_key_in_a_secret(gcs: Dict[str, List[Obj]]) -> None:
    assert not [o for o in gcs.get("PersistentVolumeClaim", []) if o["metadata"]["name"] == "mariadb-galera-backup"]
    (secret,) = [o for o in gcs["Secret"] if o["metadata"]["name"] == "mariadb-galera-backup-gcs"]
    assert json.loads(secret["stringData"]["key.json"]) == KEY
    (scripts,) = [o for o in gcs["ConfigMap"] if o["metadata"]["name"] == "mariadb-galera-backup"]
    assert "rclone copyto" in scripts["data"]["backup-upload.sh"] and "rclone lsf" in scripts["data"]["backup-download.sh"]


@pytest.mark.parametrize("variables", [
    {"platform_cloud": "gce"},                                                  # GCE without a bucket
    {"platform_cloud": "gce", "platform_backup_bucket": ""},                    # an empty name is no bucket
    {"platform_cloud": "none", "platform_backup_bucket": "acme-galera-backups"},  # a bucket alone is not GCE
], ids=["gce-no-bucket", "gce-empty-bucket", "bucket-off-gce"])
def test_the_bucket_is_the_default_only_on_gce_with_a_bucket_name(tmp_path: Path, variables: Dict[str, Any]) -> None:
    """As docs/runbooks/backup-restore.md says: gcs is the default on GCE once platform_backup_bucket
    names the bucket; otherwise the backups go to the Retain volume."""
    objects = render_galera(tmp_path, variables)
    cron = cronjob(objects)
    assert [c["name"] for c in policies.pod_spec(cron)["containers"]] == ["backup"]
    assert volumes(cron)["backup"]["persistentVolumeClaim"]["claimName"] == "mariadb-galera-backup"
    assert not [o for o in objects.get("Secret", []) if o["metadata"]["name"] == "mariadb-galera-backup-gcs"]


@pytest.mark.parametrize("bucket,expected", [(None, False), ("", False), ("acme-galera-backups", True)])
def test_the_gce_inventory_opens_the_bucket_flow_exactly_when_the_backups_go_there(tmp_path: Path, bucket: Any, expected: bool) -> None:
    """inventories/gce lets the backup pods reach Cloud Storage (optional flow galera_backup_bucket)
    under the same condition as mariadb_galera's gcs default, evaluated by ansible from the
    inventory's own group_vars (a static copy: the dynamic inventory would call the Compute API)."""
    defaults = yaml.safe_load((ROOT / "roles/mariadb_galera/defaults/main.yml").read_text())
    output = gce_inventory_backup_flow(tmp_path, "galera_backup_bucket", defaults["mariadb_galera_backup_target"], bucket)
    assert "flow=%s target=%s" % (expected, "gcs" if expected else "pvc") in output


def test_restore_from_the_volume(rendered: Rendered) -> None:
    spec = galera_restore_job_spec(only(rendered, PREFIX, "CronJob")["spec"]["jobTemplate"]["spec"], "latest")
    pod = spec["template"]["spec"]
    assert "initContainers" not in pod and [c["name"] for c in pod["containers"]] == ["restore"]
    assert pod["containers"][0]["command"] == ["/bin/bash", "/opt/backup/restore.sh", "latest"]
    assert {v["name"]: v for v in pod["volumes"]}["backup"]["persistentVolumeClaim"]["claimName"] == "mariadb-galera-backup"
    assert spec["backoffLimit"] == 0


def test_restore_from_the_bucket_downloads_first(gcs: Dict[str, List[Obj]]) -> None:
    template = cronjob(gcs)["spec"]["jobTemplate"]["spec"]
    spec = galera_restore_job_spec(template, "mariadb-galera-20261201T021700Z.sql.gz")
    pod = spec["template"]["spec"]
    (download,) = pod["initContainers"]
    assert download["name"] == "download" and download["image"].startswith("docker.io/rclone/rclone:")
    assert download["command"] == ["/bin/sh", "/opt/backup/backup-download.sh", "mariadb-galera-20261201T021700Z.sql.gz"]
    assert next(m for m in download["volumeMounts"] if m["mountPath"] == "/backup")["readOnly"] is False
    (restore,) = pod["containers"]
    assert restore["name"] == "restore" and restore["image"].startswith("docker.io/library/mariadb:")
    assert restore["command"][-1] == "mariadb-galera-20261201T021700Z.sql.gz"
    assert template["template"]["spec"]["containers"][0]["name"] == "upload"  # the template is not changed


def test_a_template_without_the_dump_is_refused() -> None:
    with pytest.raises(ValueError, match="no container named backup"):
        galera_restore_job_spec({"template": {"spec": {"containers": [{"name": "other"}]}}}, "latest")
