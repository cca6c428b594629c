"""An in-memory stand-in for the Kubernetes API, enough to exercise the engine's Applier.

It implements the requests the engine makes (aggregated or per-group-version discovery, GET,
LIST by label, server-side apply PATCH with dryRun, field managers, conflicts and force,
DELETE) and a controller's write through the scale subresource, with the semantics the engine
relies on: a no-op apply keeps resourceVersion; every apply records the manager's fields;
applying without a field the manager alone owned removes it (and the server's default comes
back: a Deployment's replicas become 1); an Update (controller write) takes over the fields it
changes. Lists are atomic in its field sets (real SSA merges some lists by key; that is covered
by the live tests).
"""

from __future__ import annotations

import contextlib
import copy
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path as FilePath
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple
from urllib.parse import parse_qsl, urlsplit

import yaml

from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_client import ApiError

BUILTIN = {
    ("", "v1"): [("Namespace", "namespaces", False), ("ConfigMap", "configmaps", True), ("Secret", "secrets", True),
                 ("PersistentVolumeClaim", "persistentvolumeclaims", True), ("Service", "services", True)],
    ("apps", "v1"): [("Deployment", "deployments", True), ("StatefulSet", "statefulsets", True)],
    ("autoscaling", "v2"): [("HorizontalPodAutoscaler", "horizontalpodautoscalers", True)],
    ("networking.k8s.io", "v1"): [("NetworkPolicy", "networkpolicies", True)],
    ("apiextensions.k8s.io", "v1"): [("CustomResourceDefinition", "customresourcedefinitions", False)],
}
SCALED = ("Deployment", "StatefulSet")
Path = Tuple[str, ...]


def field_set(value: Any) -> Dict[str, Any]:
    if isinstance(value, dict):
        return {"f:" + key: field_set(sub) for key, sub in value.items()}
    return {}


def owned(obj: Dict[str, Any]) -> Dict[str, Any]:
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "status")}
    meta = {k: v for k, v in (body.get("metadata") or {}).items() if k in ("labels", "annotations")}
    body["metadata"] = meta
    return field_set(body)


def leaves(fields: Dict[str, Any], prefix: Path = ()) -> Iterator[Path]:
    for key, sub in fields.items():
        if sub:
            yield from leaves(sub, prefix + (key,))
        else:
            yield prefix + (key,)


