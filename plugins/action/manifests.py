# -*- coding: utf-8 -*-
# Copyright: orchestrate.platform developers
# Apache License 2.0 (see LICENSE)
"""Action plugin of orchestrate.platform.manifests: renders the calling role's templates on the
controller, hands the objects to the module in a private temporary file (so that rendered
Secrets never appear in module arguments or logs), and returns the module's result."""

from __future__ import annotations

import fnmatch
import json
import os
from typing import Any, Dict, List, Optional

import yaml

from ansible import constants as C
from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.template import trust_as_template

MODULE = "orchestrate.platform.manifests"

# Options a play or inventory sets once for every role: taken from these variables when the
# task (or the play's module_defaults) does not set them.
PLATFORM_VARIABLES = {
    "mode": "platform_mode",
    "render_dir": "platform_render_dir",
    "kubeconfig": "platform_kubeconfig",
    "context": "platform_kube_context",
    "kube_minor": "platform_kube_minor",
    "wait": "platform_wait",
    "wait_timeout": "platform_wait_timeout",
}


class _Loader(yaml.SafeLoader):
    """YAML loader that keeps timestamps as strings: objects go to the API as JSON."""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse_documents(text: str, source: str) -> List[Dict[str, Any]]:
    """The objects of a YAML stream; empty documents are skipped, anything else but a mapping is an error."""
    try:
        documents = list(yaml.load_all(str(text), Loader=_Loader))  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise AnsibleActionFail("%s does not render to valid YAML: %s" % (source, exc))
    objects = []
    for index, document in enumerate(documents):
        if document is None:
            continue
        if not isinstance(document, dict):
            raise AnsibleActionFail("%s: document %d is a %s, not a Kubernetes object" % (source, index, type(document).__name__))
        if document.get("kind", "").endswith("List") and isinstance(document.get("items"), list):
            objects.extend(document["items"])
        else:
            objects.append(document)
    return objects


def project_path(path: str) -> str:
    """A relative path taken from the directory of the ansible.cfg in use (the project root)."""
    if os.path.isabs(path):
        return path
    base = os.path.dirname(C.CONFIG_FILE) if C.CONFIG_FILE else os.getcwd()
    return os.path.normpath(os.path.join(base, path))


class ActionModule(ActionBase):
    TRANSFERS_FILES = True

    def _templates(self, directory: str, patterns: Optional[List[str]]) -> List[str]:
        if not os.path.isdir(directory):
            return []
        names = sorted(name for name in os.listdir(directory) if name.endswith(".j2"))
        if patterns:
            names = [name for name in names if any(fnmatch.fnmatch(name, pattern) for pattern in patterns)]
        return [os.path.join(directory, name) for name in names]

    def _render(self, path: str, task_vars: Dict[str, Any]) -> str:
        data = trust_as_template(self._loader.get_text_file_contents(path))
        templar = self._templar.copy_with_new_env(searchpath=[os.path.dirname(path)], available_variables=task_vars)
        result = templar.template(data, escape_backslashes=False)
        # The templar returns native values: None for a template that renders nothing (e.g. an
        # object behind a false condition), a dict or list for a bare expression.
        if result is None:
            return ""
        if isinstance(result, dict):
            return yaml.safe_dump(result)
        if isinstance(result, list):
            return yaml.safe_dump_all(result)
        return str(result)

    def _documents(self, args: Dict[str, Any], task_vars: Dict[str, Any]) -> List[Dict[str, Any]]:
        role = self._task._role
        if role is None:
            raise AnsibleActionFail("%s must run as a task of a role: it renders that role's templates/" % MODULE)
        documents = []
        for path in self._templates(os.path.join(role._role_path, "templates"), args.get("templates")):
            source = os.path.basename(path)
            documents.append({"source": source, "objects": parse_documents(self._render(path, task_vars), source)})
        for path in args.get("files") or []:
            with open(project_path(path), encoding="utf-8") as handle:
                documents.append({"source": os.path.basename(path), "objects": parse_documents(handle.read(), path)})
        return documents

    def run(self, tmp: Any = None, task_vars: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        documents = self._documents(args, task_vars)
        args.pop("templates", None)
        args.pop("files", None)
        args.setdefault("role", self._task._role.get_name(include_role_fqcn=False))
        for option, variable in PLATFORM_VARIABLES.items():
            if args.get(option) is None and task_vars.get(variable) is not None:
                args[option] = self._templar.template(task_vars[variable])
        for key in ("render_dir", "kubeconfig"):
            if args.get(key):
                args[key] = project_path(str(args[key]))
        if "render_dir" not in args:
            args["render_dir"] = project_path("build/manifests")

        remote = self._connection._shell.join_path(self._make_tmp_path(), "documents.json")
        try:
            self._transfer_data(remote, json.dumps(documents))
            self._fixup_perms2([remote])
            args["documents_path"] = remote
            module_result = self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars)
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        module_result.pop("invocation", None)
        result.update(module_result)
        return result
