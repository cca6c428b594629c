"""ApplySet ids, parent bookkeeping and the prune plan."""

from __future__ import annotations

import base64
import hashlib
import re

from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_applyset import (
    GROUP_KINDS_ANNOTATION,
    ID_LABEL,
    NAMESPACES_ANNOTATION,
    ApplySet,
    applyset_id,
    prune_plan,
    recorded,
    split_group_kind,
)
from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_objects import Ref


def test_id_follows_kep_3659():
    expected = base64.urlsafe_b64encode(hashlib.sha256(b"orchestrate.platform.namespaces.kube-system.ConfigMap.").digest())
    assert applyset_id("orchestrate.platform.namespaces", "kube-system") == "applyset-%s-v1" % expected.decode().rstrip("=")
    assert re.fullmatch(r"applyset-[A-Za-z0-9_-]{43}-v1", applyset_id("x", "y"))
    assert len(applyset_id("x", "y")) <= 63  # it is a label value


def test_parent_records_kinds_and_other_namespaces():
    applyset = ApplySet("orchestrate.platform.web", "kube-system")
    parent = applyset.parent(["Deployment.apps", "Namespace", "Deployment.apps"], ["wp", "", "kube-system", "db"])
    annotations = parent["metadata"]["annotations"]
    assert annotations[GROUP_KINDS_ANNOTATION] == "Deployment.apps,Namespace"
    assert annotations[NAMESPACES_ANNOTATION] == "db,wp"
    assert parent["metadata"]["labels"][ID_LABEL] == applyset.id
    assert recorded(parent).group_kinds == {"Deployment.apps", "Namespace"}
    assert recorded(parent).namespaces == {"db", "wp"}
    assert recorded(None).group_kinds == frozenset()


def test_split_group_kind():
    assert split_group_kind("Deployment.apps") == ("apps", "Deployment")
    assert split_group_kind("HTTPRoute.gateway.networking.k8s.io") == ("gateway.networking.k8s.io", "HTTPRoute")
    assert split_group_kind("Secret") == ("", "Secret")


def ref(kind: str, name: str, namespace: str = "ns", group: str = "") -> Ref:
    return Ref(group, "v1", kind, namespace, name)


def test_prune_plan_deletes_what_is_no_longer_rendered():
    existing = [ref("ConfigMap", "keep"), ref("ConfigMap", "old"), ref("Deployment", "gone", group="apps")]
    plan = prune_plan(existing, [ref("ConfigMap", "keep")], prune_namespaces=False)
    assert plan.delete == sorted([ref("ConfigMap", "old"), ref("Deployment", "gone", group="apps")])
    assert plan.keep == []


def test_prune_plan_never_deletes_claims_and_namespaces_only_when_asked():
    existing = [ref("PersistentVolumeClaim", "data"), ref("Namespace", "old", namespace="")]
    plan = prune_plan(existing, [], prune_namespaces=False)
    assert plan.delete == [] and set(plan.keep) == set(existing)
    plan = prune_plan(existing, [], prune_namespaces=True)
    assert plan.delete == [ref("Namespace", "old", namespace="")]
    assert plan.keep == [ref("PersistentVolumeClaim", "data")]


def test_prune_plan_matches_across_api_versions():
    old = Ref("autoscaling", "v1", "HorizontalPodAutoscaler", "ns", "h")
    new = Ref("autoscaling", "v2", "HorizontalPodAutoscaler", "ns", "h")
    assert prune_plan([old], [new], prune_namespaces=False).delete == []
