"""The cluster-wide Pod Security default (baseline, kubeadm_control_plane's AdmissionConfiguration)
against the rendered platform: every namespace where the platform runs a pod that reaches the node
(host namespaces, hostPath, host ports, privileged) must be labelled enforce=privileged by the
platform itself, and no other namespace may be; otherwise the API server refuses those pods, or
lets a namespace admit host-network pods (which no NetworkPolicy or Calico policy governs, so they
can ask the metadata server for the node's credentials) without a declared need."""

from __future__ import annotations

from typing import Any, Dict, List, Set

import pytest
import yaml

import policies
from project import ROOT
from rendered import Rendered

Obj = Dict[str, Any]
ENFORCE = "pod-security.kubernetes.io/enforce"

# Pods that reach the node but that no offline render holds, with the namespace they run in and
# who labels it: kubeadm's kube-proxy DaemonSet and the mirror pods of the static control-plane
# pods; csi-driver-nfs, downloaded by the storage role (left out when upstream is not reachable);
# the Tigera operator, whose own Namespace in tigera-operator.yaml says privileged; calico-node and
# the Calico CSI driver, whose namespace calico-system the operator creates and labels privileged.
NOT_RENDERED = {
    "kube-system": "the platform (namespaces_existing_pod_security; kubeadm_control_plane right after kubeadm init)",
    "tigera-operator": "tigera-operator.yaml, applied by the calico role",
    "calico-system": "the Tigera operator",
}


def namespace_levels(rendered: Rendered) -> Dict[str, str]:
    return {ns["metadata"]["name"]: policies.labels(ns).get(ENFORCE, "") for ns in rendered.of_kind("Namespace")}


def host_access_namespaces(rendered: Rendered) -> Dict[str, List[str]]:
    found: Dict[str, List[str]] = {}
    for workload in rendered.of_kind(*policies.WORKLOAD_KINDS, "Pod", "ReplicaSet"):
        reasons = policies.host_access(workload)
        if reasons:
            found.setdefault(workload["metadata"]["namespace"], []).append("%s: %s" % (policies.name(workload), ", ".join(reasons)))
    return found


def test_every_namespace_with_host_access_pods_is_labelled_privileged(rendered: Rendered) -> None:
    levels = namespace_levels(rendered)
    problems = ["%s is %r, but runs %s" % (namespace, levels.get(namespace, "not labelled by the platform"), "; ".join(pods))
                for namespace, pods in sorted(host_access_namespaces(rendered).items()) if levels.get(namespace) != "privileged"]
    assert not problems, "\n".join(problems)


def test_no_other_namespace_is_labelled_privileged(rendered: Rendered) -> None:
    """A privileged label is the declared need for host access: only where the platform's own pods need it."""
    privileged = {name for name, level in namespace_levels(rendered).items() if level == "privileged"}
    needed: Set[str] = set(host_access_namespaces(rendered)) | {ns for ns in NOT_RENDERED if ns in privileged}
    assert privileged == needed, "labelled privileged without a host-access pod of the platform: %s" % sorted(privileged - needed)


def test_kube_system_is_labelled_privileged_by_the_platform(rendered: Rendered) -> None:
    """kube-proxy and the static pods' mirror pods would be refused there by the baseline default:
    kube-system carries the label the platform sets, with its reason."""
    (kube_system,) = [ns for ns in rendered.of_kind("Namespace") if ns["metadata"]["name"] == "kube-system"]
    assert policies.labels(kube_system)[ENFORCE] == "privileged"
    reason = kube_system["metadata"]["annotations"][policies.REASON_ANNOTATION]
    assert "kube-proxy" in reason and "mirror pods" in reason


def test_the_platform_labels_no_namespace_the_tigera_operator_owns(rendered: Rendered) -> None:
    """calico-system is the operator's (it sets its Pod Security labels); tigera-operator is labelled
    by the upstream file. The platform writes neither Namespace object of its own."""
    assert not {"calico-system", "tigera-operator"} & set(namespace_levels(rendered))


def test_the_kube_system_label_is_set_right_after_kubeadm_init() -> None:
    tasks = yaml.safe_load((ROOT / "roles/kubeadm_control_plane/tasks/init.yml").read_text())
    commands = [t["ansible.builtin.command"]["argv"] for t in tasks if "ansible.builtin.command" in t]
    assert commands[0][:2] == ["kubeadm", "init"]
    assert ["label", "--overwrite", "namespace", "kube-system", "%s=privileged" % ENFORCE] == commands[-1][3:]


@pytest.mark.parametrize("change,expected", [
    ({"hostNetwork": True}, "hostNetwork"),
    ({"hostPID": True}, "hostPID"),
    ({"hostIPC": True}, "hostIPC"),
    ({"volumes": [{"name": "logs", "hostPath": {"path": "/var/log"}}]}, "hostPath volume logs"),
    ({"containers": [{"name": "c", "securityContext": {"privileged": True}}]}, "privileged container c"),
    ({"containers": [{"name": "c", "securityContext": {"capabilities": {"add": ["NET_ADMIN", "CHOWN"]}}}]}, "container c adds NET_ADMIN"),
    ({"containers": [{"name": "c", "ports": [{"containerPort": 80, "hostPort": 80}]}]}, "container c hostPort 80"),
])
def test_the_scan_finds_each_kind_of_host_access(change: Obj, expected: str) -> None:
    spec: Obj = {"containers": [{"name": "c", "securityContext": {"capabilities": {"add": ["NET_BIND_SERVICE"]}}}]}
    spec.update(change)
    workload = {"kind": "DaemonSet", "metadata": {"name": "w", "namespace": "n"}, "spec": {"template": {"spec": spec}}}
    assert policies.host_access(workload) == [expected]
    assert policies.host_access({"kind": "Deployment", "spec": {"template": {"spec": {"containers": [{"name": "c"}]}}}}) == []
