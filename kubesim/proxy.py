"""The API server's proxy subresources for services and pods.

``/api/v1/namespaces/{ns}/services/{[scheme:]name[:port]}/proxy/{path}`` picks a ready
endpoint of the Service (round robin) and ``.../pods/{[scheme:]name[:port]}/proxy/{path}``
the pod itself; the request (any method, headers, body) is passed on and the response
streamed back.  No ready endpoint answers 503 with a Status, as Kubernetes does.  Only pod
addresses in 127.0.0.0/8 are ever dialled: a simulated pod has nothing behind its address.
"""

from __future__ import annotations

import itertools
from typing import Any

import aiohttp
from aiohttp import web

from kubesim.errors import ApiError, not_found
from kubesim.runtime.hosts import is_loopback
from kubesim.runtime.probes import port_number

# Hop-by-hop headers (RFC 9110 7.6.1) and the caller's credentials stay with the proxy.
_DROP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "authorization",
    "content-length",
}
CHUNK = 65536
TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=300)


def parse_target(text: str) -> tuple[str, str, str]:
    """Return (scheme, name, port) of ``[scheme:]name[:port]``; scheme and port may be ""."""
    parts = text.split(":")
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    if len(parts) == 2:
        if parts[0] in ("http", "https"):
            return parts[0], parts[1], ""
        return "", parts[0], parts[1]
    return "", text, ""


def match(rest: list[str]) -> tuple[str, str, str, str] | None:
    """Return (kind, namespace, target, path) for a proxy path after ``/api/v1``, else None."""
    if len(rest) < 5 or rest[0] != "namespaces" or rest[2] not in ("services", "pods"):
        return None
    if rest[4] != "proxy":
        return None
    return rest[2], rest[1], rest[3], "/" + "/".join(rest[5:])


def _unavailable(message: str) -> ApiError:
    return ApiError(503, "ServiceUnavailable", message)


class Proxy:
    """Forwards proxy requests; one HTTP client session for all of them."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self._session: aiohttp.ClientSession | None = None
        self._turn = itertools.count()

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=TIMEOUT, auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar()
            )
        return self._session

    async def close(self) -> None:
        """Close the client session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _pod_target(self, namespace: str, name: str, port: str) -> tuple[str, int]:
        pod = self.store.peek("pods", name, namespace=namespace)
        if pod is None:
            raise not_found("pods", name)
        ip = (pod.get("status") or {}).get("podIP") or ""
        number: int | None = 80
        if port:
            containers = (pod.get("spec") or {}).get("containers") or []
            number = next((n for c in containers if (n := port_number(c, port)) is not None), None)
        if not ip or number is None:
            raise _unavailable(f'pod "{name}" has no address for port {port or 80}')
        return ip, number

    def _service_target(self, namespace: str, name: str, port: str) -> tuple[str, int]:
        svc = self.store.peek("services", name, namespace=namespace)
        if svc is None:
            raise not_found("services", name)
        ports = (svc.get("spec") or {}).get("ports") or []
        chosen = next(
            (p for p in ports if not port or p.get("name") == port or str(p.get("port")) == port),
            None,
        )
        if chosen is None:
            raise _unavailable(f'no service port "{port}" found for service "{name}"')
        endpoints = self.store.peek("endpoints", name, namespace=namespace) or {}
        candidates = []
        for subset in endpoints.get("subsets") or ():
            numbers = [
                p.get("port")
                for p in subset.get("ports") or ()
                if (p.get("name") or "") == (chosen.get("name") or "")
            ]
            if numbers:
                candidates += [
                    (a.get("ip", ""), int(numbers[0])) for a in subset.get("addresses") or ()
                ]
        if not candidates:
            raise _unavailable(f'no endpoints available for service "{name}"')
        return candidates[next(self._turn) % len(candidates)]

    async def handle(
        self, request: web.Request, kind: str, namespace: str, target: str, path: str
    ) -> web.StreamResponse:
        """Forward `request` to the pod or a ready endpoint of the service."""
        scheme, name, port = parse_target(target)
        if kind == "pods":
            ip, number = self._pod_target(namespace, name, port)
        else:
            ip, number = self._service_target(namespace, name, port)
        if not is_loopback(ip):
            raise _unavailable(
                f"{kind[:-1]} {name!r} in namespace {namespace!r} is simulated: nothing listens "
                f"at {ip}:{number} (kubesim proxies only to pods of its local runtime)"
            )
        url = f"{scheme or 'http'}://{ip}:{number}{path}"
        if request.query_string:
            url += "?" + request.query_string
        return await self._forward(request, url)

    async def _forward(self, request: web.Request, url: str) -> web.StreamResponse:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROP}
        body: Any = None
        if request.content_length is not None:
            body = await request.read()  # a known length is passed on as it came
        elif request.body_exists:
            body = request.content  # streamed on, chunked
        try:
            upstream = await self._client().request(
                request.method, url, headers=headers, data=body, allow_redirects=False, ssl=False
            )
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise _unavailable(f"error trying to reach service: {exc}") from exc
        async with upstream:
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for key, value in upstream.headers.items():
                if key.lower() not in _DROP:
                    response.headers.add(key, value)
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
        return response
