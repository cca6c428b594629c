"""A bad value stops a real run in preflight, before anything is rendered or changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from project import ROOT, run_playbook

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("extra, named", [
    ("namespaces_pod_security=bogus", "namespaces_pod_security"),
    ('{"namespaces_list": [{"name": "Not_A_Label"}]}', "namespaces_list"),
    ('{"namespaces_list": [{"name": "web", "pod_security": "baseline"}]}', "namespaces_list"),
    ("namespaces_pod_security_version=1.36", "namespaces_pod_security_version"),
])
def test_site_stops_in_preflight_naming_the_variable(tmp_path: Path, extra: str, named: str) -> None:
    target = tmp_path / "manifests"
    result = run_playbook(["site.yml", "-e", "platform_render_dir=%s" % target, "-e", extra])
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert named in output
    assert "PLAY [Preflight" in output and "PLAY [Security stage" not in output
    assert not target.exists(), "something was rendered although preflight failed"


def failed_task_output(output: str) -> str:
    """From the `fatal:` line to the PLAY RECAP: what the user reads about the failure."""
    start = output.index("fatal: ")
    return output[start:output.index("PLAY RECAP", start)]


def test_a_bad_value_is_one_short_message_with_the_value_and_what_is_allowed(tmp_path: Path) -> None:
    result = run_playbook(["site.yml", "-e", "namespaces_pod_security=bogus", "-e", "wordpress_replicas=many"])
    output = result.stdout + result.stderr
    assert result.returncode != 0
    failure = failed_task_output(output)
    assert "namespaces_pod_security must be one of: privileged, baseline, restricted, got: bogus" in failure
    assert "wordpress: wordpress_replicas is 'many'; it must be an int" in failure
    # Not the dumped argument spec Ansible's own validation prints (about 100 lines).
    assert len(failure.strip().splitlines()) <= 8, failure
    assert "argument_spec" not in output and "description:" not in output


GCE_FIRST_RUN = ["GCP_AUTH_KIND", "gce_project", "gce_network_admin_cidrs", "gce_instances_ssh_public_keys"]


def test_a_first_gce_run_lists_every_missing_setting_at_once(tmp_path: Path) -> None:
    """The shipped inventories/gce as a new user has it: nothing set, no key pair, no credentials."""
    env = {"HOME": str(tmp_path), "GCP_AUTH_KIND": "", "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"),
           "GOOGLE_APPLICATION_CREDENTIALS": str(tmp_path / "none.json"), "GCE_METADATA_HOST": "127.0.0.1:9"}
    result = run_playbook(["site.yml", "-i", "inventories/gce"], extra_env=env)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    failure = failed_task_output(output)
    assert "4 setting(s) to provide before a GCE run" in failure, failure
    positions = [failure.find(name) for name in GCE_FIRST_RUN]
    assert -1 not in positions and positions == sorted(positions), failure
    assert "PLAY [Infra stage" not in output


def test_the_gce_readme_lists_what_to_provide_in_the_order_preflight_checks_it() -> None:
    readme = (ROOT / "inventories/gce/README.md").read_text()
    section = readme[readme.index("## Before the first run"):]
    section = section[: section.index("\n## ", 3)]
    positions = [section.find("`%s`" % name) for name in GCE_FIRST_RUN]
    assert -1 not in positions and positions == sorted(positions), positions
