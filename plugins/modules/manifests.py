#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: orchestrate.platform developers
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: manifests
short_description: Render a role's Kubernetes manifests, or server-side apply, prune and wait for them
version_added: "0.1.0"
description:
  - The one manifest engine of the collection. Called as a task of a role, its action plugin
    renders every template of the role's C(templates/) directory (C(*.j2), sorted by name)
    with the role's variables, plus any already-downloaded manifest C(files).
  - In C(mode=render) the objects are written to C(<render_dir>/<stage>/<role>/), one file per
    template, validated against the Kubernetes OpenAPI schema of O(kube_minor); nothing is
    applied. Unchanged files are not rewritten; files no longer rendered are removed.
  - In C(mode=apply) the objects are applied with server-side apply under one field manager,
    wave by wave (namespaces and CRDs, configuration, workloads, custom resources and
    admission hooks), each wave concurrently. Objects the role applied before and no longer
    renders are pruned (tracked as a KEP-3659 ApplySet per role); PersistentVolumeClaims are
    never pruned, Namespaces only with O(prune_namespaces). With O(wait), Deployments,
    StatefulSets, DaemonSets and Jobs are awaited.
  - Reports C(changed) only when a field owned by the field manager changed.
  - O(mode), O(render_dir), O(kubeconfig), O(context), O(kube_minor), O(wait) and O(wait_timeout),
    when neither the task nor the play's C(module_defaults) set them, are taken from the inventory
    variables C(platform_mode), C(platform_render_dir), C(platform_kubeconfig),
    C(platform_kube_context), C(platform_kube_minor), C(platform_wait) and C(platform_wait_timeout),
    so that every stage follows one setting.
author:
  - orchestrate.platform developers
attributes:
  check_mode:
    support: full
    details: Apply mode sends every request with dryRun=All; render mode writes nothing.
  diff_mode:
    support: full
    details: Shows the owned fields before and after; values of Secrets are hidden.
options:
  stage:
    description: Stage of the calling role; the render directory is C(<render_dir>/<stage>/<role>).
    type: str
    required: true
  role:
    description: Name of the calling role; filled in by the action plugin.
    type: str
  templates:
    description: Template file name patterns inside the role's C(templates/) directory. All C(*.j2) when omitted.
    type: list
    elements: str
  files:
    description: Local manifest files (already downloaded and checksum-verified) to render or apply with the templates.
    type: list
    elements: path
    default: []
  mode:
    description: C(render) writes the manifests and applies nothing; C(apply) applies them to the cluster.
    type: str
    choices: [render, apply]
    default: render
  render_dir:
    description: Root of the rendered manifests; a relative path is taken from the directory of ansible.cfg.
    type: path
    default: build/manifests
  kube_minor:
    description: Kubernetes minor version whose OpenAPI schema validates rendered objects.
    type: str
    default: "1.36"
  validate:
    description: Validate rendered objects against the OpenAPI schema (render mode).
    type: bool
    default: true
  kubeconfig:
    description: Path of the kubeconfig (apply mode). The C(KUBECONFIG) environment variable or C(~/.kube/config) when omitted.
    type: path
  context:
    description: Kubeconfig context to use (apply mode).
    type: str
  field_manager:
    description: Server-side apply field manager.
    type: str
    default: orchestrate.platform
  force_conflicts:
    description: Take over fields owned by other managers instead of failing on conflicts.
    type: bool
    default: true
  wait:
    description: Wait for Deployments, StatefulSets, DaemonSets and Jobs to become ready (apply mode).
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for readiness.
    type: int
    default: 600
  prune:
    description: Delete objects this role applied before and no longer renders.
    type: bool
    default: true
  prune_namespaces:
    description: Also prune Namespaces (deleting everything in them).
    type: bool
    default: false
  concurrency:
    description: Requests in flight at once.
    type: int
    default: 8
  applyset_namespace:
    description: Namespace of the ConfigMaps that record each role's applied objects.
    type: str
    default: kube-system
  documents_path:
    description: Internal. JSON file with the rendered documents, written by the action plugin.
    type: path
    required: true
notes:
  - Call it as a task of a role; the action plugin renders the role's templates on the controller.
requirements:
  - kubernetes (Python) for mode=apply
  - kubernetes-validate (Python) for schema validation in mode=render
"""

EXAMPLES = r"""
- name: Render or apply the namespaces manifests
  orchestrate.platform.manifests:
    stage: security

- name: Apply a downloaded, checksum-verified release manifest with the role's templates
  orchestrate.platform.manifests:
    stage: platform
    files:
      - "{{ __calico_manifest.dest }}"
