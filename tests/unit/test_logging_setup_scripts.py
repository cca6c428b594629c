"""The logging role's setup scripts run for real (bash, curl) against loopback stand-ins of the
Elasticsearch and Kibana APIs: the Elasticsearch one over TLS verified against a CA made here,
with the elastic user's password from its file, sending the lifecycle policy, the template, the
roles and every user with the password of its file; the same requests again on a second run; a
refused call fails the script."""

from __future__ import annotations

import base64
import datetime
import http.server
import ipaddress
import json
import shutil
import ssl
import subprocess
import threading
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from project import ROOT

FILES = ROOT / "roles/logging/files"
PASSWORDS = {"elastic": "E" * 32, "kibana-system": "K" * 32, "fluent-bit": "F" * 32, "exporter": "X" * 32}
Request = Tuple[str, str, str, Any]


def certificates(directory: Path) -> Tuple[Path, Path, Path]:
    """A CA and a server certificate for localhost signed by it (PEM files)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(1).not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True).sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False).sign(ca_key, hashes.SHA256()))
    paths = directory / "ca.crt", directory / "tls.crt", directory / "tls.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return paths


class StandIn(http.server.ThreadingHTTPServer):
    def __init__(self, refuse: str = "") -> None:
        self.requests: List[Request] = []
        self.refuse = refuse
        super().__init__(("127.0.0.1", 0), Handler)


class Handler(http.server.BaseHTTPRequestHandler):
    server: StandIn

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        auth = base64.b64decode((self.headers.get("Authorization") or "Basic ").split(" ", 1)[1]).decode()
        parsed: Any = json.loads(body) if body else None
        self.server.requests.append((self.command, self.path, auth, parsed))
        if self.headers.get("kbn-xsrf") is None and self.path.startswith("/api/data_views"):
            self.send_response(400)
        elif self.server.refuse and self.path.startswith(self.server.refuse):
            self.send_response(403)
        else:
            self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_PUT = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


def serve(server: StandIn, tls: Tuple[Path, Path, Path] = None) -> Iterator[StandIn]:  # type: ignore[assignment]
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(tls[1]), str(tls[2]))
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def setup_dir(tmp_path: Path, es_port: int, kibana_port: int, ca: Path) -> Path:
    """The setup ConfigMap's files as the Job sees them, pointed at the stand-ins."""
    directory, secrets = tmp_path / "setup", tmp_path / "secrets"
    directory.mkdir()
    secrets.mkdir()
    for key, value in PASSWORDS.items():
        (secrets / key).write_text(value)
    for script in ("elasticsearch-setup.sh", "kibana-setup.sh", "logging-setup-lib.sh"):
        shutil.copy(FILES / script, directory / script)
    (directory / "names.env").write_text(
        "ES_URL=https://localhost:%d\nKIBANA_URL=http://localhost:%d\nILM_POLICY=logs-platform\nINDEX_TEMPLATE=logs-platform\n"
        "CA_FILE=%s\nSECRETS=%s\n" % (es_port, kibana_port, ca, secrets))
    (directory / "ilm-policy.json").write_text(json.dumps({"policy": {"phases": {"delete": {"min_age": "14d"}}}}))
    (directory / "index-template.json").write_text(json.dumps({"index_patterns": ["logs-platform-*"], "data_stream": {}}))
    (directory / "role-fluent-bit-writer.json").write_text(json.dumps({"cluster": [], "indices": []}))
    (directory / "role-elasticsearch-exporter.json").write_text(json.dumps({"cluster": ["monitor"]}))
    (directory / "users.txt").write_text("fluent-bit fluent-bit-writer fluent-bit\nelasticsearch-exporter elasticsearch-exporter exporter\n")
    (directory / "data-view.json").write_text(json.dumps({"override": True, "data_view": {"id": "platform-logs"}}))
    return directory


def run(directory: Path, script: str) -> subprocess.CompletedProcess:
    return subprocess.run([shutil.which("bash") or "bash", str(directory / script)], capture_output=True, text=True, timeout=60,
                          check=False)


@pytest.fixture()
def tls(tmp_path: Path) -> Tuple[Path, Path, Path]:
    if not shutil.which("curl"):
        pytest.fail("curl is missing: run scripts/install-system-deps.sh")
    return certificates(tmp_path)


