"""Cluster access and the client factory: one isolated ``ApiClient`` per cluster.

Clients are built from a cluster's stored (decrypted) credentials, never from the global
default configuration and never at import. Each is cached under everything it is built
from (the cluster, its server URL and its credentials), so new credentials or a moved
server give a new client.
"""

import hashlib
import threading
from dataclasses import dataclass

import urllib3
from django.conf import settings
from kubernetes import client

from compute import credentials as creds
from compute.kube import tls
from compute.kube.errors import ClusterError, ErrorKind

PEM_CERTIFICATE = "-----BEGIN CERTIFICATE-----"


@dataclass
class ClusterAccess:
    """Where a cluster is and how to sign in: what the portal stores (credentials encrypted)."""

    server: str
    credentials: dict  # token | client_certificate + client_key, ca_data, insecure


class AccessError(ValueError):
    """Cluster access given by hand is unusable; ``field`` names the input to fix."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def token_access(
    server: str, token: str, ca_pem: str = "", *, insecure: bool = False
) -> ClusterAccess:
    """Checks a server URL, a bearer token and an optional CA certificate (PEM); returns the
    access to store. Raises AccessError naming the field (``server``, ``token`` or
    ``ca_certificate``) when one is unusable."""
    server = (server or "").strip()
    if not server.startswith(("http://", "https://")):
        raise AccessError(
            "server", "Give the API server's http(s) URL, e.g. https://10.0.0.1:6443."
        )
    token = (token or "").strip()
    if not token:
        raise AccessError("token", "Give the service account token the portal signs in with.")
    secret: dict = {"token": token, "insecure": bool(insecure)}
    ca_pem = (ca_pem or "").strip()
    if ca_pem:
        if PEM_CERTIFICATE not in ca_pem:
            raise AccessError(
                "ca_certificate",
                f"Paste the CA certificate in PEM form ({PEM_CERTIFICATE}).",
            )
        secret["ca_data"] = ca_pem + "\n"
    return ClusterAccess(server=server.rstrip("/"), credentials=secret)


def request_timeout() -> tuple[float, float]:
    """(connect, read) seconds every request passes."""
    return (min(5.0, float(settings.KUBE_REQUEST_TIMEOUT)), float(settings.KUBE_REQUEST_TIMEOUT))


_clients: dict[tuple[int, str, str], client.ApiClient] = {}
_clients_lock = threading.Lock()


def build_client(server: str, secret: dict) -> client.ApiClient:
    """Returns a new ApiClient for ``server`` with ``secret`` (token or client cert, CA).
    Its TLS is set up in memory (``compute.kube.tls``): nothing of it is written to disk."""
    tls.remove_stale_dirs()
    config = client.Configuration()
    config.host = server
    config.retries = 0
    if secret.get("token"):
        config.api_key = {"BearerToken": secret["token"]}
        config.api_key_prefix = {"BearerToken": "Bearer"}
    config.verify_ssl = not secret.get("insecure", False)
    api = client.ApiClient(configuration=config)
    if server.startswith("https://"):
        rest = api.rest_client
        rest.pool_manager = urllib3.PoolManager(
            num_pools=4,
            maxsize=config.connection_pool_maxsize or 4,
            retries=config.retries,
            ssl_context=tls.client_context(secret),
        )
    return api


def client_for(cluster) -> client.ApiClient:
    """The cached ApiClient of ``cluster`` (a Cluster row); rebuilt when what it is built
    from changes: the cluster, its server URL or its credentials.

    Credentials are sealed with the server they were given for: a row whose ``server`` was
    changed without new credentials raises ClusterError (unauthorized) and nothing is sent
    anywhere."""
    blob = bytes(cluster.credentials)
    key = (cluster.pk, cluster.server, hashlib.sha256(blob).hexdigest())
    with _clients_lock:
        api = _clients.get(key)
        if api is None:
            try:
                secret = creds.open_for(cluster.server, blob)
            except creds.CredentialsError as exc:
                raise ClusterError(ErrorKind.UNAUTHORIZED, f"Not connecting: {exc}.") from None
            api = build_client(cluster.server, secret)
            _clients[key] = api
        return api
