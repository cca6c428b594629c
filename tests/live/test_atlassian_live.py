"""Jira and Confluence on a real cluster (KUBECONFIG): both StatefulSets Ready and both apps
answering /status through the platform gateway (RUNNING, or FIRST_RUN at the setup screen).

Skipped without KUBECONFIG, where the API server has no nodes (no pod can run), where the roles
have not been applied, and without LIVE_GATEWAY_URL (the gateway's HTTPS address, e.g.
https://203.0.113.10/ or https://jira.example.org/; each app is asked with its host name as Host
header). LIVE_ATLASSIAN_NAMESPACE (default atlassian), LIVE_JIRA_HOST / LIVE_CONFLUENCE_HOST
(default jira. / confluence.platform.example.test), LIVE_CA_FILE (the gateway's CA; verification
off without it) and LIVE_TIMEOUT (seconds, default 900: a first start takes minutes) adjust it.
"""

from __future__ import annotations

import json
import os
import ssl
import time
import urllib.error
import urllib.request
from typing import Any, Dict

import pytest

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not os.environ.get("KUBECONFIG"), reason="KUBECONFIG is not set: no cluster to check"),
    pytest.mark.usefixtures("cluster_with_nodes"),
]

NAMESPACE = os.environ.get("LIVE_ATLASSIAN_NAMESPACE", "atlassian")
HOSTS = {
    "jira": os.environ.get("LIVE_JIRA_HOST", "jira.platform.example.test"),
    "confluence": os.environ.get("LIVE_CONFLUENCE_HOST", "confluence.platform.example.test"),
}
TIMEOUT = float(os.environ.get("LIVE_TIMEOUT", "900"))
STATES = {"RUNNING", "FIRST_RUN"}


def ready_replicas(api: Any, name: str) -> int:
    from kubernetes.client.exceptions import ApiException

    try:
        sts = api.AppsV1Api().read_namespaced_stateful_set(name, NAMESPACE)
    except ApiException as exc:
        if exc.status == 404:
            pytest.skip("StatefulSet %s/%s not found: the %s role is not applied to this cluster" % (NAMESPACE, name, name))
        raise
    return int(sts.status.ready_replicas or 0)


def status_through_gateway(app: str) -> Dict[str, Any]:
    base = os.environ.get("LIVE_GATEWAY_URL")
    if not base:
        pytest.skip("LIVE_GATEWAY_URL is not set: no address of the gateway to test through")
    context = ssl.create_default_context(cafile=os.environ.get("LIVE_CA_FILE"))
    if not os.environ.get("LIVE_CA_FILE"):  # the platform's own CA is not in the system store
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    request = urllib.request.Request(base.rstrip("/") + "/status", headers={"Host": HOSTS[app]})
    with urllib.request.urlopen(request, timeout=30, context=context) as answer:  # noqa: S310 - https to the gateway
        return json.loads(answer.read().decode())


@pytest.mark.parametrize("app", ["jira", "confluence"])
def test_the_app_is_ready_and_answers_status_through_the_gateway(api: Any, app: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while ready_replicas(api, app) < 1:
        assert time.monotonic() < deadline, "%s/%s has no Ready pod after %.0f s" % (NAMESPACE, app, TIMEOUT)
        time.sleep(10)
    last: Any = None
    while time.monotonic() < deadline:
        try:
            answer = status_through_gateway(app)
            if answer.get("state") in STATES:
                return
            last = answer
        except (urllib.error.URLError, OSError, ValueError) as exc:
            last = exc
        time.sleep(10)
    pytest.fail("%s did not answer RUNNING or FIRST_RUN on /status through the gateway: last %r" % (app, last))
