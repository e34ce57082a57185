"""Client certificates reach the API server without their decrypted key touching the disk,
and the folders earlier versions left are removed."""

import datetime as dt
import ipaddress
import json
import os
import ssl
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from compute.kube import calls, tls
from compute.kube.client import build_client
from compute.kube.errors import ClusterError

PEM = serialization.Encoding.PEM


def _cert(
    subject: str, key, issuer_name: str, issuer_key, *, ca=False, ip=None
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ip:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _key_pem(key) -> str:
    return key.private_bytes(
        PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture
def mtls_server(tmp_path):
    """An HTTPS server that demands a client certificate from its CA; yields (url, CA PEM,
    client cert PEM, client key PEM, the common names it saw)."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("test-ca", ca_key, "test-ca", ca_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = _cert("server", server_key, "test-ca", ca_key, ip="127.0.0.1")
    client_key = ec.generate_private_key(ec.SECP256R1())
    client_cert = _cert("portal-admin", client_key, "test-ca", ca_key)
    ca_pem = ca.public_bytes(PEM).decode()
    (tmp_path / "server.pem").write_text(
        server_cert.public_bytes(PEM).decode() + _key_pem(server_key)
    )
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            peer = self.connection.getpeercert()
            seen.append(dict(x[0] for x in peer["subject"])["commonName"])
            body = json.dumps({"gitVersion": "v1.32.0"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(tmp_path / "server.pem"))
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cadata=ca_pem)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield (
        f"https://127.0.0.1:{httpd.server_address[1]}",
        ca_pem,
        client_cert.public_bytes(PEM).decode(),
        _key_pem(client_key),
        seen,
    )
    httpd.shutdown()
    httpd.server_close()


def _temp_entries() -> set[str]:
    return set(os.listdir(tempfile.gettempdir()))


def test_a_client_certificate_is_used_and_its_key_never_written(mtls_server, monkeypatch):
    url, ca_pem, cert_pem, key_pem, seen = mtls_server
    stale = tempfile.mkdtemp(prefix="kubeportal-certs-")  # as earlier versions left them
    with open(os.path.join(stale, "key.pem"), "w") as handle:
        handle.write(key_pem)
    monkeypatch.setattr(tls, "_cleaned", threading.Event())
    before = _temp_entries() - {os.path.basename(stale)}
    api = build_client(
        url, {"client_certificate": cert_pem, "client_key": key_pem, "ca_data": ca_pem}
    )
    assert calls.request(api, "reading the version", "GET", "/version")["gitVersion"]
    assert seen == ["portal-admin"]
    assert not os.path.exists(stale)
    # Nothing new in the temporary directory holds the key (other processes on the machine
    # may add entries of their own meanwhile; none of them has this test's fresh key).
    secret = "".join(key_pem.strip().splitlines()[1:-1])[:64].encode()
    for name in _temp_entries() - before:
        path = os.path.join(tempfile.gettempdir(), name)
        files = (
            [path]
            if os.path.isfile(path)
            else [os.path.join(folder, f) for folder, _dirs, names in os.walk(path) for f in names]
        )
        for file in files:
            try:
                with open(file, "rb") as handle:
                    assert secret not in handle.read(), f"the key was written to {file}"
            except OSError:
                continue


def test_without_the_certificate_the_server_refuses(mtls_server):
    url, ca_pem, _cert_pem, _key_pem, seen = mtls_server
    api = build_client(url, {"token": "t", "ca_data": ca_pem})
    with pytest.raises(ClusterError):
        calls.request(api, "reading the version", "GET", "/version")
    assert seen == []


def test_a_server_outside_the_given_ca_is_refused(mtls_server):
    url, _ca_pem, cert_pem, key_pem, seen = mtls_server
    other_key = ec.generate_private_key(ec.SECP256R1())
    other_ca = _cert("other", other_key, "other", other_key, ca=True).public_bytes(PEM).decode()
    api = build_client(
        url, {"client_certificate": cert_pem, "client_key": key_pem, "ca_data": other_ca}
    )
    with pytest.raises(ClusterError, match="Could not reach"):
        calls.request(api, "reading the version", "GET", "/version")
    assert seen == []
