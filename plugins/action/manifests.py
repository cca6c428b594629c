# -*- coding: utf-8 -*-
# Copyright: orchestrate.platform developers
# Apache License 2.0 (see LICENSE)
"""Action plugin of orchestrate.platform.manifests: renders the calling role's templates on the
controller and runs the engine (module_utils/manifests_engine.py) on them.

When the API server is reached from the controller (the task's connection is local, without
become: a play on localhost or `delegate_to: localhost`), the engine runs here, in this process:
no module is built, shipped or started, and the objects are never serialised. Otherwise the
objects go to the module in a private temporary file (so that rendered Secrets never appear in
module arguments or logs) and the module runs the same engine on the task's host.

Discovery of the API server is kept for the rest of the ansible-playbook run in the run's
private local temporary directory (removed when the run ends), so later tasks skip it."""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import os
from typing import Any, Dict, Iterator, List, Optional

import yaml

from ansible import constants as C
from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase
from ansible.template import trust_as_template

from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_engine import (
    ARGUMENT_SPEC,
    RunFailed,
    run as run_engine,
)
from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_objects import ManifestError
from ansible_collections.orchestrate.platform.plugins.module_utils.platform_vars import PLATFORM_VARIABLES, inherit

MODULE = "orchestrate.platform.manifests"



class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """YAML loader that keeps timestamps as strings: objects go to the API as JSON. libyaml's parser
    when PyYAML has it: about ten times faster than the pure-Python one on large manifests."""


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


@contextlib.contextmanager
def environment(values: Dict[str, Any]) -> Iterator[None]:
    """The task's `environment:` applied to this process while the engine runs in it."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update({key: str(value) for key, value in values.items()})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class DiscoveryCache:
    """What earlier tasks of this ansible-playbook run learned about an API server, kept in the
    run's own local temporary directory (ansible removes it when the run ends)."""

    def __init__(self, directory: Optional[str], params: Dict[str, Any], environ: Dict[str, Any]) -> None:
        self._path = None
        if directory:
            key = json.dumps([params.get("kubeconfig"), params.get("context"), environ.get("KUBECONFIG", os.environ.get("KUBECONFIG"))])
            self._path = os.path.join(directory, "orchestrate-discovery-%s.json" % hashlib.sha256(key.encode()).hexdigest()[:16])

    def load(self) -> Optional[Dict[str, Any]]:
        if not self._path:
            return None
        try:
            with open(self._path, encoding="utf-8") as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return None

    def save(self, snapshot: Optional[Dict[str, Any]]) -> None:
        if not self._path or not snapshot:
            return
        try:
            os.makedirs(os.path.dirname(self._path), exist_ok=True)
            with open(self._path + ".tmp", "w", encoding="utf-8") as handle:
                json.dump(snapshot, handle)
            os.replace(self._path + ".tmp", self._path)
        except OSError:
            pass  # a cache: the next task reads discovery from the server instead


def project_path(path: str) -> str:
    """A relative path taken from the directory of the ansible.cfg in use (the project root)."""
    if os.path.isabs(path):
        return path
    base = os.path.dirname(C.CONFIG_FILE) if C.CONFIG_FILE else os.getcwd()
    return os.path.normpath(os.path.join(base, path))


class ActionModule(ActionBase):
    TRANSFERS_FILES = False  # the module path makes its temporary directory itself

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
        documents = []
        for path in self._templates(os.path.join(role._role_path, "templates"), args.get("templates")):
            source = os.path.basename(path)
            documents.append({"source": source, "objects": parse_documents(self._render(path, task_vars), source)})
        for path in args.get("files") or []:
            with open(project_path(path), encoding="utf-8") as handle:
                documents.append({"source": os.path.basename(path), "objects": parse_documents(handle.read(), path)})
        return documents

    def _params(self, task_vars: Dict[str, Any]) -> Dict[str, Any]:
        """The task's arguments completed from the platform_* variables and validated."""
        args = inherit(self._task.args, task_vars, PLATFORM_VARIABLES, self._templar.template)
        args.setdefault("role", self._task._role.get_name(include_role_fqcn=False))
        for key in ("render_dir", "kubeconfig"):
            if args.get(key):
                args[key] = project_path(str(args[key]))
        if not args.get("render_dir"):
            args["render_dir"] = project_path("build/manifests")
        validation = ArgumentSpecValidator(ARGUMENT_SPEC).validate(args)
        if validation.error_messages:
            raise AnsibleActionFail("%s: %s" % (MODULE, "; ".join(validation.error_messages)))
        return validation.validated_parameters

    def _on_controller(self, params: Dict[str, Any]) -> bool:
        """Run the engine here? Forced by `execution`, else when the task's host is the controller."""
        if params["execution"] != "auto":
            return params["execution"] == "controller"
        return getattr(self._connection, "transport", None) == "local" and not self._play_context.become

    def _run_here(self, params: Dict[str, Any], documents: List[Any]) -> Dict[str, Any]:
        environ: Dict[str, Any] = {}
        self._compute_environment_string(environ)
        cache = DiscoveryCache(C.DEFAULT_LOCAL_TMP, params, environ)
        try:
            with environment(environ):
                result = run_engine(params, [(d["source"], d["objects"]) for d in documents],
                                    bool(self._task.check_mode), bool(self._task.diff), cache.load())
        except RunFailed as exc:
            return dict(exc.fields, failed=True, msg=str(exc), execution="controller")
        except ManifestError as exc:
            return dict(failed=True, msg=str(exc), execution="controller")
        cache.save(result.pop("_discovery", None))
        result["execution"] = "controller"
        return result

    def _run_module(self, params: Dict[str, Any], documents: List[Any], task_vars: Dict[str, Any]) -> Dict[str, Any]:
        args = {key: value for key, value in params.items() if key not in ("templates", "files") and value is not None}
        remote = self._connection._shell.join_path(self._make_tmp_path(), "documents.json")
        try:
            self._transfer_data(remote, json.dumps(documents))
            self._fixup_perms2([remote])
            args["documents_path"] = remote
            module_result = self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars)
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        module_result.pop("invocation", None)
        return module_result

    def run(self, tmp: Any = None, task_vars: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        if self._task._role is None:
            raise AnsibleActionFail("%s must run as a task of a role: it renders that role's templates/" % MODULE)
        params = self._params(task_vars)
        documents = self._documents(params, task_vars)
        if self._on_controller(params):
            result.update(self._run_here(params, documents))
        else:
            result.update(self._run_module(params, documents, task_vars))
        return result
