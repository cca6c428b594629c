"""Pure helpers for the kubeadm roles (kubeadm_control_plane, kubeadm_join).

- ``kubeadm_node_labels_args``: the kubelet's ``--node-labels`` as a kubeadm v1beta4
  ``kubeletExtraArgs`` list.
- ``kubelet_label_problems``: labels the kubelet may not set on its own Node (the
  NodeRestriction admission plugin rejects them, and the kubelet then fails to register).
- ``kubelet_serving_csrs_to_approve``: which kubelet serving certificate requests are what a
  kubelet of a known node asks for, so the cluster stage can approve exactly those.
- ``kubeadm_version_change``: how a target Kubernetes version relates to the running one.
- ``kubeconfig_with_server``: a kubeconfig whose clusters name another API server URL (the
  controller's copy of admin.conf on GCE names the external API load balancer).
- ``go_duration_seconds``: the seconds of a duration as a Kubernetes configuration writes it
  (Go's time.ParseDuration syntax: ``90s``, ``1m30s``), or None when it is not one.
"""

from __future__ import annotations

import base64
import ipaddress
import re
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

import yaml
from cryptography import x509
from cryptography.x509.oid import ExtensionOID, NameOID

# Label namespaces reserved to Kubernetes: a kubelet may set only the keys and sub-namespaces
# below inside them (NodeRestriction; the kubelet refuses other --node-labels there at start-up).
# The list is the one of k8s.io/kubelet/pkg/apis IsKubeletLabel in Kubernetes 1.36.
_RESTRICTED_SUFFIXES = ("kubernetes.io", "k8s.io")
_KUBELET_ALLOWED_KEYS = frozenset({
    "kubernetes.io/hostname", "kubernetes.io/arch", "kubernetes.io/os", "beta.kubernetes.io/arch", "beta.kubernetes.io/os",
    "beta.kubernetes.io/instance-type", "node.kubernetes.io/instance-type",
    "failure-domain.beta.kubernetes.io/region", "failure-domain.beta.kubernetes.io/zone",
    "topology.kubernetes.io/region", "topology.kubernetes.io/zone",
})
_KUBELET_ALLOWED_PREFIXES = ("kubelet.kubernetes.io", "node.kubernetes.io")

SERVING_SIGNER = "kubernetes.io/kubelet-serving"
_SERVING_USAGES = frozenset({"digital signature", "key encipherment", "server auth"})


class KubeadmFilterError(ValueError):
    """Raised for input the helpers cannot work with."""


def kubeadm_node_labels_args(labels: Optional[Mapping[str, Any]]) -> List[Dict[str, str]]:
    """``[{'name': 'node-labels', 'value': 'k1=v1,k2=v2'}]`` (keys sorted), or ``[]`` without labels."""
    if not labels:
        return []
    value = ",".join("%s=%s" % (key, labels[key]) for key in sorted(labels))
    return [{"name": "node-labels", "value": value}]


def kubelet_label_problems(labels: Optional[Mapping[str, Any]]) -> List[str]:
    """Keys of ``labels`` in the kubernetes.io / k8s.io namespaces that a kubelet may not set itself."""
    problems = []
    for key in sorted(labels or {}):
        prefix = key.split("/", 1)[0] if "/" in key else ""
        restricted = any(prefix == s or prefix.endswith("." + s) for s in _RESTRICTED_SUFFIXES)
        if not restricted or key in _KUBELET_ALLOWED_KEYS:
            continue
        if any(prefix == p or prefix.endswith("." + p) for p in _KUBELET_ALLOWED_PREFIXES):
            continue
        problems.append(key)
    return problems


def _condition_types(csr: Mapping[str, Any]) -> List[str]:
    return [c.get("type", "") for c in (csr.get("status") or {}).get("conditions") or []]


def _requested_names(request_b64: str) -> Optional[Dict[str, Any]]:
    """Subject and SANs of a CSR's ``spec.request`` (base64 of PEM), or None when it does not parse."""
    try:
        request = x509.load_pem_x509_csr(base64.b64decode(request_b64, validate=True))
    except (ValueError, TypeError):
        return None
    try:
        sans = request.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
        dns = sans.get_values_for_type(x509.DNSName)
        ips = [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)]
        others = [n for n in sans if not isinstance(n, (x509.DNSName, x509.IPAddress))]
    except x509.ExtensionNotFound:
        dns, ips, others = [], [], []
    return {
        "cn": [a.value for a in request.subject.get_attributes_for_oid(NameOID.COMMON_NAME)],
        "o": [a.value for a in request.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)],
        "dns": dns,
        "ips": ips,
        "others": others,
    }


def _addresses(values: Iterable[Any]) -> set:
    out = set()
    for value in values or []:
        try:
            out.add(str(ipaddress.ip_address(str(value).split("%", 1)[0])))
        except ValueError:
            continue
    return out


