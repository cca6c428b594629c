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
  - O(mode), O(render_dir), O(kubeconfig), O(context), O(kube_minor), O(wait), O(wait_timeout),
    O(applyset_namespace) and O(execution), when neither the task nor the play's C(module_defaults)
    set them, are taken from the inventory variables C(platform_mode), C(platform_render_dir),
    C(platform_kubeconfig), C(platform_kube_context), C(platform_kube_minor), C(platform_wait),
    C(platform_wait_timeout), C(platform_applyset_namespace) and C(platform_engine_execution), so
    that every stage follows one setting.
  - A workload scaled by a HorizontalPodAutoscaler that the same role renders gets C(spec.replicas)
    only when it is created; afterwards the field is left to the autoscaler (ownership is handed
    over without the value changing), so a re-run never scales it back.
  - A re-run with nothing to change only reads (the role's ApplySet parent and one LIST per kind);
    objects whose owned fields already hold the rendered values are not sent again. Discovery is
    read once per C(ansible-playbook) run on the controller and reused by later tasks.
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
  execution:
    description:
      - Where the engine runs. C(controller) runs it inside the action plugin on the controller
        (no module is shipped or started; the kubeconfig is read on the controller).
        C(module) ships it as a module to the task's host. C(auto) chooses C(controller) when the
        task's connection is C(local) without C(become) (a play on localhost, or C(delegate_to=
        localhost)), and C(module) otherwise.
      - Both run the same code (module_utils/manifests_engine.py) and return the same result.
    type: str
    choices: [auto, controller, module]
    default: auto
  documents_path:
    description: Internal. JSON file with the rendered documents, written by the action plugin for the module.
    type: path
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
execution:
  description: Where the engine ran (C(controller) or C(module)).
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

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_engine import (
    ARGUMENT_SPEC,
    RunFailed,
    run,
)
from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_objects import ManifestError


def load_documents(path):
    """The rendered documents as (source, objects), as the action plugin wrote them."""
    with open(path, encoding="utf-8") as handle:
        return [(doc["source"], doc["objects"]) for doc in json.load(handle)]


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    if not module.params["documents_path"]:
        module.fail_json(msg="documents_path is required (the action plugin writes it when called from a role)")
    try:
        result = run(module.params, load_documents(module.params["documents_path"]), module.check_mode, module._diff)
    except RunFailed as exc:
        module.fail_json(msg=str(exc), **exc.fields)
    except ManifestError as exc:
        module.fail_json(msg=str(exc))
    result.pop("_discovery", None)
    module.exit_json(execution="module", **result)


if __name__ == "__main__":
    main()
