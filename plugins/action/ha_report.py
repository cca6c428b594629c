# -*- coding: utf-8 -*-
# Copyright: orchestrate.platform developers
# Apache License 2.0 (see LICENSE)
"""Action plugin of orchestrate.platform.ha_report: the report is written on the controller."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.orchestrate.platform.plugins.action.manifests import project_path
from ansible_collections.orchestrate.platform.plugins.module_utils.ha_metrics import Sample, Thresholds
from ansible_collections.orchestrate.platform.plugins.module_utils.ha_probe import Log, ProbeError, parse_lines
from ansible_collections.orchestrate.platform.plugins.module_utils.ha_report import ReportError, Run, experiments_from, write
from ansible_collections.orchestrate.platform.plugins.modules.ha_report import ARGUMENT_SPEC


def build_run(label: str, logs: List[str], results: List[Dict[str, Any]]) -> Run:
    """The Run of the ha_experiment results (skipped ones listed with their reason) and the logs."""
    done = [r for r in results if not r.get("skipped")]
    return Run(label=label, log=Log(parse_lines(logs)), experiments=experiments_from(done),
               samples={r["name"]: [Sample(**s) for s in r.get("samples") or []] for r in done},
               skipped=[{"name": r["name"], "reason": r["skipped"]} for r in results if r.get("skipped")])


def thresholds_from(values: Dict[str, Any]) -> Thresholds:
    unknown = sorted(set(values) - set(Thresholds.__dataclass_fields__))
    if unknown:
        raise ReportError("unknown thresholds: %s" % ", ".join(unknown))
    return Thresholds(**{k: float(v) for k, v in values.items()})


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp: Any = None, task_vars: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        result = super().run(tmp, task_vars or {})
        validated = ArgumentSpecValidator(ARGUMENT_SPEC).validate(dict(self._task.args))
        if validated.error_messages:
            raise AnsibleActionFail("ha_report: %s" % "; ".join(validated.error_messages))
        params = validated.validated_parameters
        directory = Path(project_path(str(params["directory"]))) / time.strftime("ha-%Y%m%dT%H%M%SZ", time.gmtime())
        try:
            run = build_run(params["label"], [str(line) for line in params["logs"]], params["experiments"])
            document = write(run, thresholds_from(params["thresholds"]), directory)
        except (ReportError, ProbeError, ValueError, TypeError) as exc:
            raise AnsibleActionFail("ha_report: %s" % exc)
        result.update(changed=True, path=str(directory), document=document)
        return result
