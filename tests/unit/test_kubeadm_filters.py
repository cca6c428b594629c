"""Unit tests of plugins/filter/kubeadm.py: node labels, the kubelet serving CSR approver's
rules, and how a target Kubernetes version relates to the running one."""

from __future__ import annotations

import base64
import ipaddress
from typing import Any, Dict, List, Optional

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ansible_collections.orchestrate.platform.plugins.filter import kubeadm

KEY = ec.generate_private_key(ec.SECP256R1())
NODES = {"worker-1": {"dns": ["worker-1", "worker-1.c.project.internal"], "ips": ["10.240.0.5", "fe80::1"]}}


def request(cn: str = "system:node:worker-1", org: str = "system:nodes", dns: Optional[List[str]] = None,
            ips: Optional[List[str]] = None, uri: Optional[str] = None) -> str:
    """base64 of a PEM certificate request, as a CSR's spec.request holds it."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org), x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
    names: List[x509.GeneralName] = [x509.DNSName(d) for d in (["worker-1"] if dns is None else dns)]
    names += [x509.IPAddress(ipaddress.ip_address(i)) for i in (["10.240.0.5"] if ips is None else ips)]
    if uri:
        names.append(x509.UniformResourceIdentifier(uri))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    pem = builder.sign(KEY, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    return base64.b64encode(pem).decode()


def csr(name: str = "csr-1", user: str = "system:node:worker-1", signer: str = kubeadm.SERVING_SIGNER,
        usages: Optional[List[str]] = None, groups: Optional[List[str]] = None, req: Optional[str] = None,
        conditions: Optional[List[Dict[str, Any]]] = None) -> Dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"signerName": signer, "username": user, "groups": groups or ["system:nodes", "system:authenticated"],
                 "usages": usages or ["digital signature", "server auth"], "request": req or request()},
        "status": {"conditions": conditions} if conditions else {},
    }


def test_a_nodes_own_serving_request_is_approved() -> None:
    assert kubeadm.kubelet_serving_csr_verdict(csr(), NODES) == "approve"
    both = csr(req=request(dns=["worker-1", "WORKER-1.c.project.internal"], ips=["10.240.0.5", "fe80::1"]))
    assert kubeadm.kubelet_serving_csr_verdict(both, NODES) == "approve"


@pytest.mark.parametrize("bad,why", [
    (csr(signer="kubernetes.io/kube-apiserver-client-kubelet"), "not a kubelet serving request"),
    (csr(user="system:serviceaccount:default:x"), "is not a node"),
    (csr(user="system:node:intruder", req=request(cn="system:node:intruder", dns=["intruder"])), "not in the inventory"),
    (csr(groups=["system:authenticated"]), "not in group system:nodes"),
    (csr(usages=["digital signature", "client auth"]), "not those of a serving certificate"),
    (csr(usages=["server auth", "cert sign"]), "not those of a serving certificate"),
    (csr(req=request(cn="system:node:worker-2")), "subject is not"),
    (csr(req=request(org="system:masters")), "subject is not"),
    (csr(req=request(ips=["10.240.0.5", "10.240.0.99"])), "10.240.0.99"),
    (csr(req=request(dns=["worker-1", "kubernetes.default.svc"])), "kubernetes.default.svc"),
    (csr(req=request(uri="spiffe://cluster/ns/x")), "other than DNS names"),
    (csr(req=request(dns=[], ips=[])), "no SAN"),
    (csr(req=base64.b64encode(b"not a request").decode()), "does not parse"),
    (csr(req="%%%"), "does not parse"),
    (csr(conditions=[{"type": "Approved", "status": "True"}]), "already decided"),
    (csr(conditions=[{"type": "Denied", "status": "True"}]), "already decided"),
])
def test_anything_else_stays_pending(bad: Dict[str, Any], why: str) -> None:
    verdict = kubeadm.kubelet_serving_csr_verdict(bad, NODES)
    assert verdict != "approve" and why in verdict, verdict


def test_to_approve_lists_only_the_approvable_names() -> None:
    csrs = [csr("ok"), csr("client", signer="kubernetes.io/kube-apiserver-client-kubelet"), csr("stray", req=request(ips=["1.2.3.4"]))]
    assert kubeadm.kubelet_serving_csrs_to_approve(csrs, NODES) == ["ok"]


def test_serving_identity_comes_from_the_hosts_facts() -> None:
    host = {"inventory_hostname": "Worker-1", "ansible_facts": {
        "nodename": "worker-1", "hostname": "worker-1", "fqdn": "worker-1.c.project.internal",
        "all_ipv4_addresses": ["10.240.0.5", "10.244.1.0"], "all_ipv6_addresses": ["fe80::1"]}}
    assert kubeadm.kubelet_serving_identity(host) == {
        "dns": ["worker-1", "worker-1.c.project.internal"], "ips": ["10.240.0.5", "10.244.1.0", "fe80::1"]}


def test_node_labels_become_one_sorted_kubelet_argument() -> None:
    assert kubeadm.kubeadm_node_labels_args({}) == []
    assert kubeadm.kubeadm_node_labels_args({"topology.kubernetes.io/zone": "z", "a": "1"}) == [
        {"name": "node-labels", "value": "a=1,topology.kubernetes.io/zone=z"}]


def test_labels_the_kubelet_may_not_set_itself() -> None:
    """NodeRestriction: kubernetes.io / k8s.io keys only from the allowed set and prefixes."""
    labels = {
        "topology.kubernetes.io/zone": "z", "topology.kubernetes.io/region": "r", "node.kubernetes.io/instance-type": "e2",
        "kubelet.kubernetes.io/x": "1", "sub.node.kubernetes.io/y": "1", "example.com/tier": "db", "plain": "1",
        "node-role.kubernetes.io/worker": "", "kubernetes.io/role": "w", "k8s.io/x": "1", "team.k8s.io/y": "1",
    }
    assert kubeadm.kubelet_label_problems(labels) == ["k8s.io/x", "kubernetes.io/role", "node-role.kubernetes.io/worker", "team.k8s.io/y"]


@pytest.mark.parametrize("current,target,change", [
    ("1.36.2", "1.36.2", "same"), ("v1.36.2", "1.36.4", "patch"), ("1.36.4", "1.37.0", "minor"),
    ("1.36.4", "1.36.2", "downgrade"), ("1.37.1", "1.36.9", "downgrade"), ("1.36.4", "1.38.0", "skip"),
    ("1.36.4-gke.1", "1.36.5", "patch"),
])
def test_version_change(current: str, target: str, change: str) -> None:
    assert kubeadm.kubeadm_version_change(current, target) == change


def test_version_change_refuses_a_malformed_version() -> None:
    with pytest.raises(kubeadm.KubeadmFilterError):
        kubeadm.kubeadm_version_change("1.36", "1.36.2")


@pytest.mark.parametrize("value,seconds", [
    ("90s", 90.0), ("1m30s", 90.0), ("0", 0.0), ("0s", 0.0), ("2m", 120.0), ("1.5h", 5400.0), ("500ms", 0.5), ("1h2m3s", 3723.0),
])
def test_go_duration_seconds_reads_kubernetes_durations(value: str, seconds: float) -> None:
    assert kubeadm.go_duration_seconds(value) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["", "20", "-5s", "10x", "s", "5 s", "1m 30s", 90, None])
def test_go_duration_seconds_refuses_what_go_does_not_parse(value: object) -> None:
    assert kubeadm.go_duration_seconds(value) is None


ADMIN_CONF = """apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: Q0E=
    server: https://10.240.0.100:6443
  name: orchestrate
