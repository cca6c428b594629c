"""The apps stage on a real cluster (KUBECONFIG): Galera members synced, one writer, WordPress
answering through the gateway, a written post surviving the loss of a Galera member and of a
WordPress pod, and playbooks/backup.yml + playbooks/restore.yml as a pair.

Skipped without KUBECONFIG, where the API server has no nodes (no pod can run), and where the
apps stage has not been applied. The HTTP check needs LIVE_WORDPRESS_URL (e.g.
https://wordpress.example.org/ or the gateway address with LIVE_WORDPRESS_HOST as Host header).
"""

from __future__ import annotations

import json
import os
import ssl
import time
import urllib.request
import uuid
from typing import Any, Dict, List

import pytest

from project import run_playbook

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not os.environ.get("KUBECONFIG"), reason="KUBECONFIG is not set: no cluster to check"),
    pytest.mark.usefixtures("cluster_with_nodes"),
]

GALERA_NS = os.environ.get("LIVE_GALERA_NAMESPACE", "mariadb")
GALERA = os.environ.get("LIVE_GALERA_NAME", "mariadb-galera")
WORDPRESS_NS = os.environ.get("LIVE_WORDPRESS_NAMESPACE", "wordpress")
WRITER_LABEL = "orchestrate.platform/galera-writer"
TIMEOUT = float(os.environ.get("LIVE_TIMEOUT", "600"))


@pytest.fixture(scope="module")
def replicas(api: Any) -> int:
    from kubernetes.client.exceptions import ApiException

    try:
        sts = api.AppsV1Api().read_namespaced_stateful_set(GALERA, GALERA_NS)
    except ApiException as exc:
        if exc.status == 404:
            pytest.skip("StatefulSet %s/%s not found: the apps stage is not applied to this cluster" % (GALERA_NS, GALERA))
        raise
    return int(sts.spec.replicas)


def members(api: Any) -> List[Any]:
    pods = api.CoreV1Api().list_namespaced_pod(GALERA_NS, label_selector="app.kubernetes.io/instance=%s,app.kubernetes.io/name=mariadb-galera" % GALERA)
    return sorted(pods.items, key=lambda p: p.metadata.name)


def is_ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))


def execute(api: Any, pod: str, command: List[str], namespace: str = GALERA_NS, container: str = "mariadb") -> str:
    from kubernetes.stream import stream

    return stream(api.CoreV1Api().connect_get_namespaced_pod_exec, pod, namespace, container=container,
                  command=command, stderr=True, stdin=False, stdout=True, tty=False)


def sql(api: Any, pod: str, statement: str) -> str:
    script = 'MYSQL_PWD="$(<"$MARIADB_ROOT_PASSWORD_FILE")" mariadb --protocol=socket -uroot -N -B "$MARIADB_DATABASE" -e "$1"'
    return execute(api, pod, ["/bin/bash", "-c", script, "sql", statement]).strip()


def report(api: Any, pod: str) -> Dict[str, Any]:
    return json.loads(execute(api, pod, ["/bin/bash", "/opt/galera/galera-probe.sh", "report"]).strip().splitlines()[-1])


def wait_all_ready(api: Any, count: int) -> None:
    deadline = time.time() + TIMEOUT
    while time.time() < deadline:
        pods = members(api)
        if len(pods) == count and all(is_ready(p) for p in pods):
            return
        time.sleep(5)
    pytest.fail("Galera members not all ready after %ds: %s" % (TIMEOUT, [(p.metadata.name, is_ready(p)) for p in members(api)]))


def writer(api: Any) -> str:
    holders = [p.metadata.name for p in members(api) if (p.metadata.labels or {}).get(WRITER_LABEL) == "true"]
    assert len(holders) == 1, "expected exactly one writer, got %s" % holders
    return holders[0]


def insert_post(api: Any, title: str) -> None:
    sql(api, writer(api), "INSERT INTO wp_posts (post_author, post_date, post_date_gmt, post_content, post_title, post_excerpt,"
        " post_status, post_name, to_ping, pinged, post_modified, post_modified_gmt, post_content_filtered, guid, post_type)"
        " VALUES (1, NOW(), UTC_TIMESTAMP(), 'live test', '%s', '', 'publish', '%s', '', '', NOW(), UTC_TIMESTAMP(), '', '', 'post')"
        % (title, title))


