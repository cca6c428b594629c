"""The metadata-server block's Calico objects (Tier and GlobalNetworkPolicies,
crd.projectcalico.org/v1) against a real API server (KUBECONFIG) that serves Calico's CRDs:
a server-side dry run (dryRun=All) checks them against the CRDs' own schemas without storing
anything. Skipped without KUBECONFIG and where the Calico CRDs are not installed (the calico
role installs them with the operator; an API server without Calico has nothing to check them
against). Whether Felix enforces them needs Calico running on nodes: the GCE end-to-end run."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml

from project import run_playbook

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not os.environ.get("KUBECONFIG"), reason="KUBECONFIG is not set: no API server to check against"),
]

GROUP, VERSION = "crd.projectcalico.org", "v1"
PLURALS = {"Tier": "tiers", "GlobalNetworkPolicy": "globalnetworkpolicies"}


@pytest.fixture(scope="module")
def served(api: Any) -> None:
    names = {crd.metadata.name for crd in api.ApiextensionsV1Api().list_custom_resource_definition().items}
    missing = sorted("%s.%s" % (plural, GROUP) for plural in PLURALS.values() if "%s.%s" % (plural, GROUP) not in names)
    if missing:
        pytest.skip("the API server does not serve Calico's CRDs (%s): install Calico (the calico role) first" % ", ".join(missing))


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> List[Dict[str, Any]]:
    out = tmp_path_factory.mktemp("metadata-block")
    result = run_playbook(["playbooks/security.yml", "--tags", "network_policies", "-e", "platform_render_dir=%s" % out])
    assert result.returncode == 0, result.stdout[-4000:]
    objects = [doc for path in sorted((out / "security/network_policies").glob("3*.yaml"))
               for doc in yaml.safe_load_all(Path(path).read_text()) if doc]
    assert {o["kind"] for o in objects} == set(PLURALS)
    return objects


def test_the_api_server_accepts_the_tier_and_policies(api: Any, served: None, rendered: List[Dict[str, Any]]) -> None:
    from kubernetes.dynamic import DynamicClient

    dynamic = DynamicClient(api.ApiClient())
    for obj in rendered:
        resource = dynamic.resources.get(api_version="%s/%s" % (GROUP, VERSION), kind=obj["kind"])
        answer = resource.server_side_apply(body=obj, name=obj["metadata"]["name"], field_manager="orchestrate.platform-live-test",
                                            dry_run="All", force_conflicts=True).to_dict()
        assert answer["spec"] == obj["spec"], "the server changed or dropped fields of %s: %s" % (obj["metadata"]["name"], answer["spec"])
