#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: orchestrate.platform developers
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: manifests_secret
short_description: Keep a role's generated secrets - the cluster's Secret first, then the controller's files, then new values
version_added: "0.1.0"
description:
  - Resolves the value of every key of one Secret so that a run never replaces what the cluster
    already uses, whoever runs it and from whichever checkout. In this order, key by key
    (rotation asked for; the cluster's copy; the controller's file; a new random value);
    see the O(keys) and O(rotate) options.
  - In C(mode=apply) the Secret (and any O(keys[].source) Secret) is read from the cluster with
    the engine's client and the same kubeconfig settings as M(orchestrate.platform.manifests).
    A missing Secret or namespace means "not created yet"; any other error (unreachable API,
    forbidden) fails the task, so that an unreadable cluster never looks like a fresh one.
  - In C(mode=render) there is no cluster, so the controller's files are used, missing ones generated.
  - The controller's files (under C(build/secrets/), never in git) are rewritten, mode 0600,
    whenever they differ from the result, so that file-based tools (certificate signing) and
    operators see the values in use.
  - Runs on the controller (its action plugin does the work in-process).
author:
  - orchestrate.platform developers
attributes:
  check_mode:
    support: full
    details: Reads the cluster and the files; writes no file. Values that would be generated are returned but not kept.
  diff_mode:
    support: none
options:
  namespace:
    description: Namespace of the Secret.
    type: str
    required: true
  name:
    description: Name of the Secret.
    type: str
    required: true
  directory:
    description: Directory on the controller that relative O(keys[].file) paths are taken from (created 0700).
    type: path
    required: true
  keys:
    description: The keys of the Secret.
    type: list
    elements: dict
    required: true
    suboptions:
      key:
        description: Key in the Secret.
        type: str
        required: true
      file:
        description: The controller's file of the value (relative to O(directory)).
        type: str
        required: true
      length:
        description: Length of a generated value; 0 means never generated here (made by another tool, e.g. a certificate and its key).
        type: int
        default: 0
      chars:
        description: Characters a generated value is drawn from (ASCII letters and digits when omitted).
        type: str
      source:
        description:
          - Another Secret whose key this one copies (e.g. an application's copy of its database user's
            password); read first, so the copy follows the original. Never rotated here.
        type: dict
        suboptions:
          namespace:
            description: Namespace of the source Secret.
            type: str
            required: true
          name:
            description: Name of the source Secret.
            type: str
            required: true
          key:
            description: Key in the source Secret.
            type: str
            required: true
  rotate:
    description:
      - Keys that get new values, whatever exists (keys with a O(keys[].source) follow their source and
        are never rotated here); keys with length 0 have their files removed, so that the tool that
        makes them makes new ones. The explicit rotation operation is described in docs/operations/day-2.md, section Rotate application secrets
        for what each role does around it.
    type: list
    elements: str
    default: []
  mode:
    description: C(apply) reads the cluster; C(render) uses the controller's files only. From C(platform_mode) when not set.
    type: str
    choices: [render, apply]
    default: render
  kubeconfig:
    description: Kubeconfig path (apply mode); from C(platform_kubeconfig), else C(KUBECONFIG) or C(~/.kube/config).
    type: path
  context:
    description: Kubeconfig context (apply mode); from C(platform_kube_context) when not set.
    type: str
notes:
  - The result is always censored (as with C(no_log)), since it carries the values; errors name
    Secrets, keys and files but never values, so they are shown. The registered variable keeps
    the values for the role's templates.
requirements:
  - kubernetes (Python) for exec-plugin kubeconfigs in mode=apply
"""

EXAMPLES = r"""
- name: Keep the database passwords
  orchestrate.platform.manifests_secret:
    namespace: mariadb
    name: mariadb-galera-credentials
    directory: "{{ mariadb_galera_secrets_dir }}"
    keys:
      - {key: root-password, file: mariadb-root-password, length: 32}
    rotate: "{{ ['root-password'] if rotate_the_root_password | default(false) | bool else [] }}"
  register: __mariadb_galera_credentials
"""

RETURN = r"""
data:
  description: Value of each key that has one (keys with length 0 and no value anywhere are absent).
  returned: always
  type: dict
origins:
  description: Where each key's value came from - rotated, cluster, cluster <namespace>/<name> (a source Secret), file, generated or missing.
  returned: always
  type: dict
files:
  description: What was done to the controller's files, one line a file.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_objects import ManifestError
from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_secrets import keep

ARGUMENT_SPEC = dict(
    namespace=dict(type="str", required=True),
    name=dict(type="str", required=True),
    directory=dict(type="path", required=True),
    keys=dict(type="list", elements="dict", required=True, no_log=False),
    rotate=dict(type="list", elements="str", default=[]),
    mode=dict(type="str", choices=["render", "apply"], default="render"),
    kubeconfig=dict(type="path"),
    context=dict(type="str"),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    try:
        result = keep(module.params, check_mode=module.check_mode)
    except ManifestError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
