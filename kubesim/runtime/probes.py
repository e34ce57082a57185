"""Probe checks against a local container: ``httpGet``, ``tcpSocket`` and ``exec``.

Each check returns (success, message); a refused connection, a time-out or a bad status
is a failed probe, never an error of kubesim.  Only loopback addresses are ever dialled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from .hosts import is_loopback

Exec = Callable[[list[str], float], Awaitable[tuple[int, str]]]


def port_number(container: dict[str, Any], port: Any) -> int | None:
    """Return the number of `port`, which may name one of the container's ports."""
    if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
        return int(port)
    for entry in container.get("ports") or ():
        if entry.get("name") == port:
            return int(entry.get("containerPort", 0)) or None
    return None


async def _http(probe: dict[str, Any], container: dict[str, Any], ip: str, timeout: float):
    spec = probe["httpGet"] or {}
    host = spec.get("host") or ip
    port = port_number(container, spec.get("port"))
    if port is None or not is_loopback(host):
        return False, f"cannot probe {host}:{spec.get('port')}"
    scheme = str(spec.get("scheme") or "HTTP").lower()
    path = spec.get("path") or "/"
    url = f"{scheme}://{host}:{port}{path if path.startswith('/') else '/' + path}"
    headers = {h.get("name", ""): h.get("value", "") for h in spec.get("httpHeaders") or ()}
    headers.setdefault("User-Agent", "kube-probe/1.32")
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as s:
            async with s.get(url, headers=headers, ssl=False, allow_redirects=False) as resp:
                await resp.read()
                if 200 <= resp.status < 400:
                    return True, ""
                return False, f"HTTP probe failed with statuscode: {resp.status}"
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        return False, f'Get "{url}": {type(exc).__name__}: {exc}'


async def _tcp(probe: dict[str, Any], container: dict[str, Any], ip: str, timeout: float):
    spec = probe["tcpSocket"] or {}
    host = spec.get("host") or ip
    port = port_number(container, spec.get("port"))
    if port is None or not is_loopback(host):
        return False, f"cannot probe {host}:{spec.get('port')}"
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (TimeoutError, OSError) as exc:
        return False, f"dial tcp {host}:{port}: {exc}"
    writer.close()
    return True, ""


async def run_probe(
    probe: dict[str, Any], container: dict[str, Any], ip: str, exec_fn: Exec
) -> tuple[bool, str]:
    """Return (success, message) of one probe run against the container at `ip`."""
    timeout = float(probe.get("timeoutSeconds") or 1)
    if "httpGet" in probe:
        return await _http(probe, container, ip, timeout)
    if "tcpSocket" in probe:
        return await _tcp(probe, container, ip, timeout)
    if "exec" in probe:
        command = [str(c) for c in (probe["exec"] or {}).get("command") or ()]
        if not command:
            return False, "exec probe without a command"
        code, output = await exec_fn(command, timeout)
        if code == 0:
            return True, ""
        return False, f"command {command!r} exited with {code}: {output.strip()[:200]}"
    if "grpc" in probe:
        return False, "grpc probes are not supported by the local runtime"
    return True, ""
