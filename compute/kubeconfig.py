"""Reading a kubeconfig a person uploaded or pasted, into what the portal stores.

Only self-contained credentials are accepted: a bearer token or a client
certificate, with the CA embedded. A kubeconfig that points at files on the
uploader's disk, or runs a plugin (``exec``, ``auth-provider``), is refused with
what to do instead.
"""

import base64

import yaml

from compute.kube.client import ClusterAccess

MAX_KUBECONFIG_BYTES = 256 * 1024


class KubeconfigError(ValueError):
    pass


def contexts(text: str) -> list[str]:
    """Returns the context names in the kubeconfig (raises KubeconfigError when it is malformed)."""
    return [
        c["name"] for c in _load(text).get("contexts") or [] if isinstance(c, dict) and "name" in c
    ]


def _load(text: str) -> dict:
    if len(text.encode()) > MAX_KUBECONFIG_BYTES:
        raise KubeconfigError(
            f"The kubeconfig is larger than {MAX_KUBECONFIG_BYTES // 1024} KiB; upload only the cluster's own file."
        )
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise KubeconfigError(f"The kubeconfig is not valid YAML{where}.") from None
    if not isinstance(doc, dict) or doc.get("kind", "Config") != "Config" or "clusters" not in doc:
        raise KubeconfigError(
            "This is not a kubeconfig: it needs `clusters`, `users` and `contexts` sections."
        )
    return doc


def _named(doc: dict, section: str, name: str) -> dict:
    for entry in doc.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            return entry.get(section[:-1]) or {}
    raise KubeconfigError(f"The kubeconfig has no {section[:-1]} named “{name}”.")


def _b64(value: str, what: str) -> str:
    try:
        return base64.b64decode(value, validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        raise KubeconfigError(f"The {what} is not valid base64 PEM data.") from None


def read(text: str, context: str | None = None) -> ClusterAccess:
    """Returns the server and credentials of ``context`` (default: current-context)."""
    doc = _load(text)
    names = contexts(text)
    if not names:
        raise KubeconfigError("The kubeconfig has no contexts.")
    chosen = context or doc.get("current-context") or names[0]
    if chosen not in names:
        raise KubeconfigError(
            f"Unknown context “{chosen}”. This kubeconfig has: {', '.join(names)}."
        )
    ctx = _named(doc, "contexts", chosen)
    cluster = _named(doc, "clusters", ctx.get("cluster", ""))
    user = _named(doc, "users", ctx.get("user", ""))
    server = cluster.get("server")
    if not server or not str(server).startswith(("http://", "https://")):
        raise KubeconfigError(f"Context “{chosen}” has no http(s) server URL.")
    if (
        cluster.get("certificate-authority")
        or user.get("client-certificate")
        or user.get("client-key")
        or user.get("tokenFile")
    ):
        raise KubeconfigError(
            "The kubeconfig refers to files on your disk; embed them with "
            "`kubectl config view --minify --flatten --context " + chosen + "` and upload that."
        )
    if user.get("exec") or user.get("auth-provider"):
        raise KubeconfigError(
            "This user signs in through a plugin (exec/auth-provider), which the portal cannot run. "
            "Create a service account token for the portal and attach with it."
        )
    credentials: dict = {"insecure": bool(cluster.get("insecure-skip-tls-verify"))}
    if cluster.get("certificate-authority-data"):
        credentials["ca_data"] = _b64(
            cluster["certificate-authority-data"], "certificate-authority-data"
        )
    if user.get("token"):
        credentials["token"] = str(user["token"])
    elif user.get("client-certificate-data") and user.get("client-key-data"):
        credentials["client_certificate"] = _b64(
            user["client-certificate-data"], "client-certificate-data"
        )
        credentials["client_key"] = _b64(user["client-key-data"], "client-key-data")
    else:
        raise KubeconfigError(
            f"User of context “{chosen}” has neither a token nor an embedded client certificate."
        )
    return ClusterAccess(server=str(server).rstrip("/"), credentials=credentials)
