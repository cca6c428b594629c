"""playbooks/apps.yml --tags postgresql refuses bad PostgreSQL settings with one message naming
the variable, before anything is rendered or applied."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

import pytest

from project import render_stage, stopped_before_rendering

pytestmark = pytest.mark.slow

JIRA = {"name": "jira", "owner": "jira", "secret": "jira-database", "encoding": "UTF8", "lc_collate": "C", "lc_ctype": "C"}


def databases(*changes: Dict[str, Any]) -> List[Dict[str, Any]]:
    return [dict(JIRA, **change) for change in changes]


def without(key: str) -> List[Dict[str, Any]]:
    entry = dict(JIRA)
    entry.pop(key)
    return [entry]


BAD = [
    pytest.param({"postgresql_databases": without("owner")}, "postgresql_databases", "owner", id="database-without-owner"),
    pytest.param({"postgresql_databases": without("secret")}, "postgresql_databases", "secret", id="database-without-secret"),
    pytest.param({"postgresql_databases": without("lc_collate")}, "postgresql_databases", "lc_collate", id="database-without-collation"),
    pytest.param({"postgresql_databases": []}, "postgresql_databases", "empty", id="no-database"),
    pytest.param({"postgresql_databases": "jira"}, "postgresql_databases", "list", id="databases-not-a-list"),
    pytest.param({"postgresql_databases": databases({"name": "Jira-DB"})}, "postgresql_databases[0]", "Jira-DB", id="bad-database-name"),
    pytest.param({"postgresql_databases": databases({"owner": "postgres"})}, "postgresql_databases[0]", "postgres", id="owner-is-superuser"),
    pytest.param({"postgresql_databases": databases({"secret": "Jira_Secret"})}, "postgresql_databases[0]", "Jira_Secret", id="bad-secret-name"),
    pytest.param({"postgresql_databases": databases({"encoding": "LATIN1"})}, "postgresql_databases[0]", "LATIN1", id="not-utf8"),
    pytest.param({"postgresql_databases": databases({}, {"name": "confluence"})}, "postgresql_databases", "own name, owner and Secret",
                 id="shared-owner"),
    pytest.param({"postgresql_cluster_name": "Atlassian_DB"}, "postgresql_cluster_name", "Atlassian_DB", id="bad-cluster-name"),
    pytest.param({"postgresql_instances": 2}, "postgresql_instances", "at least 3", id="two-instances"),
    pytest.param({"postgresql_instances": "three"}, "postgresql_instances", "int", id="instances-not-int"),
    pytest.param({"postgresql_storage_size": "10XB"}, "postgresql_storage_size", "10XB", id="storage-size"),
    pytest.param({"postgresql_anti_affinity": "sometimes"}, "postgresql_anti_affinity", "sometimes", id="anti-affinity-choice"),
    pytest.param({"postgresql_backup_target": "s3"}, "postgresql_backup_target", "s3", id="backup-target-choice"),
    pytest.param({"postgresql_backup_schedule": "daily"}, "postgresql_backup_schedule", "five cron fields", id="backup-schedule"),
    pytest.param({"postgresql_image_tag": "latest"}, "postgresql_image", "latest", id="image-latest"),
    pytest.param({"postgresql_registry": ""}, "postgresql_image", "<registry>", id="image-without-registry"),
]


def run_apps(tmp_path: Path, extra: Dict[str, Any]) -> tuple:
    return render_stage(tmp_path, "apps.yml", extra, tags="postgresql")


@pytest.mark.parametrize("extra, named, detail", BAD)
def test_bad_setting_stops_before_anything_is_rendered(tmp_path: Path, extra: Dict[str, Any], named: str, detail: str) -> None:
    output = stopped_before_rendering(*run_apps(tmp_path, extra))
    # One failed task (a loop over the databases fails on its bad entry only).
    failures = [line for line in output.splitlines() if line.startswith(("fatal:", "failed:"))]
    assert len(failures) == 1, output[-3000:]
    message = output[output.index(failures[0]):]
    assert named in message and detail in message, message[:3000]


def test_other_valid_databases_render(tmp_path: Path) -> None:
    wiki = {"name": "wiki", "owner": "wiki_owner", "secret": "wiki-database", "encoding": "UNICODE",
            "lc_collate": "en_GB.UTF-8", "lc_ctype": "en_GB.UTF-8"}
    result, target = run_apps(tmp_path, {"postgresql_databases": [wiki], "postgresql_instances": 5})
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    listing = (target / "apps/postgresql/15-configmap-bootstrap.yaml").read_text()
    assert "wiki wiki_owner wiki-database UNICODE en_GB.UTF-8 en_GB.UTF-8" in listing
    assert "instances: 5" in (target / "apps/postgresql/20-cluster.yaml").read_text()
