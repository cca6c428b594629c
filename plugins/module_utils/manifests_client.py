# -*- coding: utf-8 -*-
# Copyright: orchestrate.platform developers
# Apache License 2.0 (see LICENSE)
"""A small, thread-safe client for the Kubernetes API: kubeconfig auth, JSON over HTTPS, discovery.

Static kubeconfig credentials (certificates, tokens) are read directly (manifests_kubeconfig);
exec plugins and auth providers go through the `kubernetes` package. Requests go through one
urllib3 pool shared by the engine's worker threads. Discovery reads every served resource type in
two requests (aggregated discovery, /api and /apis, served since Kubernetes 1.30) and falls back to
one request per group-version the run uses on older servers; a run can hand it what an earlier task
of the same ansible-playbook run learned (`snapshot` / `Discovery(..., known=...)`).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Mapping, Optional, Tuple
from urllib.parse import quote, urlencode

from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_kubeconfig import Credentials
from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_kubeconfig import load as load_kubeconfig
from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_objects import ManifestError

APPLY_PATCH = "application/apply-patch+yaml"
MERGE_PATCH = "application/merge-patch+json"
AGGREGATED_DISCOVERY = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
)
_TOKEN_REFRESH_SECONDS = 60.0


class ApiError(ManifestError):
    """A non-2xx answer of the API server."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__("%s %s: %s" % (status, reason, message))
        self.status = status
        self.reason = reason
        self.message = message


def _full_loader(kubeconfig: Optional[str], context: Optional[str]) -> Tuple[Credentials, Callable[[], Optional[str]]]:
    """Credentials through the `kubernetes` package (exec plugins, auth providers, merged files),
    with a token source that refreshes expiring tokens."""
    try:
        from kubernetes import client as k8s_client, config as k8s_config
    except ImportError as exc:  # pragma: no cover - depends on the controller's packages
        raise ManifestError("the `kubernetes` Python package is required for this kubeconfig: %s" % exc)
    cfg = k8s_client.Configuration()
    try:
        k8s_config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=cfg)
    except Exception as exc:  # the loader raises several unrelated types
        raise ManifestError("cannot load kubeconfig %r (context %r): %s" % (kubeconfig, context, exc))
    lock = threading.Lock()
    refreshed = [0.0]

    def token() -> Optional[str]:
        hook = getattr(cfg, "refresh_api_key_hook", None)
        with lock:
            if hook and time.monotonic() - refreshed[0] > _TOKEN_REFRESH_SECONDS:
                hook(cfg)
                refreshed[0] = time.monotonic()
            return cfg.get_api_key_with_prefix("authorization")

    credentials = Credentials(
        server=cfg.host.rstrip("/"), verify=bool(cfg.verify_ssl), ca_file=cfg.ssl_ca_cert, cert_file=cfg.cert_file,
        key_file=cfg.key_file, tls_server_name=getattr(cfg, "tls_server_name", None), proxy=cfg.proxy,
    )
    return credentials, token


def _decode(body: bytes) -> Any:
    """The JSON body of an answer; error answers from proxies or unknown paths may be plain text
    (e.g. "404 page not found" for a group the server does not serve)."""
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


