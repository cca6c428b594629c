# -*- coding: utf-8 -*-
# Copyright: orchestrate.platform developers
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
name: rendered
short_description: Count what a render run wrote, per stage
version_added: "0.1.0"
description:
  - Reads the render directory (C(<dir>/<stage>/<role>/*.yaml)) and returns, per stage, the
    number of objects, files and empty files, and the roles that rendered something.
  - The closing report of C(site.yml) uses it, so the summary states what is on disk.
options:
  _terms:
    description: The render directory.
    required: true
    type: path
author:
  - orchestrate.platform developers
"""

EXAMPLES = r"""
- name: Say what was rendered
  ansible.builtin.debug:
    msg: "{{ lookup('orchestrate.platform.rendered', '/tmp/manifests') }}"
"""

RETURN = r"""
_raw:
  description: One dict per stage, sorted by name; keys stage, objects, files, empty, roles.
  type: list
  elements: dict
"""

import os
from typing import Any, Dict, List

import yaml
from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase


def stage_summary(root: str) -> List[Dict[str, Any]]:
    """Per stage directory under root: objects, files, empty files and the roles with files."""
    summary = []
    if not os.path.isdir(root):
        return summary
    for stage in sorted(os.listdir(root)):
        stage_dir = os.path.join(root, stage)
        if not os.path.isdir(stage_dir):
            continue
        entry = {"stage": stage, "objects": 0, "files": 0, "empty": 0, "roles": []}
        for role in sorted(os.listdir(stage_dir)):
            role_dir = os.path.join(stage_dir, role)
            names = sorted(name for name in os.listdir(role_dir) if name.endswith((".yaml", ".yml"))) \
                if os.path.isdir(role_dir) else []
            if names:
                entry["roles"].append(role)
            for name in names:
                with open(os.path.join(role_dir, name), encoding="utf-8") as handle:
                    count = sum(1 for doc in yaml.safe_load_all(handle) if doc)
                entry["files"] += 1
                entry["objects"] += count
                entry["empty"] += 0 if count else 1
        summary.append(entry)
    return summary


class LookupModule(LookupBase):
    def run(self, terms: List[Any], variables: Any = None, **kwargs: Any) -> List[Any]:
        if len(terms) != 1:
            raise AnsibleLookupError("orchestrate.platform.rendered takes one render directory")
        return [stage_summary(str(terms[0]))]
