"""Encryption at rest for cluster credentials.

Keys come from ``PORTAL_ENCRYPTION_KEYS`` (comma-separated Fernet keys, the first
encrypts, all decrypt: that is how keys rotate), or in the embedded mode from a
key file created on first use with mode 0600. ``manage.py rotate_credentials``
re-encrypts every stored credential with the first key.
"""

import json
import os
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class CredentialsError(Exception):
    pass


def _embedded_key() -> bytes:
    path = settings.ENCRYPTION_KEY_FILE
    if not path.exists():
        key = Fernet.generate_key()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
        return key
    return path.read_bytes().strip()


@lru_cache(maxsize=4)
def _cipher(keys: tuple[str, ...]) -> MultiFernet:
    raw = [k.encode() for k in keys] or [_embedded_key()]
    return MultiFernet([Fernet(k) for k in raw])


def cipher() -> MultiFernet:
    return _cipher(tuple(settings.ENCRYPTION_KEYS))


def encrypt(data: dict) -> bytes:
    """Returns the encrypted JSON form of ``data``."""
    return cipher().encrypt(json.dumps(data, sort_keys=True).encode())


def seal(server: str, data: dict) -> bytes:
    """Returns ``data`` encrypted together with the ``server`` URL it is for: credentials
    opened with ``open_for`` are only ever handed to that server."""
    return encrypt({**data, "server": server})


def open_for(server: str, blob: bytes | memoryview) -> dict:
    """Returns the credentials sealed for ``server``; raises CredentialsError when they were
    given for another server (the URL was changed without giving credentials again) or
    when no configured key opens them."""
    data = decrypt(blob)
    if data.get("server") != server:
        raise CredentialsError(
            f"the stored credentials were given for another server than {server}; attach the "
            "cluster again with credentials for this server"
        )
    return data


def decrypt(blob: bytes | memoryview) -> dict:
    """Returns the credentials; raises CredentialsError when no configured key opens them."""
    try:
        return json.loads(cipher().decrypt(bytes(blob)))
    except InvalidToken:
        raise CredentialsError(
            "stored credentials cannot be decrypted with the configured keys; "
            "add the old key to PORTAL_ENCRYPTION_KEYS (after the new one)"
        ) from None


def rotate(blob: bytes | memoryview) -> bytes:
    """Returns ``blob`` re-encrypted with the first key."""
    return cipher().rotate(bytes(blob))
