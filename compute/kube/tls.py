"""TLS for cluster clients, built in memory: no decrypted key is ever left on disk.

The official client hands urllib3 file names for the CA, the client certificate and its
key. Here the client gets an ``ssl.SSLContext`` instead: the CA is loaded from memory, and
the certificate and key (which Python's ``ssl`` loads only from a path) from an anonymous
``memfd`` that nothing else can open and that vanishes when it is closed, right after
loading. Where there is no ``memfd`` (not Linux), a 0600 file in a private folder is used,
deleted as soon as the key is loaded. Folders earlier versions left
(``kubeportal-certs-*`` in the temporary directory) are removed once per process.
"""

import glob
import os
import shutil
import ssl
import tempfile
import threading

from urllib3.util.ssl_ import create_urllib3_context

STALE_DIRS = "kubeportal-certs-*"
_cleaned = threading.Event()


def remove_stale_dirs() -> int:
    """Deletes the certificate folders earlier versions left in the temporary directory
    (those this user owns); returns how many. Runs once per process."""
    if _cleaned.is_set():
        return 0
    _cleaned.set()
    removed = 0
    for path in glob.glob(os.path.join(tempfile.gettempdir(), STALE_DIRS)):
        try:
            if os.path.isdir(path) and os.stat(path).st_uid == os.getuid():
                shutil.rmtree(path, ignore_errors=True)
                removed += 1
        except OSError:
            continue
    return removed


def _load_chain(context: ssl.SSLContext, certificate: str, key: str) -> None:
    """Loads a client certificate and key from memory into ``context``."""
    pem = (certificate.rstrip() + "\n" + key.rstrip() + "\n").encode()
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("kubeportal-client-key", os.MFD_CLOEXEC)
        try:
            os.write(fd, pem)
            context.load_cert_chain(f"/proc/self/fd/{fd}")
        finally:
            os.close(fd)
        return
    folder = tempfile.mkdtemp(prefix="kubeportal-key-")  # 0700
    path = os.path.join(folder, "client.pem")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        context.load_cert_chain(path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def client_context(secret: dict) -> ssl.SSLContext:
    """The SSL context for a cluster's ``secret``: its CA (or the system's), its client
    certificate and key when it has them, no verification when it says ``insecure``."""
    insecure = bool(secret.get("insecure"))
    context = create_urllib3_context(cert_reqs=ssl.CERT_NONE if insecure else ssl.CERT_REQUIRED)
    if insecure:
        context.check_hostname = False
    elif secret.get("ca_data"):
        context.load_verify_locations(cadata=secret["ca_data"])
    else:
        context.load_default_certs()
    if secret.get("client_certificate") and secret.get("client_key"):
        _load_chain(context, secret["client_certificate"], secret["client_key"])
    return context