class Client:
    """JSON requests against one API server."""

    def __init__(self, kubeconfig: Optional[str], context: Optional[str], pool_size: int, timeout: float) -> None:
        import urllib3

        static = load_kubeconfig(kubeconfig, context)
        if static is not None:
            creds = static
            self._token: Callable[[], Optional[str]] = lambda: "Bearer " + static.token if static.token else None
        else:
            creds, self._token = _full_loader(kubeconfig, context)
        self._host = creds.server
        self._timeout = urllib3.Timeout(connect=min(timeout, 10.0), read=timeout)
        tls: Dict[str, Any] = {
            "cert_reqs": "CERT_REQUIRED" if creds.verify else "CERT_NONE",
            "ca_certs": creds.ca_file,
            "cert_file": creds.cert_file,
            "key_file": creds.key_file,
        }
        if creds.tls_server_name:
            tls["server_hostname"] = creds.tls_server_name
        if not creds.verify:
            urllib3.disable_warnings()
        if creds.proxy:
            self._pool = urllib3.ProxyManager(creds.proxy, num_pools=4, maxsize=pool_size, **tls)
        else:
            self._pool = urllib3.PoolManager(num_pools=4, maxsize=pool_size, **tls)

    @property
    def server(self) -> str:
        return self._host

    def _headers(self, content_type: Optional[str], accept: str) -> Dict[str, str]:
        headers = {"Accept": accept, "User-Agent": "orchestrate.platform-manifests"}
        if content_type:
            headers["Content-Type"] = content_type
        token = self._token()
        if token:
            headers["Authorization"] = token
        return headers

    def request(
        self,
        method: str,
        path: str,
        query: Optional[Mapping[str, str]] = None,
        body: Optional[Any] = None,
        content_type: Optional[str] = None,
        accept: str = "application/json",
    ) -> Any:
        url = self._host + path + ("?" + urlencode(query) if query else "")
        payload = json.dumps(body).encode() if body is not None else None
        if payload is not None and content_type is None:
            content_type = "application/json"
        import urllib3

        try:
            response = self._pool.request(
                method, url, body=payload, headers=self._headers(content_type, accept), timeout=self._timeout, retries=False
            )
        except urllib3.exceptions.HTTPError as exc:
            raise ManifestError("cannot reach the API server at %s (%s %s): %s" % (self._host, method, path, exc))
        data = _decode(response.data)
        if response.status >= 300:
            message = data.get("message", "") if isinstance(data, dict) else response.data[:300].decode(errors="replace")
            raise ApiError(response.status, response.reason or "", message)
        return data


