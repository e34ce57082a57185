"""The object store: Kubernetes semantics for create/get/list/update/patch/delete.

The store is synchronous and must only be used on the event-loop thread that serves the API,
so it needs no locks. Stored objects are immutable snapshots: every change builds a new dict
and replaces the old one, so snapshots handed to watchers and listeners never change under
them. Public methods return copies that callers may mutate freely (``list(copy=False)`` skips
that for read-only callers).
"""

from __future__ import annotations

import logging
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from kubesim import crd
from kubesim.errors import ApiError, bad_request, not_found
from kubesim.logs import LogBook
from kubesim.objects import clone, now_rfc3339, sort_key, spec_of
from kubesim.patch import APPLY, apply_patch
from kubesim.quota import QuotaTracker
from kubesim.resources import ResourceRegistry, ResourceType
from kubesim.runtime import Runtimes
from kubesim.selectors import fields_match, labels_match, parse_field_selector, parse_label_selector
from kubesim.store.names import already_exists, conflict, generate_name, validate_name
from kubesim.store.table import Table, decode_continue

log = logging.getLogger(__name__)

INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
CRDS = "customresourcedefinitions.apiextensions.k8s.io"
# Identity and server-managed fields clients cannot change with an update.
_SERVER_META = (
    "name",
    "uid",
    "creationTimestamp",
    "generation",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)

Listener = Callable[[str, str, dict], None]
# An admission webhook: hook(obj, old, namespace) may change ``obj`` (a private copy of a
# new object, or of a main-resource update of ``old``) or raise an ApiError to refuse it.
Mutator = Callable[[dict, dict | None, str], None]


@dataclass(slots=True, frozen=True)
class WatchEvent:
    """One change: ``obj`` is the new snapshot (for DELETED the last one), ``old`` the prior."""

    rv: int
    type: str
    resource: str
    obj: dict
    old: dict | None


