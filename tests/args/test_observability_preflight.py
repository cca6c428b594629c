"""playbooks/observability.yml refuses bad monitoring settings before anything is rendered or applied."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict

import pytest
import yaml

from project import render_stage, stopped_before_rendering

pytestmark = pytest.mark.slow

MAIL = {"name": "ops", "email": [{"to": "ops@example.org"}]}
SMTP = {"smarthost": "smtp.example.org:587", "from": "alerts@example.org", "auth_username": "alerts", "auth_password_key": "smtp-password"}

BAD = [
    pytest.param({"monitoring_prometheus_retention": "15 days"}, "monitoring_prometheus_retention", id="retention-format"),
    pytest.param({"monitoring_prometheus_retention": "0d"}, "monitoring_prometheus_retention", id="retention-zero"),
    pytest.param({"monitoring_scrape_interval": "30"}, "monitoring_scrape_interval", id="interval-without-unit"),
    pytest.param({"monitoring_scrape_timeout": "1m"}, "monitoring_scrape_timeout", id="timeout-longer-than-interval"),
    pytest.param({"monitoring_alertmanager_repeat_interval": "often"}, "monitoring_alertmanager_repeat_interval", id="repeat-interval"),
    pytest.param({"monitoring_prometheus_retention_size": "45G"}, "monitoring_prometheus_retention_size", id="retention-size-format"),
    pytest.param({"monitoring_prometheus_retention_size": "60GB"}, "monitoring_prometheus_retention_size", id="retention-size-above-volume"),
    pytest.param({"monitoring_prometheus_storage_size": "50 GB"}, "monitoring_prometheus_storage_size", id="storage-size"),
    pytest.param({"monitoring_prometheus_replicas": 0}, "monitoring_prometheus_replicas", id="prometheus-no-replica"),
    pytest.param({"monitoring_alertmanager_replicas": 2}, "monitoring_alertmanager_replicas", id="alertmanager-even"),
    pytest.param({"monitoring_alertmanager_replicas": "three"}, "monitoring_alertmanager_replicas", id="alertmanager-not-int"),
    pytest.param({"monitoring_prometheus_version": "latest"}, "monitoring_prometheus_version", id="version"),
    pytest.param({"monitoring_alertmanager_receivers": [{"email": [{"to": "a@example.org"}]}]}, "monitoring_alertmanager_receivers",
                 id="receiver-without-name"),
    pytest.param({"monitoring_alertmanager_receivers": [{"name": "ops"}]}, "monitoring_alertmanager_receivers", id="receiver-without-target"),
    pytest.param({"monitoring_alertmanager_receivers": [{"name": "ops", "email": [{}]}]}, "monitoring_alertmanager_receivers",
                 id="email-without-to"),
    pytest.param({"monitoring_alertmanager_receivers": [{"name": "ops", "webhook": [{"credentials_key": "k"}]}]},
                 "monitoring_alertmanager_receivers", id="webhook-without-url"),
    pytest.param({"monitoring_alertmanager_receivers": [MAIL]}, "monitoring_alertmanager_smtp", id="email-without-smtp"),
    pytest.param({"monitoring_alertmanager_receivers": [MAIL, MAIL], "monitoring_alertmanager_smtp": SMTP},
                 "monitoring_alertmanager_receivers", id="receiver-names-twice"),
    pytest.param({"monitoring_alertmanager_default_receiver": "pager"}, "monitoring_alertmanager_default_receiver", id="unknown-default"),
    pytest.param({"monitoring_alertmanager_smtp": {"smarthost": "smtp.example.org"}}, "monitoring_alertmanager_smtp", id="smtp-without-port"),
    pytest.param({"monitoring_blackbox_routes": [{"name": "x", "hostname": "not a host", "path": "/"}]}, "monitoring_blackbox_routes",
                 id="route-hostname"),
    pytest.param({"monitoring_prometheus_resources": {"requests": {"cpu": "1"}}}, "monitoring_prometheus_resources", id="resources"),
]


def run_stage(tmp_path: Path, extra: Dict[str, Any]) -> tuple:
    return render_stage(tmp_path, "observability.yml", extra)


@pytest.mark.parametrize("extra, named", BAD)
def test_bad_setting_stops_before_anything_is_rendered(tmp_path: Path, extra: Dict[str, Any], named: str) -> None:
    output = stopped_before_rendering(*run_stage(tmp_path, extra))
    assert named in output, output[-3000:]


def test_receivers_render_with_their_secret_files(tmp_path: Path) -> None:
    hook = {"name": "chat", "webhook": [{"url": "https://hooks.example.org/alerts", "credentials_key": "chat-token"}]}
    extra = {"monitoring_alertmanager_receivers": [MAIL, hook], "monitoring_alertmanager_smtp": SMTP,
             "monitoring_alertmanager_default_receiver": "ops", "monitoring_alertmanager_replicas": 5}
    result, target = run_stage(tmp_path, extra)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    configmap = yaml.safe_load((target / "observability/monitoring/22-configmap-alertmanager-config.yaml").read_text())
    config = yaml.safe_load(configmap["data"]["alertmanager.yml"])
    assert config["route"]["receiver"] == "ops"
    assert config["global"]["smtp_auth_password_file"] == "/etc/alertmanager/secrets/smtp-password"
    receivers = {r["name"]: r for r in config["receivers"]}
    assert receivers["ops"]["email_configs"] == [{"to": "ops@example.org", "send_resolved": True}]
    assert receivers["chat"]["webhook_configs"][0]["http_config"]["authorization"]["credentials_file"] == "/etc/alertmanager/secrets/chat-token"
    # Only file references: no password or token value is ever written into the configuration.
    assert "smtp_auth_password" not in config["global"]
    assert not [k for r in config["receivers"] for c in r.get("email_configs", []) for k in c if k == "auth_password"]
    (tmp_path / "alertmanager.yml").write_text(configmap["data"]["alertmanager.yml"])
    amtool = shutil.which("amtool")
    assert amtool, "amtool is missing: run scripts/install-system-deps.sh (Debian package prometheus-alertmanager)"
    checked = subprocess.run([amtool, "check-config", "alertmanager.yml"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert checked.returncode == 0 and "2 receivers" not in checked.stdout, checked.stdout + checked.stderr
    assert "3 receivers" in checked.stdout, checked.stdout
    statefulset = yaml.safe_load((target / "observability/monitoring/41-statefulset-alertmanager.yaml").read_text())
    assert len([a for a in statefulset["spec"]["template"]["spec"]["containers"][0]["args"] if a.startswith("--cluster.peer=")]) == 5
