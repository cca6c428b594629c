# -*- coding: utf-8 -*-
# Copyright: orchestrate.platform developers
# Apache License 2.0 (see LICENSE)
"""Which objects a role applied before: an ApplySet (Kubernetes KEP-3659) per role.

The parent is a ConfigMap; each member carries the label `applyset.kubernetes.io/part-of`
with the set's id, and the parent records the group-kinds and namespaces its members live
in. Pruning lists members by that label and deletes the ones a role no longer renders.
The format is the one `kubectl apply --applyset` reads, so the sets can be inspected with
standard tooling.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any, Dict, FrozenSet, Iterable, List, Mapping, Optional

from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_objects import (
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    Ref,
)

PART_OF_LABEL = "applyset.kubernetes.io/part-of"
ID_LABEL = "applyset.kubernetes.io/id"
TOOLING_ANNOTATION = "applyset.kubernetes.io/tooling"
GROUP_KINDS_ANNOTATION = "applyset.kubernetes.io/contains-group-kinds"
NAMESPACES_ANNOTATION = "applyset.kubernetes.io/additional-namespaces"
TOOLING = "orchestrate.platform/v1"

# Kinds that pruning never deletes: data lives in PersistentVolumeClaims, and deleting a
# Namespace deletes everything in it. Namespaces are pruned only when explicitly asked.
NEVER_PRUNE = frozenset({"PersistentVolumeClaim", "PersistentVolume"})


def applyset_id(name: str, namespace: str, kind: str = "ConfigMap", group: str = "") -> str:
    """The KEP-3659 id of a parent: base64url(sha256(name.namespace.kind.group)) between fixed affixes."""
    digest = hashlib.sha256(("%s.%s.%s.%s" % (name, namespace, kind, group)).encode()).digest()
    return "applyset-%s-v1" % base64.urlsafe_b64encode(digest).decode().rstrip("=")


@dataclass(frozen=True)
class ApplySet:
    """The parent ConfigMap of one role's objects."""

    name: str
    namespace: str

    @property
    def id(self) -> str:
        return applyset_id(self.name, self.namespace)

    @property
    def ref(self) -> Ref:
        return Ref("", "v1", "ConfigMap", self.namespace, self.name)

    def member_labels(self) -> Dict[str, str]:
        return {MANAGED_BY_LABEL: MANAGED_BY_VALUE, PART_OF_LABEL: self.id}

    def parent(self, group_kinds: Iterable[str], namespaces: Iterable[str]) -> Dict[str, Any]:
        """The parent object recording where members live."""
        extra = sorted({ns for ns in namespaces if ns and ns != self.namespace})
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "labels": {ID_LABEL: self.id, MANAGED_BY_LABEL: MANAGED_BY_VALUE},
                "annotations": {
                    TOOLING_ANNOTATION: TOOLING,
                    GROUP_KINDS_ANNOTATION: ",".join(sorted(set(group_kinds))),
                    NAMESPACES_ANNOTATION: ",".join(extra),
                },
            },
        }


def recorded(parent: Optional[Mapping[str, Any]]) -> "Recorded":
    """The group-kinds and namespaces a parent records (empty when there is no parent)."""
    annotations = ((parent or {}).get("metadata") or {}).get("annotations") or {}

    def split(key: str) -> FrozenSet[str]:
        return frozenset(item for item in (annotations.get(key) or "").split(",") if item)

    return Recorded(split(GROUP_KINDS_ANNOTATION), split(NAMESPACES_ANNOTATION))


@dataclass(frozen=True)
class Recorded:
    group_kinds: FrozenSet[str]
    namespaces: FrozenSet[str]


def split_group_kind(group_kind: str) -> tuple:
    """`Deployment.apps` -> ("apps", "Deployment"); `Secret` -> ("", "Secret")."""
    kind, _, group = group_kind.partition(".")
    return group, kind


def prune_plan(
    existing: Iterable[Ref], desired: Iterable[Ref], prune_namespaces: bool
) -> "PrunePlan":
    """Split the members that exist but are no longer rendered into deletions and keepers."""
    wanted = {ref.identity() for ref in desired}
    delete: List[Ref] = []
    keep: List[Ref] = []
    for ref in sorted(existing):
        if ref.identity() in wanted:
            continue
        if ref.kind in NEVER_PRUNE or (ref.kind == "Namespace" and not prune_namespaces):
            keep.append(ref)
        else:
            delete.append(ref)
    return PrunePlan(delete, keep)


@dataclass(frozen=True)
class PrunePlan:
    delete: List[Ref]
    keep: List[Ref]