def kubelet_serving_csr_verdict(csr: Mapping[str, Any], nodes: Mapping[str, Mapping[str, Any]]) -> str:
    """Why a CertificateSigningRequest is (``"approve"``) or is not (any other text) approved.

    ``csr`` is the API object as the server returns it; ``nodes`` maps each Node name to ``{"dns": [...], "ips": [...]}``,
    the host names and addresses the inventory knows for that machine (never what the kubelet
    reports about itself). A request is approved only when it comes from
    ``system:node:<name>`` of a known node, for the kubelet serving signer, with server-auth
    usages, and every SAN is one of that node's names or addresses.
    """
    spec = csr.get("spec") or {}
    types = _condition_types(csr)
    if "Approved" in types or "Denied" in types or "Failed" in types:
        return "already decided"
    if spec.get("signerName") != SERVING_SIGNER:
        return "not a kubelet serving request"
    user = spec.get("username", "")
    if not user.startswith("system:node:"):
        return "requester %s is not a node" % user
    node = user[len("system:node:"):]
    if node not in nodes:
        return "node %s is not in the inventory" % node
    if "system:nodes" not in (spec.get("groups") or []):
        return "requester is not in group system:nodes"
    usages = set(spec.get("usages") or [])
    if "server auth" not in usages or not usages <= _SERVING_USAGES:
        return "usages %s are not those of a serving certificate" % sorted(usages)
    names = _requested_names(spec.get("request", ""))
    if names is None:
        return "the certificate request does not parse"
    if names["cn"] != [user] or names["o"] != ["system:nodes"]:
        return "subject is not CN=%s, O=system:nodes" % user
    if names["others"]:
        return "the request names SANs other than DNS names and IP addresses"
    if not names["dns"] and not names["ips"]:
        return "the request names no SAN"
    known = nodes[node]
    allowed_dns = {str(d).lower() for d in (known.get("dns") or [])} | {node.lower()}
    stray_dns = [d for d in names["dns"] if d.lower() not in allowed_dns]
    stray_ips = sorted(_addresses(names["ips"]) - _addresses(known.get("ips") or []))
    if stray_dns or stray_ips:
        return "SANs %s are not names or addresses of %s" % (stray_dns + stray_ips, node)
    return "approve"


def kubelet_serving_identity(host: Mapping[str, Any]) -> Dict[str, List[str]]:
    """The names and addresses Ansible found on a machine (its ``hostvars``): what its kubelet's
    serving certificate may name. Addresses come from the gathered facts (every interface),
    names from the host name facts and the inventory name."""
    facts = host.get("ansible_facts") or {}
    dns = [facts.get("nodename"), facts.get("hostname"), facts.get("fqdn"), host.get("inventory_hostname")]
    ips = list(facts.get("all_ipv4_addresses") or []) + list(facts.get("all_ipv6_addresses") or [])
    return {"dns": sorted({str(d).lower() for d in dns if d}), "ips": sorted({str(i) for i in ips})}


def kubelet_serving_csrs_to_approve(csrs: Sequence[Mapping[str, Any]], nodes: Mapping[str, Mapping[str, Any]]) -> List[str]:
    """Names of the CSRs in ``csrs`` whose verdict is ``approve`` (see kubelet_serving_csr_verdict)."""
    return [c["metadata"]["name"] for c in csrs or [] if kubelet_serving_csr_verdict(c, nodes) == "approve"]


def _triple(version: str) -> List[int]:
    parts = str(version).strip().lstrip("v").split("-", 1)[0].split("+", 1)[0].split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise KubeadmFilterError("'%s' is not a Kubernetes version 1.<minor>.<patch>" % version)
    return [int(p) for p in parts]


def kubeadm_version_change(current: str, target: str) -> str:
    """``same``, ``patch`` (same minor, higher patch), ``minor`` (the next minor),
    ``downgrade``, or ``skip`` (more than one minor ahead, or another major)."""
    cur, tgt = _triple(current), _triple(target)
    if tgt == cur:
        return "same"
    if tgt < cur:
        return "downgrade"
    if tgt[0] != cur[0] or tgt[1] > cur[1] + 1:
        return "skip"
    return "patch" if tgt[1] == cur[1] else "minor"


_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|ms|s|m|h)")


def go_duration_seconds(value: Any) -> Optional[float]:
    """Seconds of a non-negative Go duration string (``0``, ``90s``, ``1m30s``, ``1.5h``); None for
    anything else, including a bare number other than 0 (Go requires a unit)."""
    text = str(value).strip() if isinstance(value, str) else ""
    if text == "0":
        return 0.0
    if not text or _DURATION_PART.sub("", text):
        return None
    return sum(float(number) * _DURATION_UNITS[unit] for number, unit in _DURATION_PART.findall(text))


def kubeconfig_with_server(text: str, server: str) -> str:
    """The kubeconfig `text` with every cluster's ``server`` set to `server`; unchanged when
    `server` is empty. Anything but a kubeconfig with clusters is an error."""
    if not server:
        return text
    if not re.match(r"^https://[^/\s]+$", server):
        raise KubeadmFilterError("'%s' is not an API server URL such as https://203.0.113.10:6443" % server)
    config = yaml.safe_load(text)
    clusters = config.get("clusters") if isinstance(config, dict) else None
    if not clusters or not all(isinstance(c, dict) and isinstance(c.get("cluster"), dict) for c in clusters):
        raise KubeadmFilterError("not a kubeconfig with clusters")
    for entry in clusters:
        entry["cluster"]["server"] = server
    return yaml.safe_dump(config, default_flow_style=False, sort_keys=False)


class FilterModule:
    """kubeadm helpers."""

    def filters(self) -> Dict[str, Any]:
        return {
            "kubeadm_node_labels_args": kubeadm_node_labels_args,
            "kubelet_label_problems": kubelet_label_problems,
            "kubelet_serving_csrs_to_approve": kubelet_serving_csrs_to_approve,
            "kubelet_serving_csr_verdict": kubelet_serving_csr_verdict,
            "kubelet_serving_identity": kubelet_serving_identity,
            "kubeadm_version_change": kubeadm_version_change,
            "go_duration_seconds": go_duration_seconds,
            "kubeconfig_with_server": kubeconfig_with_server,
        }
