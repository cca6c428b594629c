"""playbooks/apps.yml refuses bad Jira and Confluence settings with one error naming the variable,
before anything is rendered or applied (and never shows a licence it refuses)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

import pytest

from project import render_stage, stopped_before_rendering

pytestmark = pytest.mark.slow

NOT_A_LICENCE = "please-put-the-licence-here-before-going-live"
SMALL = {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "2Gi"}}

BAD = [
    pytest.param({"jira_jvm_max_heap": "4g"}, "jira_resources.limits.memory", id="jira-heap-above-memory"),
    pytest.param({"confluence_resources": SMALL}, "confluence_resources.limits.memory", id="confluence-memory-below-heap"),
    pytest.param({"jira_jvm_min_heap": "3g"}, "jira_jvm_min_heap", id="jira-min-heap-above-max"),
    pytest.param({"jira_jvm_max_heap": "2 GB"}, "jira_jvm_max_heap", id="jira-heap-not-a-size"),
    pytest.param({"jira_replicas": 2}, "jira_shared_home_storage_class", id="jira-clustered-without-rwx"),
    pytest.param({"confluence_replicas": 3, "confluence_shared_home_storage_class": "standard-rwo"},
                 "confluence_shared_home_storage_class", id="confluence-clustered-on-rwo"),
    pytest.param({"jira_database_host": ""}, "jira_database_host", id="jira-no-database-host"),
    pytest.param({"confluence_database_secret": ""}, "confluence_database_secret", id="confluence-no-database-secret"),
    pytest.param({"jira_database_port": 0}, "jira_database_port", id="jira-no-database-port"),
    pytest.param({"jira_license": NOT_A_LICENCE}, "jira_license", id="jira-licence-not-a-licence"),
    pytest.param({"confluence_license": NOT_A_LICENCE}, "confluence_license", id="confluence-licence-not-a-licence"),
    pytest.param({"jira_session_affinity": "cookie"}, "jira_session_affinity", id="jira-affinity-choice"),
    pytest.param({"confluence_version": "latest"}, "confluence_image", id="confluence-image-latest"),
]


def run_apps(tmp_path: Path, extra: Dict[str, Any]) -> tuple:
    return render_stage(tmp_path, "apps.yml", extra, tags="jira,confluence")


@pytest.mark.parametrize("extra, named", BAD)
def test_bad_setting_stops_before_anything_is_rendered(tmp_path: Path, extra: Dict[str, Any], named: str) -> None:
    output = stopped_before_rendering(*run_apps(tmp_path, extra))
    failure = output[output.index("fatal:"):] if "fatal:" in output else output
    assert named in failure, failure[:3000]
    assert "Render or apply" not in output.split("fatal:")[0].rsplit("TASK [", 1)[-1]
    assert NOT_A_LICENCE not in output, "a refused licence was shown"


def test_the_licence_check_accepts_a_licence_shaped_value_and_hides_it(tmp_path: Path) -> None:
    licence = "AAAB" + "TGljZW5zZVNoYXBlZFRleHRGb3JUZXN0cw" * 10 + "X02ab"
    result, target = run_apps(tmp_path, {"jira_license": licence, "confluence_license": licence})
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert licence not in output
    assert (target / "apps/confluence/11-secret-license.yaml").exists()
    assert (target / "apps/jira/11-secret-license.yaml").exists()
