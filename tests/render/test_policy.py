"""The platform's rules, checked on every rendered object (and shown to catch broken examples)."""

from __future__ import annotations

from typing import Any, Dict, List

import pytest
import yaml

import policies
from project import ROOT
from rendered import Rendered

Obj = Dict[str, Any]


def namespaces_defaults() -> Dict[str, Any]:
    return yaml.safe_load((ROOT / "roles/namespaces/defaults/main.yml").read_text())


def owned_namespaces(rendered: Rendered) -> List[str]:
    return [ns["metadata"]["name"] for ns in rendered.of_kind("Namespace")]


def privileged_namespaces(rendered: Rendered) -> List[str]:
    return [
        ns["metadata"]["name"] for ns in rendered.of_kind("Namespace")
        if policies.labels(ns).get("pod-security.kubernetes.io/enforce") == "privileged"
    ]


def workloads(rendered: Rendered) -> List[Obj]:
    return rendered.of_kind(*policies.WORKLOAD_KINDS)


# -- on the rendered platform -------------------------------------------------------------


def test_every_object_is_labelled_as_managed(rendered: Rendered) -> None:
    assert not policies.missing_managed_by(rendered.objects)


def test_the_platform_namespaces_are_all_rendered(rendered: Rendered) -> None:
    """The platform's own namespaces, and the existing ones whose Pod Security level it declares (kube-system)."""
    defaults = namespaces_defaults()
    wanted = [entry["name"] for entry in defaults["namespaces_list"] + defaults["namespaces_existing_pod_security"]]
    assert sorted(owned_namespaces(rendered)) == sorted(wanted)


def test_every_namespace_has_pod_security_labels(rendered: Rendered) -> None:
    problems = [p for ns in rendered.of_kind("Namespace") for p in policies.pod_security_problems(ns)]
    assert not problems, "\n".join(problems)


def test_every_namespace_denies_by_default_and_allows_dns(rendered: Rendered) -> None:
    dns = namespaces_defaults()["namespaces_dns_namespace"]
    problems = policies.baseline_policy_problems(owned_namespaces(rendered), rendered.of_kind("NetworkPolicy"), dns)
    assert not problems, "\n".join(problems)


def test_namespaced_objects_live_in_platform_namespaces(rendered: Rendered) -> None:
    # calico-system is created by the Tigera operator (the calico role only adds a metrics Service).
    system = ("kube-system", "calico-system")
    assert not policies.foreign_namespaces(rendered.objects, owned_namespaces(rendered), allowed=system)


WORKLOAD_CHECKS = {
    "images pinned with a registry prefix": lambda w, r: policies.image_problems(w),
    "requests and limits": lambda w, r: policies.resource_problems(w),
    "readiness and liveness probes": lambda w, r: policies.probe_problems(w),
    "non-root, no escalation, capabilities dropped": lambda w, r: policies.security_context_problems(w, privileged_namespaces(r)),
    "PDB and anti-affinity when replicated": lambda w, r: policies.availability_problems(w, r.of_kind("PodDisruptionBudget")),
}


@pytest.mark.parametrize("rule", sorted(WORKLOAD_CHECKS))
def test_workload_rules(rendered: Rendered, rule: str) -> None:
    found = workloads(rendered)
    if not found:
        pytest.skip("no workload is rendered yet (only namespaces and policies): nothing to check for %s" % rule)
    problems = [p for w in found for p in WORKLOAD_CHECKS[rule](w, rendered)]
    assert not problems, "\n".join(problems)


# -- the checks catch what they should -----------------------------------------------------


def good_namespace() -> Obj:
    found = {"pod-security.kubernetes.io/%s" % m: "restricted" for m in policies.PSS_MODES}
    found.update({"pod-security.kubernetes.io/%s-version" % m: "v1.36" for m in policies.PSS_MODES})
    return {"kind": "Namespace", "metadata": {"name": "web", "labels": found}}


def deny_all(namespace: str) -> Obj:
    return {"kind": "NetworkPolicy", "metadata": {"name": "deny", "namespace": namespace},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}}


