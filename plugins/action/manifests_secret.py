# -*- coding: utf-8 -*-
# Copyright: orchestrate.platform developers
# Apache License 2.0 (see LICENSE)
"""Action plugin of orchestrate.platform.manifests_secret: runs on the controller, in-process,
because the files it keeps (build/secrets/) are the controller's; mode, kubeconfig and context
follow the same platform_* variables as the manifests engine."""

from __future__ import annotations

from typing import Any, Dict, Optional

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.orchestrate.platform.plugins.action.manifests import project_path
from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_objects import ManifestError
from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_secrets import keep
from ansible_collections.orchestrate.platform.plugins.module_utils.platform_vars import inherit
from ansible_collections.orchestrate.platform.plugins.modules.manifests_secret import ARGUMENT_SPEC

INHERITED = ("mode", "kubeconfig", "context")


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp: Any = None, task_vars: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        args = inherit(self._task.args, task_vars, INHERITED, self._templar.template)
        validated = ArgumentSpecValidator(ARGUMENT_SPEC).validate(args)
        if validated.error_messages:
            raise AnsibleActionFail("manifests_secret: %s" % "; ".join(validated.error_messages))
        params = validated.validated_parameters
        for key in ("kubeconfig", "directory"):
            if params.get(key):
                params[key] = project_path(str(params[key]))
        try:
            result.update(keep(params, check_mode=bool(self._play_context.check_mode)))
        except ManifestError as exc:
            # Errors name Secrets, keys and files, never values: shown even without -v.
            raise AnsibleActionFail(str(exc))
        # The result carries the values: censored in every output, whatever the task says
        # (the registered variable keeps them for the role's templates).
        result["_ansible_no_log"] = True
        return result
