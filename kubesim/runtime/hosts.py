"""Pod addresses in 127.0.0.0/8 and each pod's /etc/hosts.

Every address in 127.0.0.0/8 reaches the loopback device on Linux, so a process that binds
to its pod's address is reachable there and nowhere else.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

FIRST = int(ipaddress.IPv4Address("127.1.0.2"))
LAST = int(ipaddress.IPv4Address("127.254.255.254"))
CLUSTER_DOMAIN = "cluster.local"


def is_loopback(address: str) -> bool:
    """Return True for an IPv4 address in 127.0.0.0/8 (the only ones kubesim connects to)."""
    try:
        return ipaddress.IPv4Address(address) in ipaddress.IPv4Network("127.0.0.0/8")
    except ValueError:
        return False


class AddressPool:
    """Hands out pod addresses from 127.1.0.2 on, never two live pods the same one."""

    def __init__(self) -> None:
        self._next = FIRST
        self._used: set[int] = set()

    def allocate(self) -> str:
        """Return a free address (wrapping round after the last one)."""
        while True:
            candidate = self._next
            self._next = FIRST if candidate >= LAST else candidate + 1
            if candidate % 256 in (0, 255) or candidate in self._used:
                continue
            self._used.add(candidate)
            return str(ipaddress.IPv4Address(candidate))

    def release(self, address: str) -> None:
        """Give an address back."""
        if is_loopback(address):
            self._used.discard(int(ipaddress.IPv4Address(address)))


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
