# -*- coding: utf-8 -*-
# Copyright: orchestrate.platform developers
# Apache License 2.0 (see LICENSE)
"""The CloudNativePG release manifest as the postgresql role applies it.

- orchestrate.platform.cnpg_operator_manifest(text, image, replicas): the release manifest's
  YAML documents (as downloaded and checksum-verified) without its Namespace (the namespaces
  role owns it, with its Pod Security labels: applying the bare Namespace under the same field
  manager would drop them), with the operator Deployment's image (container and the
  OPERATOR_IMAGE_NAME it hands to the instances) moved to `image`, `replicas` replicas spread
  over nodes, returned as YAML text. Everything else is left as upstream wrote it.
"""

from __future__ import annotations

from typing import Any, Dict, List

import yaml

Obj = Dict[str, Any]
DEPLOYMENT = "cnpg-controller-manager"


class CnpgManifestError(ValueError):
    """The text is not the CloudNativePG release manifest this filter knows."""


def _operator(documents: List[Obj]) -> Obj:
    found = [d for d in documents if d.get("kind") == "Deployment" and d.get("metadata", {}).get("name") == DEPLOYMENT]
    if len(found) != 1:
        raise CnpgManifestError("the manifest has %d Deployments named %s, expected 1" % (len(found), DEPLOYMENT))
    return found[0]


def _set_image(pod: Obj, image: str) -> None:
    containers = pod.get("containers") or []
    if len(containers) != 1:
        raise CnpgManifestError("the operator Deployment has %d containers, expected 1" % len(containers))
    container = containers[0]
    container["image"] = image
    for variable in container.get("env") or []:
        if variable.get("name") == "OPERATOR_IMAGE_NAME":
            variable["value"] = image


def _spread(template: Obj) -> None:
    labels = template.get("metadata", {}).get("labels") or {}
    template["spec"]["affinity"] = {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": labels}}}]}}


def cnpg_operator_manifest(text: str, image: str, replicas: int) -> str:
    """The adapted release manifest (see the module docstring)."""
    documents = [d for d in yaml.safe_load_all(str(text)) if d]
    kept = [d for d in documents if d.get("kind") != "Namespace"]
    deployment = _operator(kept)
    deployment["spec"]["replicas"] = int(replicas)
    _set_image(deployment["spec"]["template"]["spec"], str(image))
    _spread(deployment["spec"]["template"])
    return yaml.safe_dump_all(kept, sort_keys=False)


class FilterModule:
    def filters(self) -> Dict[str, Any]:
        return {"cnpg_operator_manifest": cnpg_operator_manifest}
