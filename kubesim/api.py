"""The aiohttp application serving the Kubernetes REST API from a ``Store``."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import yaml
from aiohttp import web
from multidict import CIMultiDict

from kubesim import discovery, protobuf, reviews, versions
from kubesim.auth import Authenticator, User, forbidden
from kubesim.errors import ApiError, bad_request
from kubesim.faults import Faults
from kubesim.openapi import OpenApi
from kubesim.openapi.validate import directive
from kubesim.patch import APPLY, apply_patch
from kubesim.podlogs import serve_log
from kubesim.rbac import Attributes, authorize
from kubesim.resources import VIRTUAL, ResourceType
from kubesim.routes import ExtraRoutes
from kubesim.scale import scale_of, update_scale
from kubesim.selectors import parse_field_selector, parse_label_selector
from kubesim.store import Store
from kubesim.streams import PodStreams
from kubesim.tables import to_table, wants_table
from kubesim.watch import WatchHub, encode_event, pump

log = logging.getLogger(__name__)

JSON = "application/json"
_OPEN_PATHS = ("/healthz", "/readyz", "/livez")
_NOT_FOUND = "the server could not find the requested resource"
USER_KEY = web.RequestKey("user", User)
# Subresources that connect to a pod or mint a token: authorized as "create", as on a cluster.
_ACTIONS = ("exec", "attach", "portforward", "token")
# Fault actions ending every open watch with an ERROR event, as the API server ends one
# whose etcd revision was compacted away (410) or that failed on its side (500).
_WATCH_ERRORS = {
    "expire_watches": (
        "expired_watches",
        ApiError(410, "Expired", "The resourceVersion for the provided watch is too old."),
    ),
    "fail_watches": (
        "failed_watches",
        ApiError(
            500,
            "InternalError",
            'an error on the server ("injected fault") has prevented the request from succeeding',
        ),
    ),
}


def json_response(body: Any, status: int = 200, headers: dict | None = None) -> web.Response:
    """Return an ``application/json`` response with ``body`` encoded by orjson."""
    return web.Response(body=orjson.dumps(body), status=status, content_type=JSON, headers=headers)


def error_response(err: ApiError, headers: dict | None = None) -> web.Response:
    """Return the Status response for ``err``."""
    return json_response(err.status(), err.code, headers)


def _flag(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true", "yes", "")


def _method_not_allowed() -> ApiError:
    return ApiError(
        405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
    )


def request_verb(method: str, query: Any, name: str | None) -> str:
    """Return the Kubernetes verb of a request (``list``, ``watch``, ``create``, ...)."""
    if name is None:
        table = {
            "GET": "watch" if "watch" in query and _flag(query.get("watch")) else "list",
            "POST": "create",
            "DELETE": "deletecollection",
        }
    else:
        table = {"GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
    verb = table.get(method)
    if verb is None:
        raise _method_not_allowed()
    return verb


class ApiServer:
    """Request handling: authentication, faults, routing and the REST verbs.

    ``bookmark_interval`` is the seconds between watch bookmarks; ``watch_queue`` bounds
    each watcher's buffer before it is closed for falling behind.
    """

    def __init__(
        self,
        store: Store,
        auth: Authenticator,
        faults: Faults,
        *,
        bookmark_interval: float = 1.0,
        watch_queue: int = 10_000,
        address: str = "127.0.0.1:0",
    ) -> None:
        self.store = store
        self.auth = auth
        self.faults = faults
        self.hub = WatchHub(store, watch_queue)
        self.streams = PodStreams(store)
        self.openapi = OpenApi(store)
        self.bookmark_interval = bookmark_interval
        self.address = address
        self.requests: Counter[str] = Counter()
        self._streams: set[web.StreamResponse] = set()
        self.routes = ExtraRoutes(store)
        faults.bind(self.hub.drop_all, store.compact)

    # ----------------------------------------------------------------- app
    def make_app(self) -> web.Application:
        """Return the aiohttp application (one catch-all route, with middlewares)."""
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 2**20)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        return app

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        path = request.path
        if path in _OPEN_PATHS or path.startswith(tuple(p + "/" for p in _OPEN_PATHS)):
            return web.Response(text="ok", content_type="text/plain")
        try:
            user = self.auth.authenticate(request.headers.get("Authorization"))
            sa = user.service_account
            if sa and self.store.peek("serviceaccounts", sa[1], namespace=sa[0]) is None:
                raise ApiError(401, "Unauthorized", "Unauthorized")
            request[USER_KEY] = user
        except ApiError as err:
            return error_response(err)
        self.requests[request.method] += 1
        if not path.startswith("/kubesim/"):
            if self.faults.latency_ms > 0:
                await asyncio.sleep(self.faults.latency_ms / 1000)
            is_watch = _flag(request.query.get("watch")) if "watch" in request.query else False
            if not is_watch and self.faults.should_fail():
                self.requests["injected_errors"] += 1
                code = self.faults.error_code
                if code == 429:
                    err = ApiError(
                        429,
                        "TooManyRequests",
                        "injected fault: too many requests",
                        {"retryAfterSeconds": 1},
                    )
                    return error_response(err, {"Retry-After": "1"})
                return error_response(
                    ApiError(code, "InternalError", "injected fault: internal error")
                )
        try:
            return await handler(request)
        except ApiError as err:
            return error_response(err)
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception as exc:  # report, never crash the server
            log.exception("internal error on %s %s", request.method, path)
            return error_response(ApiError(500, "InternalError", f"internal error: {exc}"))

    # ----------------------------------------------------------------- routing
    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        parts = [p for p in request.path.split("/") if p]
        if not parts:
            return json_response(
                {"paths": ["/api", "/api/v1", "/apis", "/version", "/healthz", "/kubesim/stats"]}
            )
        head = parts[0]
        if head == "version":
            return json_response(discovery.version_info())
        if head == "kubesim":
            return await self._debug(request, parts[1:])
        if head == "openapi":
            return self._openapi(parts[1:])
        if head == "api":
            if len(parts) == 1:
                return json_response(discovery.api_versions(self.address))
            group, version, rest = "", parts[1], parts[2:]
        elif head == "apis":
            if len(parts) == 1:
                return json_response(discovery.api_group_list(self.store.resources))
            if len(parts) == 2:
                doc = discovery.api_group(self.store.resources, parts[1])
                if doc is None:
                    raise ApiError(404, "NotFound", _NOT_FOUND)
                return json_response(doc)
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "NotFound", _NOT_FOUND)
        if not rest:
            doc = discovery.resource_list(self.store.resources, group, version)
            if doc is None:
                raise ApiError(404, "NotFound", _NOT_FOUND)
            return json_response(doc)
        routed = await self.routes.handle(request, request[USER_KEY], group, version, rest)
        if routed is not None:
            return routed
        return await self._resource(request, group, version, rest)

    def _resolve(
        self, group: str, version: str, rest: list[str]
    ) -> tuple[ResourceType, str | None, str | None, str | None]:
        """Return (type, namespace, name, subresource) for the path after the version."""
        reg = self.store.resources
        ns: str | None = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            inner = reg.lookup(group, version, rest[2])
            if inner is not None and inner.namespaced:
                ns, rest = rest[1], rest[2:]
        rt = reg.lookup(group, version, rest[0])
        if rt is None or len(rest) > 3:
            raise ApiError(404, "NotFound", _NOT_FOUND)
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if sub is not None and sub not in rt.subresources:
            raise ApiError(404, "NotFound", _NOT_FOUND)
        if rt.namespaced and name is not None and ns is None:
            raise ApiError(404, "NotFound", _NOT_FOUND)
        return rt, ns, name, sub

    async def _resource(
        self, request: web.Request, group: str, version: str, rest: list[str]
    ) -> web.StreamResponse:
        rt, ns, name, sub = self._resolve(group, version, rest)
        user: User = request[USER_KEY]
        if sub in _ACTIONS:
            verb = "create"
        elif rt.key in VIRTUAL:
            if request.method != "POST" or name:
                raise _method_not_allowed()
            verb = "create"
        else:
            verb = request_verb(request.method, request.query, name)
        attrs = Attributes(verb, rt.group, rt.plural, sub or "", name or "", ns or "")
        if not authorize(self.store, user, attrs)[0]:
            raise forbidden(user, verb, rt.plural, rt.group, ns, name, sub)
        if rt.key in VIRTUAL:
            return await self._review(request, rt, user)
        if sub in _ACTIONS:
            return await self._action(request, rt, ns or "default", name or "", sub or "")
        if name is None:
            return await self._collection(request, verb, rt, ns, version)
        handler = {
            "get": self._get,
            "update": self._put,
            "patch": self._patch,
            "delete": self._delete,
        }[verb]
        return await handler(request, rt, ns, name, sub, version)

    async def _collection(
        self, request: web.Request, verb: str, rt: ResourceType, ns: str | None, version: str
    ) -> web.StreamResponse:
        if verb == "watch":
            return await self._watch(request, rt, ns, version)
        if verb == "list":
            return self._list(request, rt, ns, version)
        store = self.store
        if verb == "create":
            body = await self._object_body(request)
            warned = self._validate(request, rt, version, body)
            body = versions.to_storage(store.resources, body, rt, version)
            obj = store.create(rt.key, body, namespace=ns)
            return json_response(self._render(obj, rt, version), 201, warned)
        q = request.query
        deleted = store.delete_collection(
            rt.key,
            namespace=ns,
            label_selector=q.get("labelSelector"),
            field_selector=q.get("fieldSelector"),
        )
        return json_response(
            {
                "kind": f"{rt.kind}List",
                "apiVersion": rt.api_version,
                "metadata": {"resourceVersion": str(store.resource_version)},
                "items": deleted,
            }
        )

    async def _get(
        self,
        request: web.Request,
        rt: ResourceType,
        ns: str | None,
        name: str,
        sub: str | None,
        version: str,
    ) -> web.StreamResponse:
        store = self.store
        if sub == "log":
            return await serve_log(request, store, ns or "default", name)
        if sub == "scale":
            return json_response(scale_of(store.get(rt.key, name, namespace=ns), rt))
        obj = store.peek(rt.key, name, namespace=ns)
        if obj is None:
            store.get(rt.key, name, namespace=ns)  # raises the right 404
        if sub is None and wants_table(request.headers.get("Accept", "")):
            meta = {"resourceVersion": str(store.resource_version)}
            return json_response(to_table(rt, [obj], meta))
        return json_response(self._render(obj, rt, version))

    async def _put(
        self,
        request: web.Request,
        rt: ResourceType,
        ns: str | None,
        name: str,
        sub: str | None,
        version: str,
    ) -> web.StreamResponse:
        body = await self._object_body(request)
        if sub == "scale":
            return json_response(update_scale(self.store, rt, name, ns, body, None))
        body_name = (body.get("metadata") or {}).get("name")
        if body_name and body_name != name:
            raise bad_request(
                f"the name of the object ({body_name}) does not match the name on the URL ({name})"
            )
        body.setdefault("metadata", {})["name"] = name
        warned = self._validate(request, rt, version, body)
        body = versions.to_storage(self.store.resources, body, rt, version)
        obj = self.store.update(rt.key, body, namespace=ns, subresource=sub)
        return json_response(self._render(obj, rt, version), headers=warned)

    async def _patch(
        self,
        request: web.Request,
        rt: ResourceType,
        ns: str | None,
        name: str,
        sub: str | None,
        version: str,
    ) -> web.StreamResponse:
        ctype = request.headers.get("Content-Type", "application/merge-patch+json")
        body = await self._body(request)
        if sub == "scale":
            return json_response(update_scale(self.store, rt, name, ns, body, ctype))
        current = self.store.peek(rt.key, name, namespace=ns)
        warned = None
        if current is not None:
            patched = apply_patch(self._render(current, rt, version), body, ctype)
            warned = self._validate(request, rt, version, patched, patch=True)
            if versions.converted(self.store.resources, rt, version):
                obj = versions.patch_converted(
                    self.store, rt, name, ns, patched, ctype, version, sub
                )
                return json_response(self._render(obj, rt, version), 200, warned)
        elif ctype.startswith(APPLY):
            warned = self._validate(request, rt, version, body)
            body = versions.to_storage(self.store.resources, body, rt, version)
        obj = self.store.patch(rt.key, name, body, namespace=ns, patch_type=ctype, subresource=sub)
        code = 201 if ctype.startswith(APPLY) and current is None else 200
        return json_response(self._render(obj, rt, version), code, warned)

    async def _delete(
        self,
        request: web.Request,
        rt: ResourceType,
        ns: str | None,
        name: str,
        sub: str | None,
        version: str,
    ) -> web.StreamResponse:
        body = await self._body(request, allow_empty=True) or {}
        opts = body if isinstance(body, dict) else {}
        propagation = request.query.get("propagationPolicy") or opts.get("propagationPolicy")
        if not propagation and opts.get("orphanDependents"):
            propagation = "Orphan"
        obj = self.store.delete(rt.key, name, namespace=ns, propagation=propagation or "Background")
        return json_response(self._render(obj, rt, version))

    def _validate(
        self, request: web.Request, rt: ResourceType, version: str, obj: Any, *, patch=False
    ) -> CIMultiDict | None:
        """Check ``obj``'s fields as ``fieldValidation`` asks; return Warning headers, if any."""
        mode = directive(request.query.get("fieldValidation"))
        found = self.openapi.check(rt, version, obj, mode, patch=patch)
        return CIMultiDict(("Warning", w) for w in found) if found else None

    async def _object_body(self, request: web.Request) -> dict:
        body = await self._body(request)
        if not isinstance(body, dict):
            raise bad_request("the request body must be an object")
        return body

    @staticmethod
    async def _body(request: web.Request, allow_empty: bool = False) -> Any:
        raw = await request.read()
        if not raw.strip():
            if allow_empty:
                return None
            raise bad_request("the request body is empty")
        ctype = request.headers.get("Content-Type", "")
        if protobuf.is_protobuf(ctype):
            return protobuf.decode(raw)
        try:
            if "yaml" in ctype:
                return yaml.safe_load(raw)
            return orjson.loads(raw)
        except (orjson.JSONDecodeError, yaml.YAMLError) as exc:
            raise bad_request(f"the body of the request could not be decoded: {exc}") from exc

    def _render(self, obj: dict, rt: ResourceType, version: str) -> dict:
        """Return ``obj`` as served at ``version`` (CRDs may serve several versions)."""
        return versions.render(self.store.resources, obj, rt, version)

    # ----------------------------------------------------------------- list & watch
    def _list(
        self, request: web.Request, rt: ResourceType, ns: str | None, version: str
    ) -> web.Response:
        q = request.query
        rv = q.get("resourceVersion")
        if rv and q.get("resourceVersionMatch") == "Exact":
            try:
                want = int(rv)
            except ValueError as exc:
                raise bad_request(f"invalid resourceVersion {rv!r}") from exc
            if want < self.store.history_floor or want != self.store.resource_version:
                # Only the latest state is kept; older exact reads are reported as expired.
                raise ApiError(
                    410, "Expired", f"too old resource version: {want} ({self.store.history_floor})"
                )
        try:
            limit = int(q.get("limit") or 0)
        except ValueError as exc:
            raise bad_request("limit must be an integer") from exc
        items, list_rv, token, remaining = self.store.list_page(
            rt.key,
            namespace=ns,
            label_selector=q.get("labelSelector"),
            field_selector=q.get("fieldSelector"),
            limit=max(limit, 0),
            continue_token=q.get("continue"),
        )
        if version != rt.version:
            items = [self._render(o, rt, version) for o in items]
        meta: dict[str, Any] = {"resourceVersion": str(list_rv)}
        if token:
            meta["continue"] = token
            if remaining is not None:
                meta["remainingItemCount"] = remaining
        if wants_table(request.headers.get("Accept", "")):
            return json_response(to_table(rt, items, meta))
        api_version = (
            rt.api_version
            if version == rt.version
            else (f"{rt.group}/{version}" if rt.group else version)
        )
        body = {
            "kind": f"{rt.kind}List",
            "apiVersion": api_version,
            "metadata": meta,
            "items": items,
        }
        return json_response(body)

    async def _watch(
        self, request: web.Request, rt: ResourceType, ns: str | None, version: str = ""
    ) -> web.StreamResponse:
        q = request.query
        lreqs = parse_label_selector(q.get("labelSelector"))
        freqs = parse_field_selector(q.get("fieldSelector"), rt.key, rt.kind)
        rv = q.get("resourceVersion")
        try:
            since = None if rv in (None, "", "0") else int(rv)
        except ValueError as exc:
            raise bad_request(f"invalid resourceVersion {rv!r}") from exc
        timeout = float(q["timeoutSeconds"]) if q.get("timeoutSeconds") else None
        resp = web.StreamResponse(headers={"Content-Type": JSON, "Transfer-Encoding": "chunked"})
        resp.enable_chunked_encoding()
        try:
            watcher = self.hub.open(rt, ns, lreqs, freqs, since)
        except ApiError as err:
            if err.code != 410:
                raise
            await resp.prepare(request)
            await resp.write(encode_event("ERROR", err.status()))
            await resp.write_eof()
            return resp
        self._streams.add(resp)
        try:
            await resp.prepare(request)
            bookmarks = self.bookmark_interval if _flag(q.get("allowWatchBookmarks")) else None
            after = self.faults.drop_watch_after or None
            await pump(
                watcher,
                resp.write,
                current_rv=lambda: self.store.resource_version,
                timeout=timeout,
                bookmark_interval=bookmarks,
                max_events=after,
                render=(
                    (lambda obj: self._render(obj, rt, version))
                    if version and version != rt.version
                    else None
                ),
            )
            await resp.write_eof()
        except (ConnectionResetError, ConnectionError):
            pass
        finally:
            self.hub.release(watcher)
            self._streams.discard(resp)
        return resp

    def _openapi(self, parts: list[str]) -> web.Response:
        if parts[:1] == ["v3"]:
            if len(parts) == 1:
                return json_response(self.openapi.index())
            if parts[1] == "api" and len(parts) == 3:
                doc = self.openapi.document("", parts[2])
            elif parts[1] == "apis" and len(parts) == 4:
                doc = self.openapi.document(parts[2], parts[3])
            else:
                doc = None
            if doc is not None:
                return json_response(doc)
        raise ApiError(404, "NotFound", _NOT_FOUND)

    # ----------------------------------------------------------------- misc endpoints
    async def _review(self, request: web.Request, rt: ResourceType, user: User) -> web.Response:
        body = await self._object_body(request)
        if rt.plural == "selfsubjectaccessreviews":
            return json_response(reviews.access_review(self.store, user, body), 201)
        return json_response(reviews.rules_review(self.store, user, body), 201)

    async def _action(
        self, request: web.Request, rt: ResourceType, ns: str, name: str, sub: str
    ) -> web.StreamResponse:
        """Answer the connect-style subresources: token requests, exec, attach, port-forward."""
        if sub == "token":
            if request.method != "POST":
                raise _method_not_allowed()
            body = await self._body(request, allow_empty=True) or {}
            return json_response(reviews.token_request(self.store, self.auth, ns, name, body), 201)
        return await self.streams.serve(request, ns, name, sub)

    async def _debug(self, request: web.Request, parts: list[str]) -> web.Response:
        what = parts[0] if parts else ""
        if what == "stats" and request.method == "GET":
            return json_response(self.stats())
        if what == "faults":
            if request.method == "GET":
                return json_response(self.faults.as_dict())
            if request.method in ("POST", "PUT", "PATCH"):
                user: User = request[USER_KEY]
                if not user.admin:
                    raise forbidden(user, "update", "faults", "kubesim", None)
                body = await self._body(request, allow_empty=True) or {}
                if not isinstance(body, dict):
                    raise bad_request("expected a JSON object")
                actions = {}
                if body.pop("reset", False):
                    self.faults.reset()
                if body.pop("drop_watches", False):
                    actions["dropped_watches"] = self.faults.drop_watches()
                for action, (done, error) in _WATCH_ERRORS.items():
                    if body.pop(action, False):
                        actions[done] = self.hub.drop_all(error.status())
                if body.pop("compact", False):
                    self.faults.compact()
                    actions["compacted"] = True
                try:
                    self.faults.update(body)
                except ValueError as exc:
                    raise bad_request(str(exc)) from exc
                return json_response({**self.faults.as_dict(), **actions})
        raise ApiError(404, "NotFound", _NOT_FOUND)

    def stats(self) -> dict:
        """Return counters: objects per resource, open watches, requests by method."""
        return {
            "objects": self.store.counts(),
            "watchers": self.hub.count(),
            "requests": dict(self.requests),
            "resourceVersion": self.store.resource_version,
            "historyFloor": self.store.history_floor,
            "historySize": len(self.store.history),
        }

    def close_streams(self) -> None:
        """End every open watch so shutdown does not wait for clients."""
        self.hub.drop_all()
