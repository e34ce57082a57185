"""Writing a kubeconfig that points kubectl and client libraries at the simulator."""

from __future__ import annotations

import base64
import os

import yaml

NAME = "kubesim"


def build(url: str, token: str, ca_pem: str | None = None, namespace: str = "default") -> dict:
    """Return a kubeconfig dict: cluster, user and context all named ``kubesim``."""
    cluster: dict = {"server": url}
    if ca_pem:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem.encode()).decode()
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": NAME, "cluster": cluster}],
        "users": [{"name": NAME, "user": {"token": token}}],
        "contexts": [
            {"name": NAME, "context": {"cluster": NAME, "user": NAME, "namespace": namespace}}
        ],
        "current-context": NAME,
        "preferences": {},
    }


def write(
    path: str, url: str, token: str, ca_pem: str | None = None, *, namespace: str = "default"
) -> str:
    """Write the kubeconfig to ``path`` (mode 0600, parent dirs created); return the path."""
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        yaml.safe_dump(build(url, token, ca_pem, namespace), fh, sort_keys=False)
    return path
