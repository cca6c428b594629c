"""orchestrate.platform.cnpg_operator_manifest: the CloudNativePG release manifest as the
postgresql role applies it (no Namespace, the operator image and replicas set, the rest as is)."""

from __future__ import annotations

from typing import Any, Dict, List

import pytest
import yaml

from ansible_collections.orchestrate.platform.plugins.filter.cnpg import CnpgManifestError, cnpg_operator_manifest

UPSTREAM_IMAGE = "ghcr.io/cloudnative-pg/cloudnative-pg:1.30.0"


def release(containers: int = 1, deployments: int = 1) -> str:
    """A small manifest shaped like the release file: Namespace, CRD, ServiceAccount, Deployment, webhook."""
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "cnpg-controller-manager", "namespace": "cnpg-system", "labels": {"app.kubernetes.io/name": "cloudnative-pg"}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": "cloudnative-pg"}},
                 "template": {"metadata": {"labels": {"app.kubernetes.io/name": "cloudnative-pg"}},
                              "spec": {"containers": [{"name": "manager", "image": UPSTREAM_IMAGE,
                                                       "env": [{"name": "OPERATOR_IMAGE_NAME", "value": UPSTREAM_IMAGE},
                                                               {"name": "MONITORING_QUERIES_CONFIGMAP", "value": "cnpg-default-monitoring"}]}
                                                      for _ in range(containers)]}}}}
    documents = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "cnpg-system"}},
        {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "clusters.postgresql.cnpg.io"}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "cnpg-manager", "namespace": "cnpg-system"}},
        *[deployment] * deployments,
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
         "metadata": {"name": "cnpg-validating-webhook-configuration"}},
    ]
    return yaml.safe_dump_all(documents)


def adapted(text: str, image: str = "mirror.example.org/cnpg/cloudnative-pg:1.30.0", replicas: int = 2) -> List[Dict[str, Any]]:
    return list(yaml.safe_load_all(cnpg_operator_manifest(text, image, replicas)))


def test_the_namespace_is_left_to_the_namespaces_role() -> None:
    kinds = [d["kind"] for d in adapted(release())]
    assert kinds == ["CustomResourceDefinition", "ServiceAccount", "Deployment", "ValidatingWebhookConfiguration"]


def test_operator_image_and_the_image_it_hands_to_instances_come_from_the_mirror() -> None:
    deployment = adapted(release())[2]
    manager = deployment["spec"]["template"]["spec"]["containers"][0]
    assert manager["image"] == "mirror.example.org/cnpg/cloudnative-pg:1.30.0"
    env = {e["name"]: e["value"] for e in manager["env"]}
    assert env == {"OPERATOR_IMAGE_NAME": "mirror.example.org/cnpg/cloudnative-pg:1.30.0",
                   "MONITORING_QUERIES_CONFIGMAP": "cnpg-default-monitoring"}


def test_replicas_are_spread_over_nodes() -> None:
    deployment = adapted(release(), replicas=3)[2]
    assert deployment["spec"]["replicas"] == 3
    term = deployment["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
    assert term["podAffinityTerm"] == {"topologyKey": "kubernetes.io/hostname",
                                       "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "cloudnative-pg"}}}


def test_everything_else_is_kept_as_upstream_wrote_it() -> None:
    original = [d for d in yaml.safe_load_all(release()) if d["kind"] not in ("Namespace", "Deployment")]
    assert [d for d in adapted(release()) if d["kind"] != "Deployment"] == original


@pytest.mark.parametrize("text, message", [
    (release(deployments=0), "0 Deployments"),
    (release(deployments=2), "2 Deployments"),
    (release(containers=2), "2 containers"),
])
def test_an_unknown_shape_is_refused(text: str, message: str) -> None:
    with pytest.raises(CnpgManifestError, match=message):
        cnpg_operator_manifest(text, "registry.example.org/x:1", 2)
