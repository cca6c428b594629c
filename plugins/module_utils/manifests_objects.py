# -*- coding: utf-8 -*-
# Copyright: orchestrate.platform developers
# Apache License 2.0 (see LICENSE)
"""Kubernetes objects as the manifest engine sees them: identity, apply order, labels.

Plain Python with no Ansible imports, so pytest reaches it directly.
"""

from __future__ import annotations

import base64
import copy
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

Obj = Dict[str, Any]

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "orchestrate.platform"
REDACTED = "<redacted>"


class ManifestError(Exception):
    """The one error type of the engine; the module maps it to fail_json."""


@dataclass(frozen=True, order=True)
class Ref:
    """Identity of one object: group, version, kind, namespace ('' when cluster-scoped), name."""

    group: str
    version: str
    kind: str
    namespace: str
    name: str

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> "Ref":
        api_version = obj.get("apiVersion")
        kind = obj.get("kind")
        meta = obj.get("metadata") or {}
        name = meta.get("name")
        if not api_version or not kind or not name:
            raise ManifestError(
                "every object needs apiVersion, kind and metadata.name; got apiVersion=%r kind=%r name=%r"
                % (api_version, kind, name)
            )
        group, _, version = str(api_version).rpartition("/")
        return cls(group, version, str(kind), str(meta.get("namespace") or ""), str(name))

    @property
    def api_version(self) -> str:
        return "%s/%s" % (self.group, self.version) if self.group else self.version

    @property
    def group_kind(self) -> str:
        """The ApplySet spelling of a group-kind: `Kind.group`, or `Kind` for the core group."""
        return "%s.%s" % (self.kind, self.group) if self.group else self.kind

    def identity(self) -> Tuple[str, str, str, str]:
        """Version-free identity: the same object served under two versions is one object."""
        return (self.group, self.kind, self.namespace, self.name)

    def __str__(self) -> str:
        if self.namespace:
            return "%s/%s/%s" % (self.kind, self.namespace, self.name)
        return "%s/%s" % (self.kind, self.name)


# Apply waves. Objects of one wave are independent of each other and go to the API
# server concurrently; a wave starts when the one before it has been applied.
WAVE_FOUNDATION = 0  # namespaces and CRDs: everything else may live in or depend on them
WAVE_CONFIG = 1  # built-in configuration objects: RBAC, config, services, policies, storage
WAVE_WORKLOADS = 2  # controllers that start pods, and what scales or protects them
WAVE_EXTENSIONS = 3  # custom resources and admission hooks: their controllers run in wave 2

_FOUNDATION_KINDS = frozenset({"Namespace", "CustomResourceDefinition"})
_WORKLOAD_KINDS = frozenset(
    {
        "Deployment",
        "StatefulSet",
        "DaemonSet",
        "ReplicaSet",
        "Job",
        "CronJob",
        "Pod",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    }
)
_LATE_BUILTIN_KINDS = frozenset(
    {"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "APIService"}
)
BUILTIN_GROUPS = frozenset(
    {
        "",
        "admissionregistration.k8s.io",
        "apiextensions.k8s.io",
        "apiregistration.k8s.io",
        "apps",
        "autoscaling",
        "batch",
        "certificates.k8s.io",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "events.k8s.io",
        "flowcontrol.apiserver.k8s.io",
        "networking.k8s.io",
        "node.k8s.io",
        "policy",
        "rbac.authorization.k8s.io",
        "resource.k8s.io",
        "scheduling.k8s.io",
        "storage.k8s.io",
    }
)
# Built-in kinds that are cluster-scoped; used where no API server can be asked (render mode).
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "Namespace",
        "Node",
        "PersistentVolume",
        "CustomResourceDefinition",
        "ClusterRole",
        "ClusterRoleBinding",
        "StorageClass",
        "CSIDriver",
        "VolumeSnapshotClass",
        "PriorityClass",
        "RuntimeClass",
        "IngressClass",
        "GatewayClass",
        "APIService",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "GlobalNetworkPolicy",
        "GlobalNetworkSet",
        "IPPool",
        "FelixConfiguration",
        "BGPConfiguration",
        "ClusterIssuer",
    }
)
WORKLOAD_KINDS_WITH_READINESS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "Job"})


def wave_of(ref: Ref) -> int:
    """The apply wave of an object (see the WAVE_* constants)."""
    if ref.kind in _FOUNDATION_KINDS:
        return WAVE_FOUNDATION
    if ref.group not in BUILTIN_GROUPS or ref.kind in _LATE_BUILTIN_KINDS:
        return WAVE_EXTENSIONS
    if ref.kind in _WORKLOAD_KINDS:
        return WAVE_WORKLOADS
    return WAVE_CONFIG


def group_into_waves(objects: Iterable[Obj]) -> List[Tuple[int, List[Obj]]]:
    """Split objects into (wave number, objects) in apply order, keeping the given order inside a wave."""
    waves: Dict[int, List[Obj]] = {}
    for obj in objects:
        waves.setdefault(wave_of(Ref.of(obj)), []).append(obj)
    return sorted(waves.items())


def check_unique(objects: Sequence[Obj]) -> None:
    """Fail when two rendered objects have the same identity (the later would win silently)."""
    seen: Dict[Tuple[str, str, str, str], Ref] = {}
    for obj in objects:
        ref = Ref.of(obj)
        if ref.identity() in seen:
            raise ManifestError("%s is rendered twice" % ref)
        seen[ref.identity()] = ref


def with_labels(obj: Obj, labels: Mapping[str, str]) -> Obj:
    """A copy of obj whose metadata.labels carry `labels` (the engine's own labels win).

    Only the top level and metadata are copied: the engine never changes anything below them,
    and deep copies of a thousand objects cost more than the requests that apply them.
    """
    out = dict(obj)
    meta = dict(out.get("metadata") or {})
    merged = dict(meta.get("labels") or {})
    merged.update(labels)
    meta["labels"] = merged
    out["metadata"] = meta
    return out


def string_data_as_data(obj: Obj) -> Obj:
    """A Secret's stringData folded into data (base64), as the API server stores it.

    The server converts stringData into data on write and never stores stringData, so a field
    manager that applied stringData owns fields that do not exist: a changed value would be
    written but not seen as a change. Applying data instead keeps ownership on the stored fields.
    """
    if obj.get("kind") != "Secret" or not obj.get("stringData"):
        return obj
    out = copy.deepcopy(obj)
    data = dict(out.get("data") or {})
    for key, value in out.pop("stringData").items():
        data[key] = base64.b64encode(str(value).encode("utf-8")).decode("ascii")
    out["data"] = data
    return out


def redact(obj: Optional[Obj]) -> Optional[Obj]:
    """A copy of obj safe to show: the values of a Secret's data/stringData are hidden."""
    if not obj or obj.get("kind") != "Secret":
        return obj
    out = copy.deepcopy(obj)
    for key in ("data", "stringData"):
        if isinstance(out.get(key), dict):
            out[key] = {name: REDACTED for name in out[key]}
    return out
