"""Pod addresses in 127.0.0.0/8 and each pod's /etc/hosts.

Every address in 127.0.0.0/8 reaches the loopback device on Linux, so a process that binds
to its pod's address is reachable there and nowhere else.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
import random
import tempfile
from collections.abc import Iterable
from typing import Any

CLUSTER_DOMAIN = "cluster.local"
LOCK_DIR = os.path.join(tempfile.gettempdir(), "kubesim-addresses")


def is_loopback(address: str) -> bool:
    """Return True for an IPv4 address in 127.0.0.0/8 (the only ones kubesim connects to)."""
    try:
        return ipaddress.IPv4Address(address) in ipaddress.IPv4Network("127.0.0.0/8")
    except ValueError:
        return False


def _claim_block() -> tuple[int, Any]:
    """Return (second octet, open lock file) of a 127.N.0.0/16 block no other kubesim on
    this machine holds; the lock goes with the file (or the process)."""
    os.makedirs(LOCK_DIR, exist_ok=True)
    blocks = list(range(1, 255))
    random.shuffle(blocks)
    for block in blocks:
        handle = open(os.path.join(LOCK_DIR, f"127.{block}.lock"), "a")  # noqa: SIM115
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        return block, handle
    raise RuntimeError("every 127.N.0.0/16 address block is held by another kubesim")


class AddressPool:
    """Hands out pod addresses from a 127.N.0.0/16 block held by this pool alone (other
    kubesims on the machine, tests in parallel included, get other blocks)."""

    def __init__(self) -> None:
        self.block, self._lock = _claim_block()
        self._first = int(ipaddress.IPv4Address(f"127.{self.block}.0.2"))
        self._last = int(ipaddress.IPv4Address(f"127.{self.block}.255.254"))
        self._next = self._first
        self._used: set[int] = set()

    def allocate(self) -> str:
        """Return a free address (wrapping round after the last one)."""
        for _ in range(self._last - self._first + 1):
            candidate = self._next
            self._next = self._first if candidate >= self._last else candidate + 1
            if candidate % 256 in (0, 255) or candidate in self._used:
                continue
            self._used.add(candidate)
            return str(ipaddress.IPv4Address(candidate))
        raise RuntimeError("no pod address left in the block")

    def release(self, address: str) -> None:
        """Give an address back."""
        if is_loopback(address):
            self._used.discard(int(ipaddress.IPv4Address(address)))

    def close(self) -> None:
        """Give the block back."""
        self._lock.close()


def hosts_text(
    *,
    name: str,
    hostname: str,
    subdomain: str,
    namespace: str,
    ip: str,
    peers: Iterable[tuple[str, str]] = (),
) -> str:
    """Return /etc/hosts for a pod: localhost, the pod itself and, with a subdomain (a
    headless Service), every peer ``(hostname, ip)`` under that subdomain."""
    lines = [
        "# Kubernetes-managed hosts file (kubesim).",
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
    ]

    def names(host: str) -> str:
        if not subdomain:
            return host
        fqdn = f"{host}.{subdomain}.{namespace}.svc.{CLUSTER_DOMAIN}"
        return (
            f"{fqdn}\t{host}.{subdomain}.{namespace}.svc\t{host}.{subdomain}.{namespace}\t"
            f"{host}.{subdomain}\t{host}"
        )

    lines.append(f"{ip}\t{names(hostname or name)}")
    for peer_host, peer_ip in sorted(peers):
        if peer_host != (hostname or name) and peer_ip:
            lines.append(f"{peer_ip}\t{names(peer_host)}")
    return "\n".join(lines) + "\n"


def write_in_place(path: str, text: str) -> None:
    """Rewrite `path` keeping its inode, so containers that bind-mount it see the change."""
    with open(path, "a+", encoding="utf-8") as out:
        out.seek(0)
        out.truncate()
        out.write(text)
