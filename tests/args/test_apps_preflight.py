"""playbooks/apps.yml refuses bad Galera and WordPress settings before anything is rendered or applied."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

import pytest

from project import render_stage, stopped_before_rendering

pytestmark = pytest.mark.slow

BAD = [
    pytest.param({"mariadb_galera_replicas": 4}, "mariadb_galera_replicas", id="galera-even-members"),
    pytest.param({"mariadb_galera_replicas": 1}, "mariadb_galera_replicas", id="galera-one-member"),
    pytest.param({"mariadb_galera_replicas": "three"}, "mariadb_galera_replicas", id="galera-members-not-int"),
    pytest.param({"mariadb_galera_storage_size": "10XB"}, "mariadb_galera_storage_size", id="galera-storage-size"),
    pytest.param({"mariadb_galera_backup_storage_size": "lots"}, "mariadb_galera_backup_storage_size", id="backup-storage-size"),
    pytest.param({"mariadb_galera_anti_affinity": "sometimes"}, "mariadb_galera_anti_affinity", id="galera-anti-affinity-choice"),
    pytest.param({"mariadb_galera_backup_schedule": "daily"}, "mariadb_galera_backup_schedule", id="backup-schedule"),
    pytest.param({"mariadb_galera_version": "latest"}, "mariadb_galera_image", id="galera-image-latest"),
    pytest.param({"mariadb_galera_liveness_grace": 3}, "mariadb_galera_liveness_grace", id="galera-liveness-grace"),
    pytest.param({"mariadb_galera_gcache_size": "lots"}, "mariadb_galera_gcache_size", id="galera-gcache-size"),
    pytest.param({"wordpress_replicas": 1}, "wordpress_replicas", id="wordpress-one-replica"),
    pytest.param({"wordpress_hpa_min_replicas": 5, "wordpress_hpa_max_replicas": 3}, "wordpress_hpa_min_replicas", id="hpa-min-above-max"),
    pytest.param({"wordpress_replicas": 12}, "wordpress_replicas", id="replicas-above-hpa-max"),
    pytest.param({"wordpress_uploads_storage_size": "10XB"}, "wordpress_uploads_storage_size", id="uploads-size"),
    pytest.param({"wordpress_hostname": "not a host"}, "wordpress_hostname", id="hostname"),
    pytest.param({"wordpress_resources": "lots"}, "wordpress_resources", id="resources-not-a-dict"),
]


def run_apps(tmp_path: Path, extra: Dict[str, Any]) -> tuple:
    return render_stage(tmp_path, "apps.yml", extra)


@pytest.mark.parametrize("extra, named", BAD)
def test_bad_setting_stops_before_anything_is_rendered(tmp_path: Path, extra: Dict[str, Any], named: str) -> None:
    output = stopped_before_rendering(*run_apps(tmp_path, extra))
    assert named in output, output[-3000:]
    assert "Render or apply" not in output.split("fatal:")[0].rsplit("TASK [", 1)[-1]


def test_valid_settings_render_both_roles(tmp_path: Path) -> None:
    result, target = run_apps(tmp_path, {"mariadb_galera_replicas": 5, "wordpress_replicas": 4, "platform_domain": "example.org"})
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert (target / "apps/mariadb_galera/40-statefulset.yaml").exists()
    assert "wordpress.example.org" in (target / "apps/wordpress/40-httproute-wordpress.yaml").read_text()