def as_fields(paths: Set[Path]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for path in paths:
        node = out
        for key in path:
            node = node.setdefault(key, {})
    return out


def value_at(obj: Any, path: Path) -> Any:
    for key in path:
        if not isinstance(obj, dict) or key[2:] not in obj:
            return "<absent>"
        obj = obj[key[2:]]
    return obj


def remove_at(obj: Dict[str, Any], path: Path) -> None:
    for key in path[:-1]:
        obj = obj.get(key[2:])
        if not isinstance(obj, dict):
            return
    obj.pop(path[-1][2:], None)


def merge(into: Dict[str, Any], patch: Dict[str, Any]) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            merge(into[key], value)
        else:
            into[key] = copy.deepcopy(value)


class FakeApi:
    def __init__(self, aggregated: bool = True) -> None:
        self.lock = threading.Lock()
        self.aggregated = aggregated
        self.resources: Dict[Tuple[str, str], List[Tuple[str, str, bool]]] = copy.deepcopy(BUILTIN)
        self.store: Dict[Tuple[str, str, str, str], Dict[str, Any]] = {}
        self.rv = 100
        self.log: List[Tuple[str, str]] = []

    # -- what tests use -------------------------------------------------------------------
    def get(self, group: str, kind: str, namespace: str, name: str) -> Optional[Dict[str, Any]]:
        return self.store.get((group, kind, namespace, name))

    def writes(self) -> List[Tuple[str, str]]:
        return [(method, path) for method, path in self.log if method != "GET"]

    def controller_writes_status(self, group: str, kind: str, namespace: str, name: str, status: Dict[str, Any]) -> None:
        obj = self.store[(group, kind, namespace, name)]
        obj["status"] = status
        self._bump(obj)

    def other_manager_sets_label(self, group: str, kind: str, namespace: str, name: str, key: str, value: str) -> None:
        self.update(group, kind, namespace, name, "kubectl-edit", {"metadata": {"labels": {key: value}}})

    def update(self, group: str, kind: str, namespace: str, name: str, manager: str, patch: Dict[str, Any],
               subresource: str = "") -> None:
        """A non-apply write (a controller, kubectl edit/scale): it takes over the fields it changes."""
        with self.lock:
            self._update((group, kind, namespace, name), manager, patch, subresource)

    # -- the HTTP surface ------------------------------------------------------------------
    def request(self, method: str, path: str, query: Optional[Dict[str, str]] = None, body: Any = None,
                content_type: Optional[str] = None, accept: str = "application/json") -> Any:
        with self.lock:
            self.log.append((method, path))
            return self._dispatch(method, path, query or {}, body, accept)

    def _bump(self, obj: Dict[str, Any]) -> None:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)

    def _parse(self, path: str) -> Tuple[str, str, str, str, str, str]:
        parts = path.strip("/").split("/")
        if parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        else:
            group, version, rest = parts[1], parts[2], parts[3:]
        namespace = ""
        if rest[:1] == ["namespaces"] and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        plural = rest[0] if rest else ""
        name = rest[1] if len(rest) > 1 else ""
        subresource = rest[2] if len(rest) > 2 else ""
        if rest[:1] == ["namespaces"] and len(rest) == 2:
            plural, name = "namespaces", rest[1]
        return group, version, namespace, plural, name, subresource

    def _kind(self, group: str, version: str, plural: str) -> Tuple[str, bool]:
        for kind, name, namespaced in self.resources.get((group, version), []):
            if name == plural:
                return kind, namespaced
        raise ApiError(404, "Not Found", "the server could not find the requested resource")

    def _discovery(self, path: str, accept: str) -> Any:
        if self.aggregated and "as=APIGroupDiscoveryList" in accept:
            core = path == "/api"
            groups: Dict[str, List[Dict[str, Any]]] = {}
            for (group, version), kinds in self.resources.items():
                if (group == "") != core:
                    continue
                groups.setdefault(group, []).append({"version": version, "resources": [
                    {"resource": plural, "responseKind": {"group": group, "version": version, "kind": kind},
                     "scope": "Namespaced" if namespaced else "Cluster"} for kind, plural, namespaced in kinds]})
            return {"kind": "APIGroupDiscoveryList", "items": [
                {"metadata": {"name": group}, "versions": versions} for group, versions in sorted(groups.items())]}
        if path == "/api":
            return {"kind": "APIVersions", "versions": ["v1"]}
        return {"kind": "APIGroupList", "groups": [
            {"name": g, "preferredVersion": {"version": v}} for (g, v) in self.resources if g]}

    def _dispatch(self, method: str, path: str, query: Dict[str, str], body: Any, accept: str) -> Any:
        if path in ("/api", "/apis"):
            return self._discovery(path, accept)
        parts = path.strip("/").split("/")
        if (parts[0] == "api" and len(parts) == 2) or (parts[0] == "apis" and len(parts) == 3):
            group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
            if (group, version) not in self.resources:
                raise ApiError(404, "Not Found", "no such group version")
            return {"resources": [{"kind": k, "name": n, "namespaced": ns} for k, n, ns in self.resources[(group, version)]]}
        group, version, namespace, plural, name, subresource = self._parse(path)
        kind, _ = self._kind(group, version, plural)
        key = (group, kind, namespace, name)
        if method == "GET" and name:
            if key not in self.store:
                raise ApiError(404, "Not Found", "%s %s not found" % (kind, name))
            return copy.deepcopy(self.store[key])
        if method == "GET":
            selector = query.get("labelSelector", "")
            label, _, value = selector.partition("=")
            items = [copy.deepcopy(obj) for (g, k, _, _), obj in sorted(self.store.items())
                     if g == group and k == kind and (not label or obj["metadata"].get("labels", {}).get(label) == value)]
            for item in items:
                item.pop("apiVersion", None)
                item.pop("kind", None)
            return {"apiVersion": "%s/%s" % (group, version) if group else version, "items": items}
        if method == "DELETE":
            if key not in self.store:
                raise ApiError(404, "Not Found", "gone")
            del self.store[key]
            return {}
        if method == "PATCH" and subresource == "scale":
            self._update(key, query["fieldManager"], {"spec": {"replicas": body["spec"]["replicas"]}}, "scale")
            return {"kind": "Scale", "spec": {"replicas": self.store[key]["spec"]["replicas"]}}
        if method == "PATCH":
            return self._apply(key, version, body, query)
        raise AssertionError("unexpected %s %s" % (method, path))

    def _update(self, key: Tuple[str, str, str, str], manager: str, patch: Dict[str, Any], subresource: str) -> None:
        if key not in self.store:
            raise ApiError(404, "Not Found", "%s not found" % (key,))
        obj = self.store[key]
        changed = {p for p in leaves(field_set(patch)) if value_at(obj, p) != value_at(patch, p)}
        if not changed:
            return
        merge(obj, patch)
        entries = []
        for entry in obj["metadata"]["managedFields"]:
            kept = set(leaves(entry.get("fieldsV1") or {})) - changed
            if entry["manager"] == manager and entry["operation"] == "Update":
                continue
            if kept:
                entries.append(dict(entry, fieldsV1=as_fields(kept)))
        mine = next((e for e in obj["metadata"]["managedFields"] if e["manager"] == manager and e["operation"] == "Update"), None)
        paths = set(leaves((mine or {}).get("fieldsV1") or {})) | changed
        entries.append({"manager": manager, "operation": "Update", "subresource": subresource, "fieldsV1": as_fields(paths)})
        obj["metadata"]["managedFields"] = [e for e in entries if not e.get("subresource")] + \
            [e for e in entries if e.get("subresource")]
        self._bump(obj)

    def _apply(self, key: Tuple[str, str, str, str], version: str, body: Dict[str, Any], query: Dict[str, str]) -> Dict[str, Any]:
        group, kind, namespace, name = key
        if namespace and ("", "Namespace", "", namespace) not in self.store:
            raise ApiError(404, "Not Found", 'namespaces "%s" not found' % namespace)
        manager = query["fieldManager"]
        current = copy.deepcopy(self.store.get(key))
        new = copy.deepcopy(current) if current is not None else {
            "apiVersion": "%s/%s" % (group, version) if group else version, "kind": kind,
            "metadata": {"name": name, "managedFields": [], "resourceVersion": "0"}}
        if namespace:
            new["metadata"]["namespace"] = namespace
        applied = set(leaves(owned(body)))
        entries = new["metadata"]["managedFields"]
        mine = next((e for e in entries if e["manager"] == manager and e["operation"] == "Apply"), None)
        others = [e for e in entries if e is not mine]
        conflicts = [(e["manager"], p) for e in others for p in set(leaves(e.get("fieldsV1") or {})) & applied
                     if value_at(new, p) != value_at(body, p)]
        if conflicts and query.get("force") != "true":
            raise ApiError(409, "Conflict", "Apply failed with %d conflict(s): %s" % (len(conflicts), conflicts))
        taken = {p for _, p in conflicts}
        others = [dict(e, fieldsV1=as_fields(set(leaves(e.get("fieldsV1") or {})) - taken)) for e in others]
        others = [e for e in others if e["fieldsV1"]]
        held = {p for e in others for p in leaves(e["fieldsV1"])}
        for path in set(leaves((mine or {}).get("fieldsV1") or {})) - applied - held:
            remove_at(new, path)
        merge(new, {k: v for k, v in body.items() if k not in ("apiVersion", "kind", "metadata")})
        for meta_key in ("labels", "annotations"):
            if meta_key in (body.get("metadata") or {}):
                new["metadata"].setdefault(meta_key, {}).update(body["metadata"][meta_key])
        if kind in SCALED:
            new.setdefault("spec", {}).setdefault("replicas", 1)  # the server's default
        new["metadata"]["managedFields"] = [{"manager": manager, "operation": "Apply", "fieldsV1": owned(body)}] + others
        if kind == "CustomResourceDefinition":
            new["status"] = {"conditions": [{"type": "Established", "status": "True"}]}
        if self._same(new, current):
            return copy.deepcopy(current)
        if query.get("dryRun"):
            return new
        self.rv += 1
        new["metadata"]["resourceVersion"] = str(self.rv)
        self.store[key] = new
        if kind == "CustomResourceDefinition" and current is None:
            spec = body["spec"]
            for served in spec["versions"]:
                self.resources.setdefault((spec["group"], served["name"]), []).append(
                    (spec["names"]["kind"], spec["names"]["plural"], spec["scope"] == "Namespaced"))
        return copy.deepcopy(new)

    @staticmethod
    def _same(new: Dict[str, Any], current: Optional[Dict[str, Any]]) -> bool:
        if current is None:
            return False

        def canonical(obj: Dict[str, Any]) -> str:
            shown = copy.deepcopy(obj)
            shown["metadata"]["managedFields"] = sorted(shown["metadata"]["managedFields"], key=lambda e: json.dumps(e, sort_keys=True))
            return json.dumps(shown, sort_keys=True)

        return canonical(new) == canonical(current)


def handler_for(api: FakeApi) -> type:
    """An HTTP handler that answers every request from `api`, as the API server would."""
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            try:
                answer, status = api.request(self.command, url.path, dict(parse_qsl(url.query)), body,
                                             self.headers.get("Content-Type"), self.headers.get("Accept") or ""), 200
            except ApiError as exc:
                answer, status = {"kind": "Status", "message": exc.message}, exc.status
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PATCH = do_DELETE = _serve

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@contextlib.contextmanager
def served(api: FakeApi, directory: FilePath) -> Iterator[FilePath]:
    """`api` served over HTTP on a free loopback port while the block runs; yields the path of a
    kubeconfig (written into `directory`) that points at it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(api))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    kubeconfig = directory / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "fake",
        "clusters": [{"name": "fake", "cluster": {"server": "http://127.0.0.1:%d" % server.server_address[1]}}],
        "users": [{"name": "fake", "user": {"token": "not-checked"}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
    }))
    try:
        yield kubeconfig
    finally:
        server.shutdown()
        server.server_close()
