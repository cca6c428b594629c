"""The gateway role as site.yml renders it: Gateway `platform` with an HTTP listener that only
redirects and an HTTPS listener for *.<domain>, Traefik pods labelled for the network policies,
and a Service whose NodePorts are the inventory variables the infra stage's load balancer uses."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml
from cryptography import x509

from project import ROOT, run_playbook
from rendered import Rendered, load_tree

Obj = Dict[str, Any]


def gateway_objects(files: Dict[str, List[Obj]]) -> List[Obj]:
    return [o for path, objs in files.items() if path.startswith("platform/gateway/") for o in objs]


def one(objects: List[Obj], kind: str, name: str) -> Obj:
    found = [o for o in objects if o.get("kind") == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, "expected one %s %s, found %d" % (kind, name, len(found))
    return found[0]


def node_ports(service: Obj) -> Dict[str, int]:
    return {p["name"]: p["nodePort"] for p in service["spec"]["ports"]}


@pytest.fixture(scope="module")
def gateway(rendered: Rendered) -> List[Obj]:
    found = gateway_objects(rendered.files)
    assert found, "site.yml rendered nothing under platform/gateway/ (is playbooks/platform.yml imported?)"
    return found


def test_gateway_has_the_agreed_name_and_listeners(gateway: List[Obj]) -> None:
    gw = one(gateway, "Gateway", "platform")
    assert gw["metadata"]["namespace"] == "gateway"
    listeners = {item["name"]: item for item in gw["spec"]["listeners"]}
    assert set(listeners) == {"http", "https"}
    assert listeners["http"]["protocol"] == "HTTP"
    assert listeners["http"]["allowedRoutes"]["namespaces"]["from"] == "Same"
    https = listeners["https"]
    assert https["protocol"] == "HTTPS"
    assert https["hostname"] == "*.platform.example.test"
    assert https["tls"]["mode"] == "Terminate"
    assert https["tls"]["certificateRefs"][0]["name"] == "platform-tls"
    assert https["allowedRoutes"]["namespaces"] == {
        "from": "Selector", "selector": {"matchLabels": {"app.kubernetes.io/part-of": "orchestrate-platform"}}}


def test_gateway_class_is_served_by_traefik(gateway: List[Obj]) -> None:
    gw = one(gateway, "Gateway", "platform")
    cls = one(gateway, "GatewayClass", gw["spec"]["gatewayClassName"])
    assert cls["spec"]["controllerName"] == "traefik.io/gateway-controller"


def test_http_listener_redirects_to_https(gateway: List[Obj]) -> None:
    route = one(gateway, "HTTPRoute", "https-redirect")
    assert route["spec"]["parentRefs"] == [{"name": "platform", "sectionName": "http"}]
    (rule,) = route["spec"]["rules"]
    assert "backendRefs" not in rule
    assert rule["filters"] == [{"type": "RequestRedirect",
                                "requestRedirect": {"scheme": "https", "port": 443, "statusCode": 301}}]


def test_listener_ports_are_the_proxy_entry_points(gateway: List[Obj]) -> None:
    gw = one(gateway, "Gateway", "platform")
    proxy = one(gateway, "Deployment", "gateway-proxy")
    container = proxy["spec"]["template"]["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    listeners = {item["name"]: item["port"] for item in gw["spec"]["listeners"]}
    assert listeners == {"http": ports["web"], "https": ports["websecure"]}
    assert "--entryPoints.web.address=:%d/tcp" % ports["web"] in container["args"]
    assert "--entryPoints.websecure.address=:%d/tcp" % ports["websecure"] in container["args"]


def test_proxy_pods_carry_the_agreed_label(gateway: List[Obj]) -> None:
    proxy = one(gateway, "Deployment", "gateway-proxy")
    assert proxy["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] == "gateway-proxy"
    service = one(gateway, "Service", "gateway-proxy")
    assert service["spec"]["selector"] == {"app.kubernetes.io/name": "gateway-proxy"}


def test_service_exposes_80_and_443_on_the_default_nodeports(gateway: List[Obj]) -> None:
    service = one(gateway, "Service", "gateway-proxy")
    assert service["spec"]["type"] == "NodePort"
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == {"http": 80, "https": 443}
    assert {p["name"]: p["targetPort"] for p in service["spec"]["ports"]} == {"http": "web", "https": "websecure"}
    assert node_ports(service) == {"http": 30080, "https": 30443}


def test_gce_inventory_and_role_defaults_share_the_nodeport_variables() -> None:
    role = yaml.safe_load((ROOT / "roles/gateway/defaults/main.yml").read_text())
    assert "platform_gateway_http_nodeport" in role["gateway_http_nodeport"]
    assert "platform_gateway_https_nodeport" in role["gateway_https_nodeport"]
    gce = yaml.safe_load((ROOT / "inventories/gce/group_vars/all/platform.yml").read_text())
    assert gce["platform_gateway_http_nodeport"] == 30080
    assert gce["platform_gateway_https_nodeport"] == 30443


def test_tls_secret_covers_the_domain_and_keeps_the_key_out_of_git(gateway: List[Obj], rendered: Rendered) -> None:
    secret = one(gateway, "Secret", "platform-tls")
    assert secret["type"] == "kubernetes.io/tls"
    cert = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["tls.crt"]))
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert set(names) == {"platform.example.test", "*.platform.example.test"}
    ca = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["ca.crt"]))
    assert cert.issuer == ca.subject and ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert "build/" in (ROOT / ".gitignore").read_text().split()
    secrets_dir = rendered.build / "secrets/gateway"
    assert (secrets_dir / "tls.key").stat().st_mode & 0o077 == 0


def test_the_rendered_secret_file_is_private(rendered: Rendered) -> None:
    path = rendered.root / "platform/gateway/20-secret-platform-tls.yaml"
    assert path.stat().st_mode & 0o077 == 0


@pytest.mark.slow
def test_one_variable_moves_both_nodeports_and_the_domain(tmp_path: Path) -> None:
    """The inventory-wide variables the infra stage's load balancer reads also move the Service."""
    target = tmp_path / "manifests"
    extra = {"platform_gateway_http_nodeport": 31080, "platform_gateway_https_nodeport": 31443,
             "platform_domain": "apps.example.org", "platform_gateway_address": "203.0.113.10",
             "gateway_secrets_dir": str(tmp_path / "secrets")}
    result = run_playbook(["playbooks/platform.yml", "--tags", "gateway", "-e", "platform_render_dir=%s" % target,
                           "-e", json.dumps(extra)])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    objects = gateway_objects(load_tree(target))
    service = one(objects, "Service", "gateway-proxy")
    assert node_ports(service) == {"http": 31080, "https": 31443}
    assert service["spec"]["externalIPs"] == ["203.0.113.10"]
    listeners = {item["name"]: item for item in one(objects, "Gateway", "platform")["spec"]["listeners"]}
    assert listeners["https"]["hostname"] == "*.apps.example.org"


@pytest.mark.slow
def test_acme_mode_renders_an_issuer_and_a_certificate_instead_of_the_secret(tmp_path: Path) -> None:
    target = tmp_path / "manifests"
    extra = {"gateway_tls_source": "acme", "gateway_acme_email": "ops@example.org",
             "gateway_acme_dns_project": "my-platform-project"}
    result = run_playbook(["playbooks/platform.yml", "--tags", "gateway", "-e", "platform_render_dir=%s" % target,
                           "-e", json.dumps(extra)])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    objects = gateway_objects(load_tree(target))
    assert not [o for o in objects if o["kind"] == "Secret"]
    issuer = one(objects, "ClusterIssuer", "platform-acme")
    assert issuer["spec"]["acme"]["solvers"][0]["dns01"]["cloudDNS"]["project"] == "my-platform-project"
    certificate = one(objects, "Certificate", "platform-tls")
    assert certificate["spec"]["secretName"] == "platform-tls"
    assert set(certificate["spec"]["dnsNames"]) == {"platform.example.test", "*.platform.example.test"}