def test_elasticsearch_setup_sends_every_object_with_the_elastic_user(tmp_path: Path, tls: Tuple[Path, Path, Path]) -> None:
    for server in serve(StandIn(), tls):
        directory = setup_dir(tmp_path, server.server_address[1], 9, tls[0])
        first = run(directory, "elasticsearch-setup.sh")
        assert first.returncode == 0, first.stdout + first.stderr
        requests = list(server.requests)
        assert {auth for _, _, auth, _ in requests} == {"elastic:" + PASSWORDS["elastic"]}
        calls = [(method, path.split("?")[0]) for method, path, _, _ in requests]
        assert calls == [
            ("GET", "/_cluster/health"),
            ("PUT", "/_ilm/policy/logs-platform"),
            ("PUT", "/_index_template/logs-platform"),
            ("PUT", "/_security/role/elasticsearch-exporter"),
            ("PUT", "/_security/role/fluent-bit-writer"),
            ("POST", "/_security/user/kibana_system/_password"),
            ("PUT", "/_security/user/fluent-bit"),
            ("PUT", "/_security/user/elasticsearch-exporter"),
        ]
        bodies = {path: body for _, path, _, body in requests}
        assert bodies["/_ilm/policy/logs-platform"] == json.loads((directory / "ilm-policy.json").read_text())
        assert bodies["/_security/user/kibana_system/_password"] == {"password": PASSWORDS["kibana-system"]}
        assert bodies["/_security/user/fluent-bit"] == {"password": PASSWORDS["fluent-bit"], "roles": ["fluent-bit-writer"]}
        assert bodies["/_security/user/elasticsearch-exporter"] == {"password": PASSWORDS["exporter"], "roles": ["elasticsearch-exporter"]}
        assert not any(value in first.stdout + first.stderr for value in PASSWORDS.values())
        second = run(directory, "elasticsearch-setup.sh")
        assert second.returncode == 0, second.stdout + second.stderr
        assert server.requests[len(requests):] == requests, "a re-run must send the same desired state"


def test_a_refused_call_fails_the_setup(tmp_path: Path, tls: Tuple[Path, Path, Path]) -> None:
    for server in serve(StandIn(refuse="/_security/role/"), tls):
        directory = setup_dir(tmp_path, server.server_address[1], 9, tls[0])
        result = run(directory, "elasticsearch-setup.sh")
        assert result.returncode != 0
        assert not any(path.startswith("/_security/user/") for _, path, _, _ in server.requests)


def test_the_setup_refuses_a_certificate_of_another_ca(tmp_path: Path, tls: Tuple[Path, Path, Path]) -> None:
    other = tmp_path / "other"
    other.mkdir()
    foreign = certificates(other)
    for server in serve(StandIn(), foreign):
        directory = setup_dir(tmp_path, server.server_address[1], 9, tls[0])
        # The script keeps retrying the health call (60 times 5 s): 8 s of refused handshakes are enough.
        result = subprocess.run(["timeout", "8", shutil.which("bash") or "bash", str(directory / "elasticsearch-setup.sh")],
                                capture_output=True, text=True, check=False)
        assert result.returncode != 0
        assert server.requests == [], "no request may reach a server whose certificate the CA did not sign"


def test_kibana_setup_provisions_the_data_view(tmp_path: Path, tls: Tuple[Path, Path, Path]) -> None:
    """Over plain HTTP inside the namespace; the Kibana setup Job mounts no CA, so the CA file is absent."""
    for server in serve(StandIn()):
        directory = setup_dir(tmp_path, 9, server.server_address[1], tmp_path / "not-mounted" / "ca.crt")
        result = run(directory, "kibana-setup.sh")
        assert result.returncode == 0, result.stdout + result.stderr
        calls = [(method, path, auth) for method, path, auth, _ in server.requests]
        assert calls == [("GET", "/api/status", "elastic:" + PASSWORDS["elastic"]),
                         ("POST", "/api/data_views/data_view", "elastic:" + PASSWORDS["elastic"])]
        assert server.requests[-1][3] == json.loads((directory / "data-view.json").read_text())