@dataclass(frozen=True)
class Resource:
    """One served resource type."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool

    def path(self, namespace: str = "", name: str = "") -> str:
        base = "/api/%s" % self.version if not self.group else "/apis/%s/%s" % (self.group, self.version)
        if self.namespaced and namespace:
            base += "/namespaces/%s" % quote(namespace, safe="")
        base += "/" + self.plural
        return base + ("/" + quote(name, safe="") if name else "")


Known = Dict[str, Any]  # what Discovery.snapshot() returns: JSON-serialisable

_AGGREGATED = "aggregated"
_LEGACY = "legacy"


class Discovery:
    """Resource types by (group, version, kind) and each group's preferred version, cached.

    The first lookup reads everything the server serves with aggregated discovery (two requests
    in parallel); a server without it is asked per group-version, lazily. What an earlier task
    of the same run learned can be handed in (`known`, from `snapshot()`): a lookup that finds
    nothing there reads the server once more, so a CRD created in between by anyone is found.
    """

    def __init__(self, client: Any, known: Optional[Known] = None) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._loading = threading.Lock()
        self._by_gv: Dict[Tuple[str, str], Dict[str, Resource]] = {}
        self._preferred: Optional[Dict[str, str]] = None
        self._mode: Optional[str] = None
        self._stale = False
        if known and known.get("mode") in (_AGGREGATED, _LEGACY):
            self._mode = known["mode"]
            self._preferred = known.get("preferred")
            for group, version in known.get("group_versions") or []:
                self._by_gv[(group, version)] = {}
            for group, version, kind, plural, namespaced in known.get("resources") or []:
                self._by_gv.setdefault((group, version), {})[kind] = Resource(group, version, kind, plural, namespaced)
            self._stale = True

    def snapshot(self) -> Known:
        """What this run knows, for a later task of the same ansible-playbook run."""
        with self._lock:
            return {
                "mode": self._mode,
                "preferred": self._preferred,
                "group_versions": [list(key) for key in self._by_gv],
                "resources": [[r.group, r.version, r.kind, r.plural, r.namespaced]
                              for kinds in self._by_gv.values() for r in kinds.values()],
            }

    # -- reading the server ----------------------------------------------------------------

    def _read_aggregated(self) -> bool:
        """Everything the server serves, in two requests; False when it has no aggregated discovery."""
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=2) as pool:
            answers = list(pool.map(
                lambda path: self._client.request("GET", path, accept=AGGREGATED_DISCOVERY), ["/api", "/apis"]))
        if any(not isinstance(answer, dict) or answer.get("kind") != "APIGroupDiscoveryList" for answer in answers):
            return False
        by_gv: Dict[Tuple[str, str], Dict[str, Resource]] = {}
        preferred: Dict[str, str] = {}
        for answer in answers:
            for item in answer.get("items") or []:
                group = (item.get("metadata") or {}).get("name") or ""
                versions = item.get("versions") or []
                if group and versions:
                    preferred[group] = versions[0]["version"]  # listed in order of preference
                for entry in versions:
                    kinds = by_gv.setdefault((group, entry["version"]), {})
                    for res in entry.get("resources") or []:
                        kind = (res.get("responseKind") or {}).get("kind")
                        if kind:
                            kinds[kind] = Resource(group, entry["version"], kind, res["resource"],
                                                   res.get("scope") == "Namespaced")
        with self._lock:
            self._by_gv, self._preferred = by_gv, preferred
        return True

    def _ensure_loaded(self) -> None:
        with self._loading:
            if self._mode is None:
                mode = _AGGREGATED if self._read_aggregated() else _LEGACY
                with self._lock:
                    self._mode = mode

    def _legacy_group_version(self, group: str, version: str) -> Dict[str, Resource]:
        path = "/api/%s" % version if not group else "/apis/%s/%s" % (group, version)
        try:
            listing = self._client.request("GET", path)
        except ApiError as exc:
            if exc.status != 404:
                raise
            listing = {"resources": []}
        kinds = {
            item["kind"]: Resource(group, version, item["kind"], item["name"], bool(item.get("namespaced")))
            for item in listing.get("resources", [])
            if "/" not in item["name"]
        }
        with self._lock:
            self._by_gv[(group, version)] = kinds
        return kinds

    def _kinds(self, group: str, version: str) -> Dict[str, Resource]:
        self._ensure_loaded()
        with self._lock:
            cached = self._by_gv.get((group, version))
            mode = self._mode
        if cached is None and mode == _LEGACY:
            return self._legacy_group_version(group, version)
        return cached or {}

    def _preferred_versions(self) -> Dict[str, str]:
        self._ensure_loaded()
        with self._lock:
            preferred = self._preferred
        if preferred is None:
            groups = self._client.request("GET", "/apis").get("groups", [])
            preferred = {g["name"]: g["preferredVersion"]["version"] for g in groups}
            with self._lock:
                self._preferred = preferred
        return preferred

    def _refresh_if_stale(self) -> bool:
        """Forget what an earlier task handed over, so the next lookup reads the server; True if it did."""
        with self._loading, self._lock:
            if not self._stale:
                return False
            self._by_gv, self._preferred, self._mode, self._stale = {}, None, None, False
            return True

    # -- lookups -----------------------------------------------------------------------------

    def find(self, group: str, version: str, kind: str) -> Optional[Resource]:
        """The resource type, or None when the API server does not serve it (yet)."""
        found = self._kinds(group, version).get(kind)
        if found is None and self._refresh_if_stale():
            found = self._kinds(group, version).get(kind)
        return found

    def resource(self, group: str, version: str, kind: str) -> Resource:
        found = self.find(group, version, kind)
        if found is None:
            raise ManifestError(
                "the API server does not serve %s in %s" % (kind, "%s/%s" % (group, version) if group else version)
            )
        return found

    def preferred(self, group: str, kind: str) -> Optional[Resource]:
        """The resource type of a group-kind in the group's preferred version, or None if not served."""
        if not group:
            return self.find("", "v1", kind)
        version = self._preferred_versions().get(group)
        if version is None and self._refresh_if_stale():
            version = self._preferred_versions().get(group)
        return self.find(group, version, kind) if version else None

    def forget(self, group: str) -> None:
        """Drop what is cached for a group (its CRD was just created or changed): read again on next use."""
        with self._loading, self._lock:
            if self._mode == _AGGREGATED:
                self._by_gv, self._preferred, self._mode = {}, None, None  # one read brings everything back
            else:
                self._by_gv = {key: value for key, value in self._by_gv.items() if key[0] != group}
                self._preferred = None
