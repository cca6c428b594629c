#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: orchestrate.platform developers
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ha_report
short_description: Write the HA test report - JSON (schema-checked), Markdown summary and PNG plots
version_added: "0.1.0"
description:
  - Runs on the controller (action plugin). Parses the prober's and the writer's logs (one JSON
    event per line), computes every experiment's figures (time to detect, time to Ready, longest
    error window, error rate, p50/p95/p99 latency, writes) and the integrity of the
    acknowledged writes, checks them against the thresholds, and writes C(report.json),
    C(report.schema.json), C(summary.md), C(requests.png) and C(replicas.png) into
    C(<directory>/ha-<UTC timestamp>/).
  - Does not fail on a violated hypothesis; the result's C(document.verdict) and
    C(document.violations) say it, and the calling play fails on them after the report exists.
author:
  - orchestrate.platform developers
options:
  label: {description: What ran where (the report's title)., type: str, required: true}
  directory: {description: Directory under which the run's own directory is made., type: path, required: true}
  logs: {description: Lines of the prober's and the writer's logs., type: list, elements: str, default: []}
  experiments: {description: The C(experiment) results of M(orchestrate.platform.ha_experiment)., type: list, elements: dict, default: []}
  thresholds:
    description: Thresholds of the hypotheses (pod_loss_max_error_seconds, max_lost_writes, drain_max_failed_requests,
      full_outage_max_recovery_seconds, scale_max_react_seconds).
    type: dict
    default: {}
notes:
  - Action plugin only; needs matplotlib and jsonschema on the controller (requirements.txt).
"""

EXAMPLES = r"""
- name: Write the report
  orchestrate.platform.ha_report:
    label: real kubelet, stand-in workload
    directory: reports
    logs: "{{ __ha_test_prober_log.log_lines + __ha_test_writer_log.log_lines }}"
    experiments: "{{ __ha_test_results }}"
"""

RETURN = r"""
path:
  description: The run's report directory.
  returned: always
  type: str
document:
  description: The report document (report.json).
  returned: always
  type: dict
"""

ARGUMENT_SPEC = dict(
    label=dict(type="str", required=True),
    directory=dict(type="path", required=True),
    logs=dict(type="list", elements="str", default=[]),
    experiments=dict(type="list", elements="dict", default=[]),
    thresholds=dict(type="dict", default={}),
)


def main():
    from ansible.module_utils.basic import AnsibleModule

    module = AnsibleModule(argument_spec=ARGUMENT_SPEC)
    module.fail_json(msg="orchestrate.platform.ha_report runs on the controller as an action plugin")


if __name__ == "__main__":
    main()