class Store:
    """In-memory Kubernetes object store with resourceVersions, history, GC and admission."""

    def __init__(self, *, history_size: int = 10_000) -> None:
        self.resources = ResourceRegistry()
        self.logs = LogBook()
        self.runtimes = Runtimes()
        self.quota = QuotaTracker()
        self._table = Table()
        self._rv = 0
        self.history: deque[WatchEvent] = deque(maxlen=history_size)
        # Every event with rv > _floor is still in history; older resume points get 410.
        self._floor = 0
        self._listeners: list[Listener] = []
        self._sinks: list[Callable[[WatchEvent], None]] = []
        self._mutators: dict[str, list[Mutator]] = {}
        for ns in INITIAL_NAMESPACES:
            self.create("namespaces", {"metadata": {"name": ns}})

    # ----------------------------------------------------------------- helpers
    @property
    def resource_version(self) -> int:
        """Return the latest resourceVersion handed out."""
        return self._rv

    @property
    def history_floor(self) -> int:
        """Return the oldest resourceVersion a watch may resume from without a 410."""
        return self._floor

    def type_of(self, resource: str) -> ResourceType:
        """Return the registered type for a store key; raise 404 if it is unknown."""
        rt = self.resources.get(resource)
        if rt is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return rt

    def _ns_key(self, rt: ResourceType, namespace: str | None) -> str:
        if not rt.namespaced:
            return ""
        return namespace or "default"

    def peek(self, resource: str, name: str, *, namespace: str | None = None) -> dict | None:
        """Return the stored snapshot (read-only, never mutate it) or None if absent."""
        rt = self.resources.get(resource)
        if rt is None:
            return None
        return self._table.get(resource, self._ns_key(rt, namespace), name)

    def count(self, resource: str) -> int:
        """Return how many objects of ``resource`` are stored."""
        return self._table.count(resource)

    def counts(self) -> dict[str, int]:
        """Return {resource: object count} for every resource that has objects."""
        return {r: n for r in self._table.resources() if (n := self.count(r))}

    def namespace_exists(self, namespace: str) -> bool:
        """Return whether a namespace object with this name exists."""
        return self._table.get("namespaces", "", namespace) is not None

    # ----------------------------------------------------------------- events
    def add_listener(self, fn: Listener) -> None:
        """Call ``fn(event_type, resource, obj)`` synchronously after every change.

        ``obj`` is the stored snapshot: listeners must not mutate it (copy first).
        """
        self._listeners.append(fn)

    def remove_listener(self, fn: Listener) -> None:
        """Stop calling ``fn``; unknown listeners are ignored."""
        if fn in self._listeners:
            self._listeners.remove(fn)

    def add_mutator(self, resource: str, fn: Mutator) -> None:
        """Call ``fn`` on every create and main-resource update of ``resource`` before
        it is stored, as an admission webhook is called (see ``Mutator``)."""
        self._mutators.setdefault(resource, []).append(fn)

    def remove_mutator(self, resource: str, fn: Mutator) -> None:
        """Stop calling ``fn`` on creates of ``resource``; unknown ones are ignored."""
        fns = self._mutators.get(resource, [])
        if fn in fns:
            fns.remove(fn)

    def add_sink(self, fn: Callable[[WatchEvent], None]) -> None:
        """Receive every ``WatchEvent`` (with the prior object), before listeners run."""
        self._sinks.append(fn)

    def remove_sink(self, fn: Callable[[WatchEvent], None]) -> None:
        """Stop delivering events to ``fn``."""
        if fn in self._sinks:
            self._sinks.remove(fn)

    def _next_rv(self) -> int:
        self._rv += 1
        return self._rv

    def _emit(self, etype: str, rt: ResourceType, obj: dict, old: dict | None, rv: int) -> None:
        if len(self.history) == self.history.maxlen and self.history:
            self._floor = self.history[0].rv
        event = WatchEvent(rv, etype, rt.key, obj, old)
        self.history.append(event)
        for sink in list(self._sinks):
            sink(event)
        for fn in list(self._listeners):
            try:
                fn(etype, rt.key, obj)
            except Exception:  # a broken controller must not break the API
                log.exception("store listener %r failed on %s %s", fn, etype, rt.key)

    def events_since(self, rv: int) -> list[WatchEvent]:
        """Return the events after ``rv``; raise 410 Expired if some were already dropped."""
        if rv < self._floor:
            raise ApiError(410, "Expired", f"too old resource version: {rv} ({self._floor})")
        if not self.history or rv >= self._rv:
            return []
        first = self.history[0].rv
        start = max(0, rv + 1 - first)
        # rvs are dense in history unless something was dropped; fall back to a scan then.
        items = list(self.history)
        if start < len(items) and items[start].rv == rv + 1:
            return items[start:]
        return [e for e in items if e.rv > rv]

    def compact(self) -> None:
        """Forget all history so every older resourceVersion now gets 410 Gone."""
        self.history.clear()
        self._floor = self._rv

    # ----------------------------------------------------------------- create
    def _place(self, rt: ResourceType, meta: dict, namespace: str | None) -> str:
        """Return the namespace key a new object goes to (checking it exists)."""
        if not rt.namespaced:
            meta.pop("namespace", None)
            return ""
        body_ns = meta.get("namespace")
        if namespace and body_ns and body_ns != namespace:
            raise bad_request(
                "the namespace of the provided object does not match the "
                "namespace sent on the request"
            )
        ns = namespace or body_ns or "default"
        if not self.namespace_exists(ns):
            raise not_found("namespaces", ns)
        meta["namespace"] = ns
        return ns

    def create(self, resource: str, obj: dict, *, namespace: str | None = None) -> dict:
        """Store a new object and return a copy of it as stored (uid, rv, timestamps set).

        Raises 404 if the namespace does not exist, 409 AlreadyExists, 422 Invalid for bad
        names, 403 Forbidden when a ResourceQuota refuses a pod.
        """
        rt = self.type_of(resource)
        obj = clone(obj)
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            meta = obj["metadata"] = {}
        ns = self._place(rt, meta, namespace)
        bucket = self._table.bucket(rt.key, ns)
        name = meta.get("name") or ""
        if not name and meta.get("generateName"):
            name = generate_name(meta["generateName"], bucket)
        validate_name(rt, name)
        if name in bucket:
            raise already_exists(rt, name)
        meta["name"] = name
        for mutate in self._mutators.get(rt.key, ()):
            mutate(obj, None, ns)
        self._admit_create(rt, obj, name, ns)
        rv = self._next_rv()
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339()
        meta["resourceVersion"] = str(rv)
        meta["generation"] = 1
        for drop in ("deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
            meta.pop(drop, None)
        obj["kind"] = rt.kind
        obj["apiVersion"] = rt.api_version
        self._table.put(rt, ns, name, None, obj)
        self._emit("ADDED", rt, obj, None, rv)
        self._after_change(rt, ns, None, obj)
        return clone(obj)

    def _admit_create(self, rt: ResourceType, obj: dict, name: str, ns: str) -> None:
        """Apply defaults and admission checks that Kubernetes performs on create."""
        if rt.key == "pods":
            spec = obj.setdefault("spec", {})
            for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
                res = c.get("resources")
                # Requests default to limits when only limits are given.
                if isinstance(res, dict) and res.get("limits"):
                    reqs = res.setdefault("requests", {})
                    for k, v in res["limits"].items():
                        reqs.setdefault(k, v)
            obj.setdefault("status", {}).setdefault("phase", "Pending")
            obj["metadata"]["namespace"] = ns
            self.quota.admit(name, obj, self._table.in_namespace("resourcequotas", ns))
        elif rt.key == "namespaces":
            obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
            obj.setdefault("status", {})["phase"] = "Active"
            labels = obj["metadata"].setdefault("labels", {})
            labels["kubernetes.io/metadata.name"] = name
        elif rt.key == "resourcequotas":
            obj["metadata"]["namespace"] = ns
            obj["status"] = self.quota.status_for(obj)
        elif rt.key == CRDS:
            crd.admit_crd(self.resources, obj)

    def _after_change(self, rt: ResourceType, ns: str, old: dict | None, new: dict | None) -> None:
        """Keep derived state (quota usage, CRD endpoints, logs) in step with a change."""
        if rt.key == "pods":
            if self.quota.on_pod_change(ns, old, new):
                self._refresh_quotas(ns)
            if new is None and old is not None:
                self.logs.drop(ns, old["metadata"]["name"])
        elif rt.key == CRDS:
            crd.sync_crd(self.resources, self.drop_resource, old, new)

    def _refresh_quotas(self, ns: str) -> None:
        for quota in self._table.in_namespace("resourcequotas", ns):
            status = self.quota.status_for(quota)
            if status != quota.get("status"):
                self._replace(self.type_of("resourcequotas"), quota, {**quota, "status": status})

    # ----------------------------------------------------------------- read
    def get(self, resource: str, name: str, *, namespace: str | None = None) -> dict:
        """Return a copy of the object; raise 404 NotFound (``pods "x" not found``)."""
        rt = self.type_of(resource)
        return clone(self._table.find(rt, self._ns_key(rt, namespace), name))

    def select(
        self,
        resource: str,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> Iterator[dict]:
        """Yield matching stored snapshots (read-only) in no particular order."""
        rt = self.type_of(resource)
        lreqs = parse_label_selector(label_selector)
        freqs = parse_field_selector(field_selector, rt.key, rt.kind)
        for obj in self._table.candidates(rt, namespace, lreqs):
            if lreqs and not labels_match(lreqs, obj):
                continue
            if freqs and not fields_match(freqs, obj):
                continue
            yield obj

    def list(
        self,
        resource: str,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        copy: bool = True,
    ) -> tuple[list[dict], int]:
        """Return (matching objects sorted by namespace/name, current resourceVersion).

        With ``copy=False`` the stored snapshots are returned; they must not be mutated.
        """
        items = list(
            self.select(
                resource,
                namespace=namespace,
                label_selector=label_selector,
                field_selector=field_selector,
            )
        )
        items.sort(key=sort_key)
        if copy:
            items = clone(items)
        return items, self._rv

    def list_page(
        self,
        resource: str,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int = 0,
        continue_token: str | None = None,
    ) -> tuple[list[dict], int, str | None, int | None]:
        """Return one page: (snapshots, list rv, continue token or None, remaining count).

        Pages walk objects in (namespace, name) order from the key after the token's last
        item, so unchanged objects are never duplicated or skipped. A token older than the
        history window (or malformed) raises 410 Expired.
        """
        rt = self.type_of(resource)
        start: tuple[str, str] | None = None
        list_rv = self._rv
        if continue_token:
            list_rv, start = decode_continue(continue_token, self._floor)
        page = self._table.page(
            rt,
            namespace,
            parse_label_selector(label_selector),
            parse_field_selector(field_selector, rt.key, rt.kind),
            limit=limit,
            start=start,
            list_rv=list_rv,
        )
        return page.items, page.rv, page.token, page.remaining

    # ----------------------------------------------------------------- update
    def _replace(self, rt: ResourceType, old: dict, new: dict) -> dict:
        """Store ``new`` in place of ``old`` with a fresh rv, index it and emit MODIFIED."""
        meta = old["metadata"]
        ns, name = meta.get("namespace", ""), meta["name"]
        rv = self._next_rv()
        new = {**new, "metadata": {**new["metadata"], "resourceVersion": str(rv)}}
        self._table.put(rt, ns, name, old, new)
        self._emit("MODIFIED", rt, new, old, rv)
        self._after_change(rt, ns, old, new)
        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            self._remove(rt, new, "Background")
        return new

    def update(
        self,
        resource: str,
        obj: dict,
        *,
        namespace: str | None = None,
        subresource: str | None = None,
    ) -> dict:
        """Replace an object (or only its ``status`` with subresource="status"); return a copy.

        A set but stale ``metadata.resourceVersion`` raises 409 Conflict. For resources with
        a status subresource a main update keeps the stored status. An update that changes
        nothing returns the object without bumping its resourceVersion.
        """
        rt = self.type_of(resource)
        meta = obj.get("metadata") or {}
        ns = self._ns_key(rt, namespace or meta.get("namespace"))
        current = self._table.find(rt, ns, meta.get("name") or "")
        return clone(self._update(rt, current, clone(obj), subresource))

    def _update(self, rt: ResourceType, current: dict, obj: dict, subresource: str | None) -> dict:
        cur_meta = current["metadata"]
        want_rv = (obj.get("metadata") or {}).get("resourceVersion")
        if want_rv and str(want_rv) != cur_meta["resourceVersion"]:
            raise conflict(rt, cur_meta["name"])
        if subresource == "status":
            new = {**current}
            if "status" in obj:
                new["status"] = obj["status"]
            else:
                new.pop("status", None)
        elif subresource not in (None, ""):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        else:
            for mutate in self._mutators.get(rt.key, ()):
                mutate(obj, current, cur_meta.get("namespace", ""))
            new = self._updated_main(rt, current, obj)
        new["metadata"] = {**new["metadata"], "resourceVersion": cur_meta["resourceVersion"]}
        if new == current:
            return current
        return self._replace(rt, current, new)

    def _updated_main(self, rt: ResourceType, current: dict, obj: dict) -> dict:
        """Return ``obj`` as a main-resource update of ``current`` stores it."""
        cur_meta = current["metadata"]
        new = dict(obj)
        new_meta = dict(obj.get("metadata") or {})
        for key in _SERVER_META:
            if key in cur_meta:
                new_meta[key] = cur_meta[key]
            else:
                new_meta.pop(key, None)
        if rt.namespaced:
            new_meta["namespace"] = cur_meta["namespace"]
        else:
            new_meta.pop("namespace", None)
        new["metadata"] = new_meta
        if rt.status_subresource or rt.key == "resourcequotas":
            if "status" in current:
                new["status"] = current["status"]
            else:
                new.pop("status", None)
        new["kind"], new["apiVersion"] = rt.kind, rt.api_version
        if rt.key == "resourcequotas":
            new["status"] = self.quota.status_for(new)
        if rt.key == CRDS:
            crd.admit_crd(self.resources, new)
        if spec_of(new) != spec_of(current):
            new_meta["generation"] = int(cur_meta.get("generation") or 1) + 1
        return new

    def patch(
        self,
        resource: str,
        name: str,
        patch: Any,
        *,
        namespace: str | None = None,
        patch_type: str = "application/merge-patch+json",
        subresource: str | None = None,
    ) -> dict:
        """Apply a merge / JSON / strategic / apply patch and return a copy of the result.

        Server-side apply (``application/apply-patch+yaml``) creates the object if missing.
        """
        rt = self.type_of(resource)
        ns = self._ns_key(rt, namespace)
        current = self._table.get(rt.key, ns, name)
        if current is None:
            if patch_type.startswith(APPLY) and isinstance(patch, dict):
                body = dict(patch)
                body["metadata"] = {**(patch.get("metadata") or {}), "name": name}
                return self.create(resource, body, namespace=namespace)
            raise not_found(rt.plural, name, rt.group)
        patched = apply_patch(current, patch, patch_type)
        if not isinstance(patched, dict):
            raise bad_request("the patch did not produce an object")
        patched_meta = patched.get("metadata") or {}
        if patched_meta.get("name", name) != name:
            raise bad_request("the name of the object cannot be changed by a patch")
        patched["metadata"] = {**patched_meta, "name": name}
        if patch_type.startswith(APPLY):
            patched["metadata"].pop("resourceVersion", None)
        return clone(self._update(rt, current, patched, subresource))

    # ----------------------------------------------------------------- delete
    def delete(
        self,
        resource: str,
        name: str,
        *,
        namespace: str | None = None,
        propagation: str = "Background",
    ) -> dict:
        """Delete an object, garbage-collecting dependents; return a copy of its last state.

        Objects with finalizers only get a deletionTimestamp until the finalizers are gone.
        ``Orphan`` strips owner references from dependents instead of deleting them.
        """
        rt = self.type_of(resource)
        current = self._table.find(rt, self._ns_key(rt, namespace), name)
        if propagation not in ("Background", "Foreground", "Orphan"):
            raise bad_request(f"unsupported propagationPolicy {propagation!r}")
        if current["metadata"].get("finalizers"):
            if current["metadata"].get("deletionTimestamp"):
                return clone(current)
            meta = {
                **current["metadata"],
                "deletionTimestamp": now_rfc3339(),
                "deletionGracePeriodSeconds": 0,
            }
            return clone(self._replace(rt, current, {**current, "metadata": meta}))
        return clone(self._remove(rt, current, propagation))

    def _remove(self, rt: ResourceType, current: dict, propagation: str) -> dict:
        meta = current["metadata"]
        ns, name, uid = meta.get("namespace", ""), meta["name"], meta["uid"]
        if self._table.get(rt.key, ns, name) is not current:
            return current  # already removed by a nested garbage collection
        if propagation == "Foreground":
            self._collect_dependents(uid, propagation)
        if rt.key == "namespaces":
            self._empty_namespace(name)
        rv = self._next_rv()
        last = {**current, "metadata": {**meta, "resourceVersion": str(rv)}}
        self._table.pop(rt, ns, name, current)
        self._emit("DELETED", rt, last, current, rv)
        self._after_change(rt, ns, current, None)
        if rt.key == "namespaces":
            self.quota.forget(name)
        self._collect_dependents(uid, propagation)
        return last

    def _collect_dependents(self, uid: str, propagation: str) -> None:
        """Delete (or orphan) every object whose ownerReferences point at ``uid``."""
        for res, ns, name in self._table.dependents(uid):
            rt = self.resources.get(res)
            dep = self._table.get(res, ns, name)
            if rt is None or dep is None:
                continue
            refs = dep["metadata"].get("ownerReferences") or []
            others = [r for r in refs if r.get("uid") != uid]
            if propagation == "Orphan" or any(self._table.uid_exists(r.get("uid")) for r in others):
                meta = {**dep["metadata"], "ownerReferences": others}
                if not others:
                    meta.pop("ownerReferences")
                self._replace(rt, dep, {**dep, "metadata": meta})
            else:
                self._remove(rt, dep, "Foreground" if propagation == "Foreground" else "Background")

    def _empty_namespace(self, namespace: str) -> None:
        """Delete every namespaced object in ``namespace`` (namespace deletion)."""
        for rt in self.resources:
            if rt.namespaced:
                for obj in self._table.in_namespace(rt.key, namespace):
                    self._remove(rt, obj, "Background")

    def delete_collection(
        self,
        resource: str,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[dict]:
        """Delete every matching object; return copies of what was deleted."""
        objs = list(
            self.select(
                resource,
                namespace=namespace,
                label_selector=label_selector,
                field_selector=field_selector,
            )
        )
        out = []
        for obj in objs:
            meta = obj["metadata"]
            try:
                out.append(self.delete(resource, meta["name"], namespace=meta.get("namespace")))
            except ApiError:
                continue
        return out

    def drop_resource(self, resource: str) -> None:
        """Delete every object of ``resource`` (emitting DELETED) and forget its buckets."""
        rt = self.resources.get(resource)
        if rt is None:
            return
        for obj in self._table.all_of(resource):
            self._remove(rt, obj, "Background")
        self._table.forget(resource)
