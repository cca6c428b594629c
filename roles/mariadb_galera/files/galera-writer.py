"""Writer elector of the MariaDB Galera cluster: keeps the writer label on exactly one ready member.

The client Service selects the label, so writes go to one member at a time (no certification
conflicts between members). The member keeps the label while it stays ready; when it stops
being ready (killed, drained, desynced), the label moves to the ready member with the lowest
ordinal. The old writer loses the label before the new one gets it, so two members never hold
it at once. The choice is galera_writer() of plugins/filter/galera.py, mounted next to this file.

Standard library only; talks to the API server with the pod's service account.
"""

from __future__ import annotations

import json
import os
import ssl
import sys
import time
import urllib.parse
import urllib.request
from typing import Any, Dict, List, Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from galera import galera_writer  # noqa: E402

ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
NAMESPACE = os.environ.get("POD_NAMESPACE", "")
SELECTOR = os.environ.get("GALERA_SELECTOR", "")
LABEL = os.environ.get("GALERA_WRITER_LABEL", "orchestrate.platform/galera-writer")
INTERVAL = float(os.environ.get("GALERA_ELECTOR_INTERVAL", "2"))
HEARTBEAT = os.environ.get("GALERA_ELECTOR_HEARTBEAT", "/tmp/heartbeat")
_CONTEXT: List[ssl.SSLContext] = []


def call(method: str, path: str, body: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """One request to the API server with the pod's service account (token re-read: it rotates)."""
    if not _CONTEXT:
        _CONTEXT.append(ssl.create_default_context(cafile=os.path.join(ACCOUNT, "ca.crt")))
    with open(os.path.join(ACCOUNT, "token"), encoding="utf-8") as handle:
        token = handle.read().strip()
    api = "https://%s:%s" % (os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"])
    request = urllib.request.Request(api + path, method=method, data=json.dumps(body).encode() if body else None)
    request.add_header("Authorization", "Bearer " + token)
    request.add_header("Accept", "application/json")
    if body is not None:
        request.add_header("Content-Type", "application/merge-patch+json")
    with urllib.request.urlopen(request, context=_CONTEXT[0], timeout=10) as response:
        return json.loads(response.read() or b"{}")


def is_ready(pod: Dict[str, Any]) -> bool:
    if pod["metadata"].get("deletionTimestamp"):
        return False
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def set_label(name: str, value: Optional[str]) -> None:
    call("PATCH", "/api/v1/namespaces/%s/pods/%s" % (NAMESPACE, name), {"metadata": {"labels": {LABEL: value}}})
    print("%s %s %s" % (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "writer ->" if value else "no longer writer:", name), flush=True)


def elect_once() -> Optional[str]:
    query = urllib.parse.urlencode({"labelSelector": SELECTOR})
    pods: List[Dict[str, Any]] = call("GET", "/api/v1/namespaces/%s/pods?%s" % (NAMESPACE, query))["items"]
    holders = sorted(p["metadata"]["name"] for p in pods if (p["metadata"].get("labels") or {}).get(LABEL) == "true")
    states = [{"name": p["metadata"]["name"], "ready": is_ready(p)} for p in pods]
    ready_holders = [name for name in holders if any(s["name"] == name and s["ready"] for s in states)]
    writer = galera_writer(states, ready_holders[0] if ready_holders else None)
    for name in holders:
        if name != writer:
            set_label(name, None)
    if writer and writer not in holders:
        set_label(writer, "true")
    return writer


def main() -> None:
    while True:
        try:
            elect_once()
            with open(HEARTBEAT, "w", encoding="utf-8") as handle:
                handle.write(str(time.time()))
        except Exception as exc:  # keep electing: a failed round is retried, the heartbeat goes stale
            print("election round failed: %s" % exc, file=sys.stderr, flush=True)
        time.sleep(INTERVAL)


if __name__ == "__main__":
    main()
