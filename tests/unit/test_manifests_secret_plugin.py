"""orchestrate.platform.manifests_secret through ansible-playbook (the action plugin on the
controller): the apps roles keep their values, never show them, and stop when the cluster
cannot be read instead of generating new passwords over the ones in use."""

from __future__ import annotations

from pathlib import Path

import pytest

from project import run_playbook

pytestmark = pytest.mark.slow

UNREACHABLE = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:9", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: not-a-secret}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
"""

# Every value the apps stage generates: 6 Galera passwords (WordPress shares the user's),
# WordPress's administrator and its 8 keys and salts, the two PostgreSQL database owners'
# passwords and the Jira and Confluence administrators'.
GENERATED = {
    *("mariadb-%s-password" % user for user in ("root", "sst", "backup", "exporter", "restore", "wordpress")),
    "wordpress-admin-password",
    *("wordpress-%s-%s" % (name, kind) for name in ("auth", "secure-auth", "logged-in", "nonce") for kind in ("key", "salt")),
    "postgresql-jira-database-password", "postgresql-confluence-database-password",
    "jira-admin-password", "confluence-admin-password",
}


def test_an_unreachable_cluster_stops_the_run_before_anything_is_generated(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(UNREACHABLE)
    secrets = tmp_path / "secrets"
    result = run_playbook(["playbooks/apps.yml", "--tags", "mariadb_galera", "-e", "platform_mode=apply",
                           "-e", "platform_kubeconfig=%s" % kubeconfig, "-e", "platform_secrets_dir=%s" % secrets])
    assert result.returncode != 0
    assert "cannot read Secret mariadb/mariadb-galera-credentials: cannot reach the API server at https://127.0.0.1:9" in result.stdout
    assert not secrets.exists()


def test_render_runs_keep_the_files_and_never_show_a_value(tmp_path: Path) -> None:
    secrets, render = tmp_path / "secrets", tmp_path / "manifests"
    args = ["playbooks/apps.yml", "-vvv", "-e", "platform_secrets_dir=%s" % secrets, "-e", "platform_render_dir=%s" % render]
    first = run_playbook(args)
    assert first.returncode == 0, first.stdout[-3000:]
    values = {path.name: path.read_text().strip() for path in secrets.iterdir()}
    assert set(values) == GENERATED and all(len(v) >= 32 for v in values.values())
    second = run_playbook(args)
    assert second.returncode == 0, second.stdout[-3000:]
    assert {path.name: path.read_text().strip() for path in secrets.iterdir()} == values
    for output in (first.stdout + first.stderr, second.stdout + second.stderr):
        shown = [name for name, value in values.items() if value in output]
        assert not shown, "the output shows the values of %s" % shown
    rendered = (render / "apps/wordpress/10-secret-credentials.yaml").read_text()
    assert values["mariadb-wordpress-password"] in rendered and values["wordpress-auth-key"] in rendered
