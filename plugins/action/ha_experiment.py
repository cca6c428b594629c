# -*- coding: utf-8 -*-
# Copyright: orchestrate.platform developers
# Apache License 2.0 (see LICENSE)
"""Action plugin of orchestrate.platform.ha_experiment: the experiment runs in-process on the
controller with the engine's client (kubeconfig and context from the platform_* variables)."""

from __future__ import annotations

import os
import time
from typing import Any, Dict, Optional

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.orchestrate.platform.plugins.action.manifests import project_path
from ansible_collections.orchestrate.platform.plugins.module_utils.ha_experiment import ExperimentError, Spec, run
from ansible_collections.orchestrate.platform.plugins.module_utils.ha_nodes import NodeControlError, control_for
from ansible_collections.orchestrate.platform.plugins.module_utils.ha_probe import SystemClock
from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_objects import ManifestError
from ansible_collections.orchestrate.platform.plugins.module_utils.platform_vars import inherit
from ansible_collections.orchestrate.platform.plugins.modules.ha_experiment import ARGUMENT_SPEC

CLIENT_OPTIONS = ("kubeconfig", "context")
NOT_SPEC = CLIENT_OPTIONS + ("node_control",)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp: Any = None, task_vars: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        args = inherit(self._task.args, task_vars, CLIENT_OPTIONS, self._templar.template)
        validated = ArgumentSpecValidator(ARGUMENT_SPEC).validate(args)
        if validated.error_messages:
            raise AnsibleActionFail("ha_experiment: %s" % "; ".join(validated.error_messages))
        params = validated.validated_parameters
        if self._play_context.check_mode:
            result.update(skipped=True, msg="check mode: no fault is injected")
            return result
        from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_client import Client

        kubeconfig = project_path(str(params["kubeconfig"])) if params.get("kubeconfig") else None
        spec = Spec(**{k: v for k, v in params.items() if k not in NOT_SPEC})
        try:
            control = control_for(params["node_control"], spec.node, os.environ, time.sleep) if spec.fault == "node_loss" else None
            client = Client(kubeconfig, params.get("context"), pool_size=2, timeout=30.0)
            outcome = run(client.request, spec, SystemClock(), time.sleep, node_control=control)
        except (ExperimentError, ManifestError, NodeControlError) as exc:
            raise AnsibleActionFail("experiment %s: %s" % (spec.name, exc))
        result["experiment"] = outcome.as_dict()
        result["changed"] = bool(outcome.faulted)
        return result