"""

RETURN = r"""
mode:
  description: The mode that ran.
  returned: always
  type: str
summary:
  description: Objects per outcome (created, configured, unchanged, pruned, kept; rendered, validated in render mode).
  returned: always
  type: dict
changes:
  description: One line per changed object or file.
  returned: always
  type: list
  elements: str
kept:
  description: Objects no longer rendered that were deliberately not pruned (PVCs, Namespaces).
  returned: mode=apply
  type: list
  elements: str
no_schema:
  description: Rendered objects whose kind has no built-in schema (custom resources); not schema-validated.
  returned: mode=render
  type: list
  elements: str
directory:
  description: Where the manifests were rendered.
  returned: mode=render
  type: str
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_applyset import ApplySet
from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_objects import (
    ManifestError,
    check_unique,
    with_labels,
)

ARGUMENT_SPEC = dict(
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
    documents_path=dict(type="path", required=True),
)


def load_documents(path, labels):
    """The rendered documents as (source, objects), every object carrying the engine's labels."""
    with open(path, encoding="utf-8") as handle:
        documents = json.load(handle)
    return [(doc["source"], [with_labels(obj, labels) for obj in doc["objects"]]) for doc in documents]


def role_applyset(params):
    """The ApplySet that records what the calling role applied."""
    return ApplySet("orchestrate.platform.%s" % params["role"].replace("_", "-"), params["applyset_namespace"])


def run_render(module, documents):
    from ansible_collections.orchestrate.platform.plugins.module_utils import manifests_render as render

    params = module.params
    objects = [obj for _, objects in documents for obj in objects]
    directory = os.path.join(params["render_dir"], params["stage"], params["role"])
    summary = {"rendered": len(objects)}
    no_schema = []
    if params["validate"]:
        validation = render.validate(objects, render.SchemaValidator(params["kube_minor"]))
        if validation.invalid:
            module.fail_json(
                msg="%d object(s) of role %s do not match the Kubernetes %s schema: %s"
                % (len(validation.invalid), params["role"], params["kube_minor"], " | ".join(validation.invalid)),
                invalid=validation.invalid,
            )
        summary["validated"] = validation.validated
        no_schema = validation.no_schema
    result_plan = render.plan(directory, documents)
    if not module.check_mode:
        render.execute(result_plan)
    changes = ["wrote %s" % name for name in sorted(result_plan.write)] + ["removed %s" % name for name in result_plan.remove]
    result = dict(
        changed=result_plan.changed,
        mode="render",
        directory=directory,
        summary=summary,
        changes=changes,
        no_schema=no_schema,
        msg="render-only: %d object(s) in %s; nothing was applied to any cluster" % (len(objects), directory),
    )
    if module._diff:
        result["diff"] = render.diffs(result_plan, documents)
    module.exit_json(**result)


def run_apply(module, documents):
    from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_apply import (
        Applier,
        ApplyFailed,
        ApplyOptions,
    )
    from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_client import Client

    params = module.params
    options = ApplyOptions(
        field_manager=params["field_manager"],
        force_conflicts=params["force_conflicts"],
        check_mode=module.check_mode,
        want_diff=module._diff,
        wait=params["wait"],
        wait_timeout=float(params["wait_timeout"]),
        prune=params["prune"],
        prune_namespaces=params["prune_namespaces"],
        concurrency=params["concurrency"],
    )
    client = Client(params["kubeconfig"], params["context"], pool_size=params["concurrency"], timeout=60.0)
    objects = [obj for _, objects in documents for obj in objects]
    try:
        report = Applier(client, role_applyset(params), options).run(objects)
    except ApplyFailed as exc:
        module.fail_json(msg=str(exc), changed=exc.report.changed, **report_fields(exc.report))
    module.exit_json(changed=report.changed, mode="apply", **report_fields(report))


def report_fields(report):
    fields = dict(
        summary=report.summary(),
        changes=["%s %s" % (o.action, o.ref) + (" (%s)" % o.note if o.note else "") for o in report.outcomes if o.changed],
        kept=["%s: %s" % (o.ref, o.note) for o in report.outcomes if o.action == "kept"],
        not_ready=report.not_ready,
    )
    diffs = [o.diff for o in report.outcomes if o.diff]
    if diffs:
        fields["diff"] = diffs
    return fields


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    if not module.params["role"]:
        module.fail_json(msg="role is required (the action plugin fills it in when called from a role)")
    try:
        documents = load_documents(module.params["documents_path"], role_applyset(module.params).member_labels())
        check_unique([obj for _, objects in documents for obj in objects])
        if module.params["mode"] == "render":
            run_render(module, documents)
        else:
            run_apply(module, documents)
    except ManifestError as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()
