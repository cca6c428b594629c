# -*- coding: utf-8 -*-
# Copyright: orchestrate.platform developers
# Apache License 2.0 (see LICENSE)
"""Render mode: write a role's objects to build/manifests/<stage>/<role>/ and validate them.

Files are written only when their content changes and files the role no longer renders
are removed, so a second run reports nothing changed. Every object is validated against
the Kubernetes OpenAPI schema of the target minor version (kubernetes-validate's offline
schemas); kinds that have no built-in schema (custom resources) are reported as such.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_objects import (
    ManifestError,
    Obj,
    Ref,
    redact,
)

Document = Tuple[str, List[Obj]]  # (source template name, objects it rendered)


def output_name(source: str) -> str:
    """`10-namespace-x.yaml.j2` -> `10-namespace-x.yaml`."""
    name = os.path.basename(source)
    if name.endswith(".j2"):
        name = name[:-3]
    if not name.endswith((".yaml", ".yml")):
        name += ".yaml"
    return name


def dump(objects: Sequence[Obj]) -> str:
    import yaml

    return "".join("---\n" + yaml.safe_dump(obj, sort_keys=False, default_flow_style=False) for obj in objects)


@dataclass
class RenderPlan:
    directory: str
    write: Dict[str, str] = field(default_factory=dict)
    remove: List[str] = field(default_factory=list)
    unchanged: List[str] = field(default_factory=list)
    secret_files: List[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.write or self.remove)


def _read(path: str) -> Optional[str]:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def plan(directory: str, documents: Sequence[Document]) -> RenderPlan:
    """What writing `documents` into `directory` changes."""
    result = RenderPlan(directory)
    produced = set()
    for source, objects in documents:
        if not objects:
            # A template behind a false condition renders nothing: no empty file (a stale one goes).
            continue
        name = output_name(source)
        if name in produced:
            raise ManifestError("two sources render to the same file %s" % name)
        produced.add(name)
        text = dump(objects)
        if any(obj.get("kind") == "Secret" for obj in objects):
            result.secret_files.append(name)
        if _read(os.path.join(directory, name)) == text:
            result.unchanged.append(name)
        else:
            result.write[name] = text
    if os.path.isdir(directory):
        result.remove = sorted(
            name for name in os.listdir(directory) if name.endswith((".yaml", ".yml")) and name not in produced
        )
    return result


def execute(result: RenderPlan) -> None:
    os.makedirs(result.directory, exist_ok=True)
    for name, text in result.write.items():
        path = os.path.join(result.directory, name)
        mode = 0o600 if name in result.secret_files else 0o644
        fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(path + ".tmp", mode)
        os.replace(path + ".tmp", path)
    for name in result.remove:
        os.unlink(os.path.join(result.directory, name))


def diffs(result: RenderPlan, documents: Sequence[Document]) -> List[Dict[str, str]]:
    """Ansible diffs of the files that change; Secret values hidden."""
    shown = {output_name(source): dump([redact(obj) for obj in objects]) for source, objects in documents}
    out = []
    for name in sorted(result.write):
        path = os.path.join(result.directory, name)
        before = _read(path) or ""
        if name in result.secret_files and before:
            before = "<a rendered Secret: previous content not shown>\n"
        out.append({"before_header": path, "after_header": path, "before": before, "after": shown[name]})
    for name in result.remove:
        path = os.path.join(result.directory, name)
        out.append({"before_header": path, "after_header": path, "before": "<file removed>\n", "after": ""})
    return out


# -- schema validation ------------------------------------------------------------------------


class SchemaValidator:
    """Validates objects against the built-in OpenAPI schema of one Kubernetes minor version."""

    def __init__(self, kube_minor: str, strict: bool = True) -> None:
        try:
            import kubernetes_validate  # noqa: F401  (presence check)
        except ImportError as exc:
            raise ManifestError("schema validation needs the kubernetes-validate package: %s" % exc)
        self._minor = kube_minor.lstrip("v")
        self._strict = strict

    @staticmethod
    @lru_cache(maxsize=None)
    def _validator(minor: str, strict: bool, kind: str, api_version: str) -> Any:
        """A compiled jsonschema validator for one kind, or None when there is no built-in schema."""
        import re

        import jsonschema
        from kubernetes_validate import utils
        from referencing import Registry, Resource

        versions = [v for v in utils.all_versions() if utils.major_minor(v) <= utils.major_minor(minor)]
        if not versions:
            raise ManifestError("kubernetes-validate has no schema for Kubernetes %s" % minor)
        schema_dir = "v%s-local%s" % (versions[-1], "-strict" if strict else "")
        file_api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
        try:
            schema = utils.schema_contents("kubernetes-json-schema/%s/%s-%s.json" % (schema_dir, kind.lower(), file_api), minor)
        except FileNotFoundError:
            return None
        definitions = utils.schema_contents("kubernetes-json-schema/%s/_definitions.json" % schema_dir, minor)
        registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
        return jsonschema.validators.Draft202012Validator(schema, registry=registry)

    def errors(self, obj: Obj) -> Optional[List[str]]:
        """Schema errors of obj ([] when valid), or None when no built-in schema covers its kind."""
        validator = self._validator(self._minor, self._strict, str(obj.get("kind")), str(obj.get("apiVersion")))
        if validator is None:
            return None
        found = sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path))
        return ["%s: %s" % ("/".join(str(p) for p in err.absolute_path) or "(root)", err.message) for err in found[:5]]


@dataclass
class Validation:
    invalid: List[str] = field(default_factory=list)
    no_schema: List[str] = field(default_factory=list)
    validated: int = 0


def validate(objects: Sequence[Obj], validator: SchemaValidator) -> Validation:
    result = Validation()
    for obj in objects:
        ref = Ref.of(obj)
        errors = validator.errors(obj)
        if errors is None:
            result.no_schema.append("%s (%s)" % (ref, ref.api_version))
            continue
        result.validated += 1
        if errors:
            result.invalid.append("%s: %s" % (ref, "; ".join(errors)))
    return result
