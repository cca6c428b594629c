"""Security rules over every rendered object of the platform, and proof on small broken
examples that each rule can fail."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml

import policies as render_policies  # tests/render/policies.py
import rules
from matrix import Analysis, Matrix, problems as matrix_problems
from project import run_playbook
from rendered import Rendered

Obj = Dict[str, Any]


# -- on the rendered platform ----------------------------------------------------------------


def test_the_matrix_is_consistent(matrix: Matrix) -> None:
    assert not matrix_problems(matrix), "\n".join(matrix_problems(matrix))


def test_every_namespace_is_labelled_for_pod_security(platform: Rendered) -> None:
    found = [p for ns in platform.of_kind("Namespace") for p in render_policies.pod_security_problems(ns)]
    assert platform.of_kind("Namespace") and not found, "\n".join(found)


def test_every_pod_with_flows_is_selected_by_its_policy(analysis: Analysis, policies: List[Obj]) -> None:
    found = rules.pods_without_policy(analysis, policies)
    assert not found, "\n".join(found)


def test_no_egress_to_anywhere_without_a_matrix_entry(policies: List[Obj], matrix: Matrix) -> None:
    found = rules.open_egress_problems(policies, matrix)
    assert not found, "\n".join(found)


def test_no_privileged_pods_outside_the_privileged_namespaces(platform: Rendered, workloads: List[Obj]) -> None:
    allowed = rules.privileged_namespaces(platform.of_kind("Namespace"))
    found = rules.privileged_problems(workloads, allowed)
    assert not found, "\n".join(found)


def test_no_api_token_unless_the_workload_uses_the_api(platform: Rendered, analysis: Analysis, workloads: List[Obj]) -> None:
    found = rules.token_problems(workloads, platform.of_kind("ServiceAccount"), analysis.owned,
                                 lambda w: rules.needs_api(analysis, w))
    assert not found, "\n".join(found)


def test_every_rendered_workload_is_in_the_matrix(analysis: Analysis) -> None:
    found = rules.unmatched_workloads(analysis)
    assert not found, "\n".join(found)


def test_rbac_is_least_privilege(platform: Rendered) -> None:
    found = rules.rbac_problems(platform.objects)
    assert not found, "\n".join(found)


def test_every_generated_policy_belongs_to_a_matrix_endpoint(platform: Rendered, matrix: Matrix) -> None:
    generated = [o for path, objs in platform.files.items() if path.startswith("security/network_policies/") for o in objs
                 if o.get("kind") == "NetworkPolicy"]
    names = {(o["metadata"]["namespace"], o["metadata"]["name"]) for o in generated}
    wanted = {(ep["namespace"], "allow-%s" % ep["name"]) for ep in matrix.platform_pod_endpoints()
              if any(ep["name"] in (f["from"], f["to"]) for f in matrix.enabled_flows() if not f.get("rendered_by"))}
    assert names == wanted


@pytest.mark.slow
def test_the_calico_policy_leaves_the_platform_and_system_namespaces_alone(
        tmp_path: Path, created_namespaces: Dict[str, Dict[str, str]]) -> None:
    result = run_playbook(["playbooks/security.yml", "-e", "platform_render_dir=%s" % tmp_path,
                           "-e", "network_policies_calico_isolate_other_namespaces=true"])
    assert result.returncode == 0, result.stdout[-3000:]
    docs = list(yaml.safe_load_all(next(tmp_path.glob("security/network_policies/20-*.yaml")).read_text()))
    gnp = next(d for d in docs if d and d["kind"] == "GlobalNetworkPolicy")
    selector = gnp["spec"]["namespaceSelector"]
    defaults = yaml.safe_load((Path(rules.__file__).resolve().parents[2] / "roles/network_policies/defaults/main.yml").read_text())
    for key, value in defaults["network_policies_calico_platform_labels"].items():
        assert '%s != "%s"' % (key, value) in selector
        unlabelled = [name for name, labels in created_namespaces.items() if labels.get(key) != value]
        assert not unlabelled, "platform namespaces the Calico policy would isolate: %s" % unlabelled
    for name in ("kube-system", "calico-system"):
        assert '"%s"' % name in selector
    assert [r["destination"]["ports"] for r in gnp["spec"]["egress"]] == [[53], [53]]


# -- the rules catch what they should ---------------------------------------------------------


def deployment(namespace: str, labels: Dict[str, str], **spec: Any) -> Obj:
    return {"kind": "Deployment", "metadata": {"name": "app", "namespace": namespace},
            "spec": {"template": {"metadata": {"labels": labels}, "spec": dict({"containers": [{"name": "c"}]}, **spec)}}}


def test_pods_without_policy_are_found(analysis: Analysis, policies: List[Obj]) -> None:
    without = [p for p in policies if p["metadata"]["name"] != "allow-wordpress"]
    assert any("(wordpress)" in p for p in rules.pods_without_policy(analysis, without))


def test_open_egress_is_found(policies: List[Obj], matrix: Matrix) -> None:
    broken = copy.deepcopy(policies)
    grafana = next(p for p in broken if p["metadata"]["name"] == "allow-grafana")
    grafana["spec"]["egress"].append({"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": 443}]})
    assert rules.open_egress_problems(broken, matrix) == [
        "NetworkPolicy monitoring/allow-grafana allows egress to 0.0.0.0/0 without a flow to external in the matrix"]
    switched = Matrix.from_defaults(network_policies_optional_flows={"wordpress_updates": True, "alertmanager_notifications": True})
    wordpress = copy.deepcopy(next(p for p in policies if p["metadata"]["name"] == "allow-wordpress"))
    wordpress["spec"]["egress"].append({"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": 443}]})
    assert rules.open_egress_problems([wordpress], switched) == []
    assert rules.open_egress_problems([wordpress], matrix)


def test_privileged_pods_are_found() -> None:
    reasoned = {"metadata": {"name": "logging", "labels": {"pod-security.kubernetes.io/enforce": "privileged"},
                             "annotations": {rules.REASON_ANNOTATION: "reads host logs"}}}
    silent = {"metadata": {"name": "monitoring", "labels": {"pod-security.kubernetes.io/enforce": "privileged"}}}
    allowed = rules.privileged_namespaces([reasoned, silent])
    assert "logging" in allowed and "monitoring" not in allowed and "kube-system" in allowed
    privileged = deployment("monitoring", {}, containers=[{"name": "c", "securityContext": {"privileged": True}}], hostPID=True)
    assert len(rules.privileged_problems([privileged], allowed)) == 2
    assert not rules.privileged_problems([dict(privileged, metadata={"name": "x", "namespace": "logging"})], allowed)


def test_mounted_tokens_are_found() -> None:
    bare = deployment("wordpress", {})
    assert rules.token_problems([bare], [], ["wordpress"], lambda w: False)
    assert not rules.token_problems([bare], [], ["wordpress"], lambda w: True)
    assert not rules.token_problems([deployment("wordpress", {}, automountServiceAccountToken=False)], [], ["wordpress"], lambda w: False)
    named = deployment("wordpress", {}, serviceAccountName="wp")
    account = {"kind": "ServiceAccount", "metadata": {"name": "wp", "namespace": "wordpress"}, "automountServiceAccountToken": False}
    assert not rules.token_problems([named], [account], ["wordpress"], lambda w: False)
    assert not rules.token_problems([bare], [], ["elsewhere"], lambda w: False)


def test_unmatched_workloads_are_found(matrix: Matrix) -> None:
    analysis = Analysis.build(matrix, ["wordpress"], [deployment("wordpress", {"app.kubernetes.io/name": "phpmyadmin"})])
    assert rules.unmatched_workloads(analysis) == [
        "Deployment wordpress/app is in no endpoint of network_policies_matrix (add the endpoint and its flows)"]
    known = Analysis.build(matrix, ["wordpress"], [deployment("wordpress", {"app.kubernetes.io/name": "wordpress", "x": "y"})])
    assert not rules.unmatched_workloads(known) and known.rendered == {"wordpress": "Deployment wordpress/app"}


def test_rbac_wildcards_and_cluster_admin_are_found() -> None:
    role = {"kind": "ClusterRole", "metadata": {"name": "r"}, "rules": [{"apiGroups": [""], "resources": ["*"], "verbs": ["get"]}]}
    binding = {"kind": "ClusterRoleBinding", "metadata": {"name": "b"}, "roleRef": {"name": "cluster-admin"}}
    assert len(rules.rbac_problems([role, binding])) == 2
    assert not rules.rbac_problems([{"kind": "Role", "metadata": {"name": "ok"}, "rules": [{"verbs": ["get"], "resources": ["pods"]}]}])


@pytest.mark.parametrize(("change", "expected"), [
    (lambda m: m["flows"].append({"from": "wordpress", "to": "nowhere", "ports": [1], "reason": "x"}), "unknown destination"),
    (lambda m: m["flows"].append({"from": "*", "to": "grafana", "ports": [1], "reason": "x"}), "'*' only for"),
    (lambda m: m["flows"].append({"from": "grafana", "to": "prometheus", "ports": ["9090/ICMP"], "reason": "x"}), "ports must be"),
    (lambda m: m["flows"].append({"from": "grafana", "to": "prometheus", "ports": [70000], "reason": "x"}), "ports must be"),
    (lambda m: m["flows"].append({"from": "grafana", "to": "kibana", "ports": [1]}), "no reason"),
    (lambda m: m["flows"].append({"from": "grafana", "to": "kibana", "ports": [1], "reason": "x", "optional": "nope"}), "optional switch"),
    (lambda m: m["flows"].append(dict(m["flows"][-1])), "declared twice"),
    (lambda m: m["endpoints"].append({"name": "Bad_Name", "namespace": "x", "pods": {"a": "b"}}), "DNS label"),
    (lambda m: m["endpoints"].append({"name": "nolabels", "namespace": "x"}), "needs namespace and pods"),
])
def test_matrix_problems_are_found(change: Any, expected: str) -> None:
    defaults = yaml.safe_load((Path(rules.__file__).resolve().parents[2] / "roles/network_policies/defaults/main.yml").read_text())
    change(defaults["network_policies_matrix"])
    assert any(expected in p for p in matrix_problems(Matrix.from_defaults(defaults)))


# -- pod_security ------------------------------------------------------------------------------


def role_defaults(role: str) -> Dict[str, Any]:
    return yaml.safe_load((Path(rules.__file__).resolve().parents[2] / "roles" / role / "defaults" / "main.yml").read_text())


def test_pod_security_hardens_every_namespace_the_platform_owns() -> None:
    owned = [entry["name"] for entry in role_defaults("namespaces")["namespaces_list"]]
    assert sorted(role_defaults("pod_security")["pod_security_namespaces"]) == sorted(owned)


def test_default_service_accounts_mount_no_token(platform: Rendered, created_namespaces: Dict[str, Dict[str, str]]) -> None:
    accounts = {sa["metadata"]["namespace"]: sa for path, objs in platform.files.items()
                if path.startswith("security/pod_security/") for sa in objs if sa.get("kind") == "ServiceAccount"}
    assert accounts, "site.yml rendered nothing for the pod_security role: add it to playbooks/security.yml"
    assert sorted(accounts) == sorted(created_namespaces)
    assert all(sa["metadata"]["name"] == "default" and sa["automountServiceAccountToken"] is False for sa in accounts.values())