def count_posts(api: Any, pod: str, title: str) -> int:
    return int(sql(api, pod, "SELECT COUNT(*) FROM wp_posts WHERE post_title = '%s'" % title) or 0)


def test_every_member_is_synced_in_one_cluster(api: Any, replicas: int) -> None:
    wait_all_ready(api, replicas)
    for pod in members(api):
        status = report(api, pod.metadata.name)["status"]
        assert status["wsrep_local_state_comment"] == "Synced", status
        assert status["wsrep_cluster_status"] == "Primary", status
        assert int(status["wsrep_cluster_size"]) == replicas, status


def test_exactly_one_ready_writer(api: Any, replicas: int) -> None:
    wait_all_ready(api, replicas)
    name = writer(api)
    endpoints = api.CoreV1Api().read_namespaced_endpoints(GALERA, GALERA_NS)
    addresses = [a for s in endpoints.subsets or [] for a in s.addresses or []]
    assert [a.target_ref.name for a in addresses] == [name]


def test_wordpress_answers_through_the_gateway(api: Any) -> None:
    url = os.environ.get("LIVE_WORDPRESS_URL")
    if not url:
        pytest.skip("LIVE_WORDPRESS_URL is not set: no address of the gateway to test through")
    request = urllib.request.Request(url)
    if os.environ.get("LIVE_WORDPRESS_HOST"):
        request.add_header("Host", os.environ["LIVE_WORDPRESS_HOST"])
    context = ssl.create_default_context()
    if os.environ.get("LIVE_WORDPRESS_INSECURE"):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    with urllib.request.urlopen(request, context=context, timeout=30) as response:
        assert response.status == 200
        assert b"wp-content" in response.read()


def test_a_post_survives_losing_a_member_and_a_wordpress_pod(api: Any, replicas: int) -> None:
    wait_all_ready(api, replicas)
    title = "live-%s" % uuid.uuid4().hex[:10]
    insert_post(api, title)
    victim = writer(api)
    api.CoreV1Api().delete_namespaced_pod(victim, GALERA_NS)
    wordpress = api.CoreV1Api().list_namespaced_pod(WORDPRESS_NS, label_selector="app.kubernetes.io/name=wordpress").items
    if wordpress:
        api.CoreV1Api().delete_namespaced_pod(wordpress[0].metadata.name, WORDPRESS_NS)
    time.sleep(10)
    wait_all_ready(api, replicas)
    for pod in members(api):
        assert count_posts(api, pod.metadata.name, title) == 1, pod.metadata.name
    assert writer(api)


@pytest.mark.slow
def test_backup_then_restore_brings_a_deleted_post_back(api: Any, replicas: int) -> None:
    wait_all_ready(api, replicas)
    title = "live-backup-%s" % uuid.uuid4().hex[:10]
    insert_post(api, title)
    settings = ["-e", "platform_mode=apply", "-e", "platform_kubeconfig=%s" % os.environ["KUBECONFIG"]]
    backup = run_playbook(["playbooks/backup.yml", *settings], timeout=int(TIMEOUT) + 120)
    assert backup.returncode == 0, backup.stdout[-3000:]
    name = backup.stdout.split("Backup ", 1)[1].split()[0]
    assert name.endswith(".sql.gz"), backup.stdout[-2000:]
    sql(api, writer(api), "DELETE FROM wp_posts WHERE post_title = '%s'" % title)
    assert count_posts(api, writer(api), title) == 0
    restore = run_playbook(["playbooks/restore.yml", *settings, "-e", "restore_file=%s" % name, "-e", "restore_confirm=yes"],
                           timeout=int(TIMEOUT) + 120)
    assert restore.returncode == 0, restore.stdout[-3000:]
    for pod in members(api):
        assert count_posts(api, pod.metadata.name, title) == 1, pod.metadata.name
