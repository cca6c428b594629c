"""Every rendered object validates against the OpenAPI schema of the target Kubernetes version."""

from __future__ import annotations

from typing import Any, Dict, List

import kubernetes_validate
import pytest
import yaml

from project import ROOT

from rendered import Rendered


def target_minor() -> str:
    group_vars = yaml.safe_load((ROOT / "inventories/local/group_vars/all.yml").read_text())
    return str(group_vars["platform_kube_minor"])


def schema_errors(obj: Dict[str, Any], minor: str) -> List[str]:
    try:
        kubernetes_validate.validate(obj, minor, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return ["%s: %s" % ("/".join(str(p) for p in exc.path), exc.message)]
    except kubernetes_validate.SchemaNotFoundError:
        return ["no schema"]
    return []


# API groups under .k8s.io that are CRDs (installed with their implementations), not built in.
CRD_GROUPS = {"gateway.networking.k8s.io", "snapshot.storage.k8s.io"}


def is_custom(obj: Dict[str, Any]) -> bool:
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    return "." in group and (not group.endswith(".k8s.io") or group in CRD_GROUPS)


def test_target_version_has_schemas() -> None:
    assert kubernetes_validate.utils.major_minor(target_minor()) <= kubernetes_validate.utils.major_minor(
        kubernetes_validate.utils.latest_version()
    )


def test_every_builtin_object_is_valid(rendered: Rendered) -> None:
    minor = target_minor()
    problems = []
    for path, objects in rendered.files.items():
        for obj in objects:
            if is_custom(obj):
                continue
            errors = schema_errors(obj, minor)
            if errors:
                problems.append("%s %s/%s: %s" % (path, obj.get("kind"), obj["metadata"].get("name"), errors))
    assert not problems, "\n".join(problems)


def test_validation_catches_a_broken_object() -> None:
    broken = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "x"},
              "spec": {"policyTypes": "Ingress"}}
    assert schema_errors(broken, target_minor())


@pytest.mark.parametrize("api_version, custom", [("v1", False), ("gateway.networking.k8s.io/v1", True), ("apps/v1", False),
                                                  ("crd.projectcalico.org/v1", True)])
def test_custom_resource_detection(api_version: str, custom: bool) -> None:
    assert is_custom({"apiVersion": api_version}) is custom