contexts:
- context: {cluster: orchestrate, user: kubernetes-admin}
  name: kubernetes-admin@orchestrate
current-context: kubernetes-admin@orchestrate
users:
- name: kubernetes-admin
  user: {client-certificate-data: Q0VSVA==, client-key-data: S0VZ}
"""


def test_the_controllers_kubeconfig_names_the_external_endpoint_and_keeps_the_rest() -> None:
    import yaml

    changed = yaml.safe_load(kubeadm.kubeconfig_with_server(ADMIN_CONF, "https://203.0.113.10:6443"))
    original = yaml.safe_load(ADMIN_CONF)
    assert changed["clusters"][0]["cluster"] == {"certificate-authority-data": "Q0E=", "server": "https://203.0.113.10:6443"}
    assert {k: v for k, v in changed.items() if k != "clusters"} == {k: v for k, v in original.items() if k != "clusters"}


def test_without_an_external_endpoint_the_kubeconfig_is_unchanged() -> None:
    assert kubeadm.kubeconfig_with_server(ADMIN_CONF, "") == ADMIN_CONF


@pytest.mark.parametrize("text,server", [("kind: Config\n", "https://a:6443"), (ADMIN_CONF, "203.0.113.10:6443"), (ADMIN_CONF, "https://a/b")])
def test_kubeconfig_with_server_refuses_what_it_cannot_do(text: str, server: str) -> None:
    with pytest.raises(kubeadm.KubeadmFilterError):
        kubeadm.kubeconfig_with_server(text, server)
