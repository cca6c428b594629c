#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: orchestrate.platform developers
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ha_experiment
short_description: Run one HA test experiment - steady state, one fault, replicas sampled until the target is whole again
version_added: "0.1.0"
description:
  - Runs on the controller (action plugin), with the engine's client and the same kubeconfig
    settings as M(orchestrate.platform.manifests).
  - Samples the ready replicas of the target Deployment or StatefulSet for O(steady_seconds),
    injects the fault (deletes pods, or cordons O(node) and evicts its pods through the eviction
    API, which PodDisruptionBudgets gate; the node is uncordoned whatever happens), then samples
    every O(interval) seconds until the target has every desired replica Ready again (and, for
    scaling, a desired count within O(desired_at_least)..O(desired_at_most)) or O(timeout).
  - Ready replicas are counted from the target's pods (Ready and not terminating), not from the
    workload's status, which lags a deletion.
  - C(scale) sets the target's replicas to O(replicas) through its scale subresource (an explicit
    scale, for clusters without an autoscaler).
  - C(node_loss) takes O(node) away through O(node_control) (its GCE instance stopped through the
    Compute Engine API, or a command), samples until the node is NotReady and the target is
    whole again with none of its pods on the node, then gives the node back (whatever happened)
    and waits until it is Ready; the result's C(marks) hold those three times.
  - Samples use the controller's monotonic clock; start and end are placed on the wall-clock
    timeline through the first sample (see plugins/module_utils/ha_metrics.py).
  - A target that does not exist is not an error - the result says C(skipped) and why.
author:
  - orchestrate.platform developers
attributes:
  check_mode:
    support: none
    details: An experiment is a fault injected on purpose; check mode skips it.
options:
  name: {description: Experiment name (report key)., type: str, required: true}
  kind:
    description: Hypothesis the experiment is held to.
    type: str
    required: true
    choices: [pod_loss, drain, scale, scale_down, full_outage, vm_stop]
  target_kind: {description: Kind of the target., type: str, choices: [Deployment, StatefulSet], default: Deployment}
  namespace: {description: Namespace of the target., type: str, required: true}
  target: {description: Name of the target workload., type: str, required: true}
  fault:
    description: What is done to the target.
    type: str
    required: true
    choices: [delete_one, delete_half, delete_all, delete_pod, delete_labelled, drain, scale, node_loss, none]
  pod: {description: Pod deleted by C(delete_pod)., type: str, default: ""}
  label: {description: "C(key=value) of the pod deleted by C(delete_labelled)", type: str, default: ""}
  node: {description: Node drained by C(drain) or taken away by C(node_loss)., type: str, default: ""}
  spare: {description: "C(key=value) label of pods a C(drain) leaves on the node (the HA test's own prober)", type: str, default: ""}
  replicas: {description: Replicas set by C(scale)., type: int, default: 0}
  node_control:
    description:
      - How C(node_loss) stops and starts the node. C(method=gce) with C(project), C(zone) and
        C(instance) (the node name when empty); credentials from GCP_AUTH_KIND and
        GCP_SERVICE_ACCOUNT_FILE as for the google.cloud modules. C(method=command) with C(stop) and
        C(start) argument vectors run on the controller, C({node}) replaced by the node name.
    type: dict
    default: {}
  desired_at_least: {description: The target is whole only with at least this many desired replicas., type: int, default: 0}
  desired_at_most: {description: The target is whole only with at most this many desired replicas (0 for no bound)., type: int, default: 0}
  steady_seconds: {description: Seconds of steady state sampled before the fault., type: float, default: 10}
  timeout: {description: Longest observation after the fault (seconds)., type: float, default: 600}
  interval: {description: Seconds between two samples., type: float, default: 1}
  kubeconfig: {description: Kubeconfig path (platform_kubeconfig when omitted)., type: path}
  context: {description: Kubeconfig context (platform_kube_context when omitted)., type: str}
notes:
  - Action plugin only; there is nothing to run on a managed host.
"""

EXAMPLES = r"""
- name: Delete one WordPress pod and wait for its replacement
  orchestrate.platform.ha_experiment:
    name: wordpress_pod
    kind: pod_loss
    namespace: wordpress
    target: wordpress
    fault: delete_one
"""

RETURN = r"""
experiment:
  description: name, kind, target, skipped (the reason, or empty), start, end, steady_before, whole_after, faulted, marks, samples.
  returned: always
  type: dict
"""

ARGUMENT_SPEC = dict(
    name=dict(type="str", required=True),
    kind=dict(type="str", required=True, choices=["pod_loss", "drain", "scale", "scale_down", "full_outage", "vm_stop"]),
    target_kind=dict(type="str", choices=["Deployment", "StatefulSet"], default="Deployment"),
    namespace=dict(type="str", required=True),
    target=dict(type="str", required=True),
    fault=dict(type="str", required=True, choices=["delete_one", "delete_half", "delete_all", "delete_pod", "delete_labelled",
                                                   "drain", "scale", "node_loss", "none"]),
    pod=dict(type="str", default=""),
    label=dict(type="str", default=""),
    node=dict(type="str", default=""),
    spare=dict(type="str", default=""),
    replicas=dict(type="int", default=0),
    node_control=dict(type="dict", default={}),
    desired_at_least=dict(type="int", default=0),
    desired_at_most=dict(type="int", default=0),
    steady_seconds=dict(type="float", default=10),
    timeout=dict(type="float", default=600),
    interval=dict(type="float", default=1),
    kubeconfig=dict(type="path"),
    context=dict(type="str"),
)


def main():
    from ansible.module_utils.basic import AnsibleModule

    module = AnsibleModule(argument_spec=ARGUMENT_SPEC)
    module.fail_json(msg="orchestrate.platform.ha_experiment runs on the controller as an action plugin")


if __name__ == "__main__":
    main()
