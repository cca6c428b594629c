"""kubeadm_control_plane's cluster-stage entry points against a real API server (KUBECONFIG,
for example ../shared/tools/apiserver-lane), run from this machine with the kubeconfig in
place of /etc/kubernetes/admin.conf:

- `serving_certs` approves a kubelet-serving CSR that a node (impersonated: system:node:<this
  machine's host name>, group system:nodes) made for its own names and addresses, and leaves
  one naming a stray address, and one from a node outside the inventory, pending;
- `tokens` deletes the bootstrap tokens with the roles' description and keeps the others.

Skips without KUBECONFIG, and the token test without a kubeadm on PATH.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import shutil
import socket
import subprocess
import uuid
from pathlib import Path
from typing import Any, Iterator, List

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from project import run_playbook

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not os.environ.get("KUBECONFIG"), reason="KUBECONFIG is not set: no API server to run against"),
]

DESCRIPTION = "orchestrate.platform node join"
KEY = ec.generate_private_key(ec.SECP256R1())


def entry_point(tmp_path: Path, tasks_from: str, gather_facts: bool = False, **extra: Any) -> str:
    """Run one entry point on localhost (also the 'first control-plane node') with the kubeconfig as admin.conf."""
    inventory = tmp_path / "hosts.yml"
    local = {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}
    inventory.write_text(yaml.safe_dump({"all": {"children": {"live_cp": {"hosts": {"localhost": local}}}}}))
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump([{"name": "Live %s" % tasks_from, "hosts": "localhost", "gather_facts": gather_facts, "tasks": [
        {"name": "Run %s" % tasks_from, "ansible.builtin.include_role": {"name": "orchestrate.platform.kubeadm_control_plane", "tasks_from": tasks_from}}]}]))
    extra_vars = {"_kubeadm_control_plane_admin_conf": os.environ["KUBECONFIG"], "kubeadm_control_plane_group": "live_cp", **extra}
    result = run_playbook([str(playbook), "-i", str(inventory), "-e", json.dumps(extra_vars)])
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    return output


# --- serving_certs ------------------------------------------------------------------------------

def machine_addresses() -> List[str]:
    out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, check=False).stdout.split()
    return [a for a in out if ipaddress.ip_address(a).version == 4][:1]


def serving_request(node: str, ips: List[str]) -> str:
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:nodes"), x509.NameAttribute(NameOID.COMMON_NAME, "system:node:%s" % node)]))
    sans = [x509.DNSName(node)] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    pem = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False).sign(KEY, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    return base64.b64encode(pem).decode()


@pytest.fixture()
def csrs(api: Any) -> Iterator[List[str]]:
    names: List[str] = []
    yield names
    for name in names:
        try:
            api.CertificatesV1Api().delete_certificate_signing_request(name)
        except api.exceptions.ApiException:
            pass


def create_as_node(api: Any, node: str, ips: List[str], names: List[str]) -> str:
    client = api.ApiClient()
    client.set_default_header("Impersonate-User", "system:node:%s" % node)
    client.set_default_header("Impersonate-Group", "system:nodes")
    name = "live-serving-%s" % uuid.uuid4().hex[:8]
    names.append(name)
    api.CertificatesV1Api(client).create_certificate_signing_request({
        "apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "metadata": {"name": name},
        "spec": {"request": serving_request(node, ips), "signerName": "kubernetes.io/kubelet-serving",
                 "usages": ["digital signature", "server auth"]}})
    return name


def approved(api: Any, name: str) -> bool:
    status = api.CertificatesV1Api().read_certificate_signing_request(name).status
    return any(c.type == "Approved" for c in (status.conditions or []))


def test_serving_certs_approves_only_what_matches_the_node(api: Any, csrs: List[str], tmp_path: Path) -> None:
    if shutil.which("kubectl") is None:
        pytest.skip("no kubectl on PATH: the entry point runs kubectl")
    node, ips = socket.gethostname().lower(), machine_addresses()
    if not ips:
        pytest.skip("this machine has no IPv4 address to put into the request")
    good = create_as_node(api, node, ips, csrs)
    stray = create_as_node(api, node, ips + ["203.0.113.250"], csrs)
    outsider = create_as_node(api, "not-in-the-inventory", ips, csrs)
    # The kubelet's certificate file: present, so the entry point approves without waiting for it.
    cert = tmp_path / "kubelet-server-current.pem"
    cert.write_text("stand-in\n")
    output = entry_point(tmp_path, "serving_certs", gather_facts=True, _kubeadm_control_plane_kubelet_serving_cert=str(cert))
    assert approved(api, good), output[-3000:]
    assert not approved(api, stray) and not approved(api, outsider)
    assert "203.0.113.250" in output and "not in the inventory" in output


# --- tokens ------------------------------------------------------------------------------------

def kubeadm(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["kubeadm", *args, "--kubeconfig", os.environ["KUBECONFIG"]], capture_output=True, text=True, timeout=60, check=False)


def token_ids() -> List[str]:
    result = kubeadm("token", "list", "-o", "jsonpath={.token}{\"\\n\"}")
    assert result.returncode == 0, result.stderr
    return [line.split(".")[0] for line in result.stdout.split() if line]


@pytest.mark.skipif(shutil.which("kubeadm") is None, reason="no kubeadm on PATH: the entry point runs kubeadm token")
def test_tokens_deletes_the_join_tokens_and_keeps_the_others(tmp_path: Path) -> None:
    ours = kubeadm("token", "create", "--ttl", "10m", "--description", DESCRIPTION).stdout.strip().split(".")[0]
    theirs = kubeadm("token", "create", "--ttl", "10m", "--description", "someone else's token").stdout.strip().split(".")[0]
    try:
        assert {ours, theirs} <= set(token_ids())
        entry_point(tmp_path, "tokens")
        left = token_ids()
        assert ours not in left and theirs in left
    finally:
        kubeadm("token", "delete", ours, theirs)
