"""API paths answered outside the REST store: the proxy subresources and the metrics API.

`ApiServer` asks `ExtraRoutes.handle` first; None means "not mine".  `attach` hands over
the running controllers (the kubelet's measurements feed the metrics API).
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from kubesim.auth import User, forbidden
from kubesim.errors import ApiError
from kubesim.kueue import visibility
from kubesim.metrics_api import GROUP, MetricsApi, Usage
from kubesim.proxy import Proxy, match, parse_target
from kubesim.rbac import Attributes, authorize

_VERBS = {
    "GET": "get",
    "HEAD": "get",
    "OPTIONS": "get",
    "POST": "create",
    "PUT": "update",
    "PATCH": "patch",
    "DELETE": "delete",
}


def _metrics_attributes(rest: list[str]) -> Attributes:
    """Return what a metrics request reads: get or list of pods or nodes of metrics.k8s.io."""
    namespace = ""
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    resource = rest[0] if rest else ""
    name = rest[1] if len(rest) == 2 else ""
    return Attributes("get" if name else "list", GROUP, resource, "", name, namespace)


class ExtraRoutes:
    """Proxy and metrics handlers sharing one store."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.proxy = Proxy(store)
        self.metrics = MetricsApi(store, self._measured)
        self._controllers: Any = None

    def attach(self, controllers: Any) -> None:
        """Use these controllers' measurements (None: simulated figures only)."""
        self._controllers = controllers

    def _measured(self) -> Usage:
        if self._controllers is None:
            return {}
        try:
            local = self._controllers.get("kubelet").local
        except KeyError:
            return {}
        return local.usage if local is not None else {}

    async def handle(
        self, request: web.Request, user: User, group: str, version: str, rest: list[str]
    ) -> web.StreamResponse | None:
        """Answer the request if it is a proxy or metrics path; else return None."""
        if group == visibility.GROUP and version in visibility.VERSIONS:
            return self._visibility(request, user, version, rest)
        if group == GROUP and version == "v1beta1":
            self._authorize(user, _metrics_attributes(rest))
            doc = self.metrics.answer(request.method, rest, request.query.get("labelSelector"))
            return web.Response(body=orjson.dumps(doc), content_type="application/json")
        if group or version != "v1":
            return None
        found = match(rest)
        if found is None:
            return None
        kind, namespace, target, path = found
        verb = _VERBS.get(request.method, "get")
        # RBAC names the object without its scheme and port ("web" of "https:web:8443").
        _scheme, name, _port = parse_target(target)
        self._authorize(user, Attributes(verb, "", kind, "proxy", name, namespace))
        return await self.proxy.handle(request, kind, namespace, target, path)

    def _visibility(
        self, request: web.Request, user: User, version: str, rest: list[str]
    ) -> web.Response:
        """Answer Kueue's visibility API (503 while no Kueue controller runs, as an
        aggregated API whose server is down)."""
        if visibility.GROUP not in self.store.resources.groups():
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        namespace, resource, name = visibility.attributes(rest)
        sub = rest[-1] if rest and rest[-1] == "pendingworkloads" else ""
        self._authorize(user, Attributes("get", visibility.GROUP, resource, sub, name, namespace))
        try:
            ctrl = self._controllers.get("kueue-controller") if self._controllers else None
        except KeyError:
            ctrl = None
        if ctrl is None:
            raise ApiError(
                503,
                "ServiceUnavailable",
                "the server is currently unable to handle the request",
            )
        doc = visibility.answer(ctrl, request.method, version, rest, request.query)
        return web.Response(body=orjson.dumps(doc), content_type="application/json")

    def _authorize(self, user: User, attrs: Attributes) -> None:
        if not authorize(self.store, user, attrs)[0]:
            raise forbidden(
                user,
                attrs.verb,
                attrs.resource,
                attrs.group,
                attrs.namespace or None,
                attrs.name or None,
                attrs.subresource or None,
            )

    async def close(self) -> None:
        """Close the proxy's client session."""
        await self.proxy.close()
