"""Identity, apply order, labels and redaction of objects."""

from __future__ import annotations

import pytest

from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_objects import (
    REDACTED,
    WAVE_CONFIG,
    WAVE_EXTENSIONS,
    WAVE_FOUNDATION,
    WAVE_WORKLOADS,
    ManifestError,
    Ref,
    check_unique,
    group_into_waves,
    redact,
    wave_of,
    with_labels,
)


def obj(api_version: str, kind: str, name: str, namespace: str = "") -> dict:
    meta = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": api_version, "kind": kind, "metadata": meta}


def test_ref_splits_group_and_version():
    ref = Ref.of(obj("apps/v1", "Deployment", "web", "wp"))
    assert (ref.group, ref.version, ref.kind, ref.namespace, ref.name) == ("apps", "v1", "Deployment", "wp", "web")
    assert ref.group_kind == "Deployment.apps"
    assert str(ref) == "Deployment/wp/web"


def test_core_group_kind_has_no_group_suffix():
    ref = Ref.of(obj("v1", "Secret", "s", "ns"))
    assert ref.group == "" and ref.group_kind == "Secret" and ref.api_version == "v1"


@pytest.mark.parametrize("broken", [{"kind": "Secret", "metadata": {"name": "x"}}, {"apiVersion": "v1", "metadata": {"name": "x"}},
                                    {"apiVersion": "v1", "kind": "Secret", "metadata": {}}])
def test_ref_rejects_incomplete_objects(broken):
    with pytest.raises(ManifestError, match="apiVersion, kind and metadata.name"):
        Ref.of(broken)


@pytest.mark.parametrize(
    "api_version,kind,wave",
    [
        ("v1", "Namespace", WAVE_FOUNDATION),
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition", WAVE_FOUNDATION),
        ("v1", "ConfigMap", WAVE_CONFIG),
        ("networking.k8s.io/v1", "NetworkPolicy", WAVE_CONFIG),
        ("rbac.authorization.k8s.io/v1", "ClusterRole", WAVE_CONFIG),
        ("apps/v1", "StatefulSet", WAVE_WORKLOADS),
        ("policy/v1", "PodDisruptionBudget", WAVE_WORKLOADS),
        ("gateway.networking.k8s.io/v1", "HTTPRoute", WAVE_EXTENSIONS),
        ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", WAVE_EXTENSIONS),
    ],
)
def test_waves(api_version, kind, wave):
    assert wave_of(Ref.of(obj(api_version, kind, "x", "ns"))) == wave


def test_group_into_waves_orders_waves_and_keeps_order_inside():
    objects = [
        obj("gateway.networking.k8s.io/v1", "HTTPRoute", "r", "ns"),
        obj("apps/v1", "Deployment", "d2", "ns"),
        obj("v1", "ConfigMap", "c", "ns"),
        obj("apps/v1", "Deployment", "d1", "ns"),
        obj("v1", "Namespace", "ns"),
    ]
    waves = group_into_waves(objects)
    assert [number for number, _ in waves] == [WAVE_FOUNDATION, WAVE_CONFIG, WAVE_WORKLOADS, WAVE_EXTENSIONS]
    assert [o["metadata"]["name"] for o in waves[2][1]] == ["d2", "d1"]


def test_duplicates_are_rejected_even_across_versions():
    with pytest.raises(ManifestError, match="rendered twice"):
        check_unique([obj("autoscaling/v1", "HorizontalPodAutoscaler", "h", "ns"),
                      obj("autoscaling/v2", "HorizontalPodAutoscaler", "h", "ns")])
    check_unique([obj("v1", "ConfigMap", "a", "ns1"), obj("v1", "ConfigMap", "a", "ns2")])


def test_with_labels_merges_without_mutating():
    original = obj("v1", "ConfigMap", "c", "ns")
    original["metadata"]["labels"] = {"app": "x", "app.kubernetes.io/managed-by": "someone"}
    labelled = with_labels(original, {"app.kubernetes.io/managed-by": "orchestrate.platform"})
    assert labelled["metadata"]["labels"] == {"app": "x", "app.kubernetes.io/managed-by": "orchestrate.platform"}
    assert original["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "someone"


def test_redact_hides_secret_values_only():
    secret = obj("v1", "Secret", "s", "ns")
    secret["data"] = {"password": "c2VjcmV0"}
    secret["stringData"] = {"token": "plain"}
    shown = redact(secret)
    assert shown["data"] == {"password": REDACTED} and shown["stringData"] == {"token": REDACTED}
    assert secret["data"]["password"] == "c2VjcmV0"
    config = obj("v1", "ConfigMap", "c", "ns")
    config["data"] = {"k": "v"}
    assert redact(config) == config
