"""An in-memory stand-in for the Kubernetes API, enough to exercise the engine's Applier.

It implements the requests the engine makes (discovery, GET, LIST by label, server-side
apply PATCH with dryRun and field managers, DELETE) with the semantics the engine relies
on: a no-op apply keeps resourceVersion, every apply records the manager's fields, and a
controller can write status or other managers' fields in between. Lists are atomic in its
field sets (real SSA merges some lists by key; that is covered by the live tests).
"""

from __future__ import annotations

import copy
import threading
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_client import ApiError

BUILTIN = {
    ("", "v1"): [("Namespace", "namespaces", False), ("ConfigMap", "configmaps", True), ("Secret", "secrets", True),
                 ("PersistentVolumeClaim", "persistentvolumeclaims", True), ("Service", "services", True)],
    ("apps", "v1"): [("Deployment", "deployments", True), ("StatefulSet", "statefulsets", True)],
    ("networking.k8s.io", "v1"): [("NetworkPolicy", "networkpolicies", True)],
    ("apiextensions.k8s.io", "v1"): [("CustomResourceDefinition", "customresourcedefinitions", False)],
}


def field_set(value: Any) -> Dict[str, Any]:
    if isinstance(value, dict):
        return {"f:" + key: field_set(sub) for key, sub in value.items()}
    return {}


def owned(obj: Dict[str, Any]) -> Dict[str, Any]:
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "status")}
    meta = {k: v for k, v in (body.get("metadata") or {}).items() if k in ("labels", "annotations")}
    body["metadata"] = meta
    return field_set(body)


class FakeApi:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.resources: Dict[Tuple[str, str], List[Tuple[str, str, bool]]] = copy.deepcopy(BUILTIN)
        self.store: Dict[Tuple[str, str, str, str], Dict[str, Any]] = {}
        self.rv = 100
        self.log: List[Tuple[str, str]] = []

    # -- what tests use -------------------------------------------------------------------
    def get(self, group: str, kind: str, namespace: str, name: str) -> Optional[Dict[str, Any]]:
        return self.store.get((group, kind, namespace, name))

    def controller_writes_status(self, group: str, kind: str, namespace: str, name: str, status: Dict[str, Any]) -> None:
        obj = self.store[(group, kind, namespace, name)]
        obj["status"] = status
        self._bump(obj)

    def other_manager_sets_label(self, group: str, kind: str, namespace: str, name: str, key: str, value: str) -> None:
        obj = self.store[(group, kind, namespace, name)]
        obj["metadata"].setdefault("labels", {})[key] = value
        obj["metadata"]["managedFields"].append(
            {"manager": "kubectl-edit", "operation": "Update", "fieldsV1": {"f:metadata": {"f:labels": {"f:" + key: {}}}}}
        )
        self._bump(obj)

    # -- the HTTP surface ------------------------------------------------------------------
    def request(self, method: str, path: str, query: Optional[Dict[str, str]] = None, body: Any = None,
                content_type: Optional[str] = None) -> Any:
        with self.lock:
            self.log.append((method, path))
            return self._dispatch(method, path, query or {}, body)

    def _bump(self, obj: Dict[str, Any]) -> None:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)

    def _parse(self, path: str) -> Tuple[str, str, str, str, str]:
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
        if rest[:1] == ["namespaces"] and len(rest) == 2:
            plural, name = "namespaces", rest[1]
        return group, version, namespace, plural, name

    def _kind(self, group: str, version: str, plural: str) -> Tuple[str, bool]:
        for kind, name, namespaced in self.resources.get((group, version), []):
            if name == plural:
                return kind, namespaced
        raise ApiError(404, "Not Found", "the server could not find the requested resource")

    def _dispatch(self, method: str, path: str, query: Dict[str, str], body: Any) -> Any:
        if path == "/apis":
            return {"groups": [{"name": g, "preferredVersion": {"version": v}} for (g, v) in self.resources if g]}
        parts = path.strip("/").split("/")
        if (parts[0] == "api" and len(parts) == 2) or (parts[0] == "apis" and len(parts) == 3):
            group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
            if (group, version) not in self.resources:
                raise ApiError(404, "Not Found", "no such group version")
            return {"resources": [{"kind": k, "name": n, "namespaced": ns} for k, n, ns in self.resources[(group, version)]]}
        group, version, namespace, plural, name = self._parse(path)
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
        if method == "PATCH":
            return self._apply(key, body, query)
        raise AssertionError("unexpected %s %s" % (method, path))

    def _apply(self, key: Tuple[str, str, str, str], body: Dict[str, Any], query: Dict[str, str]) -> Dict[str, Any]:
        group, kind, namespace, name = key
        if namespace and ("", "Namespace", "", namespace) not in self.store:
            raise ApiError(404, "Not Found", 'namespaces "%s" not found' % namespace)
        manager = query["fieldManager"]
        current = copy.deepcopy(self.store.get(key))
        new = copy.deepcopy(current) if current is not None else {"metadata": {"managedFields": [], "resourceVersion": "0"}}
        entries = [e for e in new["metadata"]["managedFields"] if not (e["manager"] == manager and e["operation"] == "Apply")]
        previous = next((e for e in new["metadata"]["managedFields"] if e["manager"] == manager and e["operation"] == "Apply"), None)
        for dropped in (previous or {}).get("fieldsV1", {}).get("f:metadata", {}).get("f:labels", {}):
            new["metadata"].get("labels", {}).pop(dropped[2:], None)
        for top, value in body.items():
            if top == "metadata":
                for mk in ("labels", "annotations"):
                    if mk in value:
                        new["metadata"].setdefault(mk, {}).update(value[mk])
                new["metadata"]["name"] = value["name"]
                if value.get("namespace"):
                    new["metadata"]["namespace"] = value["namespace"]
            else:
                new[top] = copy.deepcopy(value)
        entries.append({"manager": manager, "operation": "Apply", "fieldsV1": owned(body)})
        new["metadata"]["managedFields"] = entries
        if kind == "CustomResourceDefinition":
            new["status"] = {"conditions": [{"type": "Established", "status": "True"}]}
        if new != current:
            if query.get("dryRun"):
                return new
            self.rv += 1
            new["metadata"]["resourceVersion"] = str(self.rv)
            self.store[key] = new
            if kind == "CustomResourceDefinition":
                spec = body["spec"]
                for served in spec["versions"]:
                    self.resources.setdefault((spec["group"], served["name"]), []).append(
                        (spec["names"]["kind"], spec["names"]["plural"], spec["scope"] == "Namespaced"))
        return copy.deepcopy(new)
