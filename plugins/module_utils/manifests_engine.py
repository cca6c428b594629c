# -*- coding: utf-8 -*-
# Copyright: orchestrate.platform developers
# Apache License 2.0 (see LICENSE)
"""One run of the manifest engine, whoever runs it.

The action plugin calls `run()` in its own process when the API server is reached from the
controller (the task's connection is local); the module calls the same `run()` on a delegated
host. Both hand over the rendered documents as Python objects, validated against ARGUMENT_SPEC,
and get a result dict back, or a RunFailed whose `fields` belong in the failed result.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_applyset import ApplySet
from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_objects import (
    ManifestError,
    Obj,
    check_unique,
    with_labels,
)

Document = Tuple[str, List[Obj]]

ARGUMENT_SPEC: Dict[str, Dict[str, Any]] = dict(
    stage=dict(type="str", required=True),
    role=dict(type="str"),
    templates=dict(type="list", elements="str"),
    files=dict(type="list", elements="path", default=[]),
    mode=dict(type="str", choices=["render", "apply"], default="render"),
    render_dir=dict(type="path", default="build/manifests"),
    kube_minor=dict(type="str", default="1.36"),
    validate=dict(type="bool", default=True),
    kubeconfig=dict(type="path"),
    context=dict(type="str"),
    field_manager=dict(type="str", default="orchestrate.platform"),
    force_conflicts=dict(type="bool", default=True),
    wait=dict(type="bool", default=True),
    wait_timeout=dict(type="int", default=600),
    prune=dict(type="bool", default=True),
    prune_namespaces=dict(type="bool", default=False),
    concurrency=dict(type="int", default=8),
    applyset_namespace=dict(type="str", default="kube-system"),
    execution=dict(type="str", choices=["auto", "controller", "module"], default="auto"),
    documents_path=dict(type="path"),
)


class RunFailed(ManifestError):
    """The run failed; `fields` (summary, changes, invalid objects...) go into the failed result."""

    def __init__(self, message: str, fields: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(message)
        self.fields = fields or {}


def role_applyset(params: Mapping[str, Any]) -> ApplySet:
    """The ApplySet that records what the calling role applied."""
    return ApplySet("orchestrate.platform.%s" % str(params["role"]).replace("_", "-"), params["applyset_namespace"])


def labelled(documents: Sequence[Document], params: Mapping[str, Any]) -> List[Document]:
    """The documents with every object carrying the engine's labels; fails on duplicates."""
    labels = role_applyset(params).member_labels()
    out = [(source, [with_labels(obj, labels) for obj in objects]) for source, objects in documents]
    check_unique([obj for _, objects in out for obj in objects])
    return out


def run(
    params: Mapping[str, Any],
    documents: Sequence[Document],
    check_mode: bool,
    diff: bool,
    discovery: Optional[Dict[str, Any]] = None,
) -> Dict[str, Any]:
    """Render or apply the documents; the result of the task (without `invocation`).

    `discovery` is what an earlier task of the same run learned about the API server
    (Discovery.snapshot()); the result carries the updated snapshot under `_discovery` for the
    caller to keep (the action plugin removes it from what the task returns).
    """
    if not params.get("role"):
        raise RunFailed("role is required (the action plugin fills it in when called from a role)")
    docs = labelled(documents, params)
    if params["mode"] == "render":
        return run_render(params, docs, check_mode, diff)
    return run_apply(params, docs, check_mode, diff, discovery)


def run_render(params: Mapping[str, Any], documents: List[Document], check_mode: bool, diff: bool) -> Dict[str, Any]:
    from ansible_collections.orchestrate.platform.plugins.module_utils import manifests_render as render

    objects = [obj for _, objects in documents for obj in objects]
    directory = os.path.join(params["render_dir"], params["stage"], params["role"])
    summary: Dict[str, int] = {"rendered": len(objects)}
    no_schema: List[str] = []
    if params["validate"]:
        validation = render.validate(objects, render.SchemaValidator(params["kube_minor"]))
        if validation.invalid:
            raise RunFailed(
                "%d object(s) of role %s do not match the Kubernetes %s schema: %s"
                % (len(validation.invalid), params["role"], params["kube_minor"], " | ".join(validation.invalid)),
                {"invalid": validation.invalid},
            )
        summary["validated"] = validation.validated
        no_schema = validation.no_schema
    result_plan = render.plan(directory, documents)
    if not check_mode:
        render.execute(result_plan)
    changes = ["wrote %s" % name for name in sorted(result_plan.write)] + ["removed %s" % name for name in result_plan.remove]
    result: Dict[str, Any] = dict(
        changed=result_plan.changed,
        mode="render",
        directory=directory,
        summary=summary,
        changes=changes,
        no_schema=no_schema,
        msg="render-only: %d object(s) in %s; nothing was applied to any cluster" % (len(objects), directory),
    )
    if diff:
        result["diff"] = render.diffs(result_plan, documents)
    return result


def run_apply(
    params: Mapping[str, Any],
    documents: List[Document],
    check_mode: bool,
    diff: bool,
    discovery: Optional[Dict[str, Any]],
) -> Dict[str, Any]:
    from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_apply import (
        Applier,
        ApplyFailed,
        ApplyOptions,
    )
    from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_client import Client, Discovery

    options = ApplyOptions(
        field_manager=params["field_manager"],
        force_conflicts=params["force_conflicts"],
        check_mode=check_mode,
        want_diff=diff,
        wait=params["wait"],
        wait_timeout=float(params["wait_timeout"]),
        prune=params["prune"],
        prune_namespaces=params["prune_namespaces"],
        concurrency=params["concurrency"],
    )
    client = Client(params["kubeconfig"], params["context"], pool_size=params["concurrency"], timeout=60.0)
    known = discovery if discovery and discovery.get("server") == client.server else None
    applier = Applier(client, role_applyset(params), options, Discovery(client, known))
    objects = [obj for _, objects in documents for obj in objects]
    try:
        report = applier.run(objects)
    except ApplyFailed as exc:
        raise RunFailed(str(exc), dict(changed=exc.report.changed, **report_fields(exc.report)))
    snapshot = dict(applier.discovery.snapshot(), server=client.server)
    return dict(changed=report.changed, mode="apply", _discovery=snapshot, **report_fields(report))


def report_fields(report: Any) -> Dict[str, Any]:
    fields: Dict[str, Any] = dict(
        summary=report.summary(),
        changes=["%s %s" % (o.action, o.ref) + (" (%s)" % o.note if o.note else "") for o in report.outcomes if o.changed],
        kept=["%s: %s" % (o.ref, o.note) for o in report.outcomes if o.action == "kept"],
        not_ready=report.not_ready,
    )
    diffs = [o.diff for o in report.outcomes if o.diff]
    if diffs:
        fields["diff"] = diffs
    return fields