def dns(namespace: str, ports: List[Obj]) -> Obj:
    peer = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}
    return {"kind": "NetworkPolicy", "metadata": {"name": "dns", "namespace": namespace},
            "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [peer], "ports": ports}]}}


def deployment(**pod: Any) -> Obj:
    container = {"name": "app", "image": pod.pop("image", "registry.example.org/app:1.2.3")}
    container.update(pod.pop("container", {}))
    return {"kind": "Deployment", "metadata": {"name": "app", "namespace": "web"},
            "spec": {"replicas": pod.pop("replicas", 1),
                     "template": {"metadata": {"labels": {"app": "a"}}, "spec": dict(containers=[container], **pod)}}}


def test_pod_security_check_catches_missing_and_unexplained_levels() -> None:
    assert not policies.pod_security_problems(good_namespace())
    broken = good_namespace()
    del broken["metadata"]["labels"]["pod-security.kubernetes.io/warn"]
    broken["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] = "privileged"
    problems = policies.pod_security_problems(broken)
    assert any("warn level" in p for p in problems) and any("without a" in p for p in problems)


def test_baseline_check_catches_missing_deny_and_dns() -> None:
    udp_tcp = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
    assert not policies.baseline_policy_problems(["web"], [deny_all("web"), dns("web", udp_tcp)], "kube-system")
    problems = policies.baseline_policy_problems(["web"], [dns("web", udp_tcp[:1])], "kube-system")
    assert len(problems) == 2
    leaky = deny_all("web")
    leaky["spec"]["ingress"] = [{}]
    assert not policies.is_default_deny(leaky)


@pytest.mark.parametrize("image, ok", [
    ("registry.example.org/app:1.2.3", True),
    ("docker.io/library/mariadb:11.4.4", True),
    ("localhost:5000/x:1@sha256:" + "a" * 64, True),
    ("mariadb:11.4", False),
    ("library/mariadb:11.4", False),
    ("docker.io/library/mariadb", False),
    ("docker.io/library/mariadb:latest", False),
])
def test_image_pinning(image: str, ok: bool) -> None:
    assert (not policies.image_problems(deployment(image=image))) is ok


def test_workload_checks_catch_missing_resources_probes_and_context() -> None:
    bare = deployment()
    assert policies.resource_problems(bare) and policies.probe_problems(bare)
    assert policies.security_context_problems(bare, [])
    assert not policies.security_context_problems(bare, ["web"])
    hardened = deployment(container={
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}},
        "readinessProbe": {}, "livenessProbe": {},
        "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    })
    assert not (policies.resource_problems(hardened) or policies.probe_problems(hardened)
                or policies.security_context_problems(hardened, []))


def test_replicated_workloads_need_a_budget_and_spreading() -> None:
    replicated = deployment(replicas=3)
    assert len(policies.availability_problems(replicated, [])) == 2
    budget = {"kind": "PodDisruptionBudget", "metadata": {"namespace": "web"}, "spec": {"selector": {"matchLabels": {"app": "a"}}}}
    spread = deployment(replicas=3, topologySpreadConstraints=[{"maxSkew": 1}])
    assert not policies.availability_problems(spread, [budget])
    assert not policies.availability_problems(deployment(replicas=1), [])


def test_foreign_namespace_check() -> None:
    stray = {"kind": "ConfigMap", "metadata": {"name": "x", "namespace": "elsewhere"}}
    assert policies.foreign_namespaces([stray], ["web"])
    assert not policies.foreign_namespaces([stray], ["elsewhere"])


# -- kube-system and the metadata server (issue 12 items 5 and 12) ------------------------------


def _policy(rendered: Rendered, namespace: str, name: str) -> Obj:
    found = [p for p in rendered.of_kind("NetworkPolicy")
             if p["metadata"]["namespace"] == namespace and p["metadata"]["name"] == name]
    assert len(found) == 1, "expected NetworkPolicy %s/%s" % (namespace, name)
    return found[0]


def test_kube_system_denies_by_default_and_coredns_and_metrics_server_get_their_flows(rendered: Rendered) -> None:
    deny = _policy(rendered, "kube-system", "default-deny")
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    _policy(rendered, "kube-system", "allow-dns-egress")
    dns = _policy(rendered, "kube-system", "allow-dns")
    # Every pod of every namespace may query CoreDNS, on 53 only.
    queries = [r for r in dns["spec"]["ingress"] if {"namespaceSelector": {}} in r["from"]]
    assert len(queries) == 1 and sorted((p["protocol"], p["port"]) for p in queries[0]["ports"]) == [("TCP", 53), ("UDP", 53)]
    metrics = _policy(rendered, "kube-system", "allow-metrics-server")
    assert [p["port"] for r in metrics["spec"]["ingress"] for p in r["ports"]] == [10250]
    assert all("ipBlock" in peer for r in metrics["spec"]["ingress"] for peer in r["from"])


def test_no_platform_pod_but_the_pd_csi_node_plugin_and_coredns_reaches_the_metadata_server(rendered: Rendered) -> None:
    # The PD CSI controller has its own key and a cloud-config: no flow to 169.254.169.254 at all.
    reach = set()
    for policy in rendered.of_kind("NetworkPolicy"):
        for rule in policy["spec"].get("egress") or []:
            if any(peer.get("ipBlock", {}).get("cidr") == "169.254.169.254/32" for peer in rule.get("to") or []):
                reach.add((policy["metadata"]["name"], tuple(sorted(p["port"] for p in rule["ports"]))))
    assert reach == {("allow-gce-pd-csi-node", (80,)), ("allow-dns", (53, 53))}
