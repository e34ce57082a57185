"""The object table behind the store: objects by resource, namespace and name, with indexes.

The table holds snapshots and answers queries; it hands out no copies and emits nothing.
Keeping the indexes (labels, owner references, uids, sorted keys) in step with every put and
pop is its one guarantee.
"""

from __future__ import annotations

import base64
import bisect
from collections.abc import Iterable
from dataclasses import dataclass

import orjson

from kubesim.errors import ApiError, not_found
from kubesim.objects import sort_key
from kubesim.resources import ResourceType
from kubesim.selectors import Requirement, equality_terms, fields_match, labels_match

Ref = tuple[str, str, str]  # (resource key, namespace, name)


@dataclass(slots=True)
class Page:
    """One page of a list: snapshots, the list's rv, the continue token, what remains."""

    items: list[dict]
    rv: int
    token: str | None
    remaining: int | None


def _expired(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def decode_continue(token: str, floor: int) -> tuple[int, tuple[str, str]]:
    """Return (list rv, last key) from a continue token; raise 410 if bad or too old."""
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token.encode()))
        list_rv, start = int(data["rv"]), (str(data["ns"]), str(data["name"]))
    except Exception as exc:
        raise _expired(
            "the provided continue parameter is invalid or expired; start a new list without it"
        ) from exc
    if list_rv < floor:
        raise _expired(
            "the provided continue parameter is too old to display a consistent list "
            "result; start a new list"
        )
    return list_rv, start


def encode_continue(list_rv: int, last: dict) -> str:
    """Return the continue token that resumes a list after the object ``last``."""
    meta = last["metadata"]
    body = {"rv": list_rv, "ns": meta.get("namespace", ""), "name": meta["name"]}
    return base64.urlsafe_b64encode(orjson.dumps(body)).decode()


def _owner_uids(obj: dict | None) -> set[str]:
    return {r.get("uid") for r in (obj or {}).get("metadata", {}).get("ownerReferences") or []}


class Table:
    """Stored snapshots keyed ``[resource][namespace][name]`` and the indexes over them."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, dict[str, dict]]] = {}
        self._labels: dict[str, dict[tuple[str, str], set[tuple[str, str]]]] = {}
        self._dependents: dict[str, set[Ref]] = {}
        self._uids: dict[str, Ref] = {}
        self._sorted: dict[str, list[tuple[str, str]] | None] = {}

    # ----------------------------------------------------------------- lookups
    def bucket(self, resource: str, ns: str) -> dict[str, dict]:
        """Return the (created on demand) name → snapshot map of one namespace."""
        return self.objects.setdefault(resource, {}).setdefault(ns, {})

    def get(self, resource: str, ns: str, name: str) -> dict | None:
        """Return the stored snapshot or None."""
        return self.objects.get(resource, {}).get(ns, {}).get(name)

    def find(self, rt: ResourceType, ns: str, name: str) -> dict:
        """Return the stored snapshot; raise 404 NotFound (``pods "x" not found``)."""
        obj = self.get(rt.key, ns, name)
        if obj is None:
            raise not_found(rt.plural, name, rt.group)
        return obj

    def in_namespace(self, resource: str, ns: str) -> list[dict]:
        """Return the snapshots of ``resource`` in one namespace."""
        return list(self.objects.get(resource, {}).get(ns, {}).values())

    def all_of(self, resource: str) -> list[dict]:
        """Return every snapshot of ``resource``."""
        return [o for b in self.objects.get(resource, {}).values() for o in b.values()]

    def count(self, resource: str) -> int:
        """Return how many objects of ``resource`` are stored."""
        return sum(len(b) for b in self.objects.get(resource, {}).values())

    def resources(self) -> list[str]:
        """Return the resource keys that have (or had) buckets."""
        return list(self.objects)

    def dependents(self, uid: str) -> list[Ref]:
        """Return, sorted, the objects whose ownerReferences name ``uid``."""
        return sorted(self._dependents.get(uid, ()))

    def uid_exists(self, uid: str | None) -> bool:
        """Return whether an object with this uid is stored."""
        return uid in self._uids

    # ----------------------------------------------------------------- changes
    def put(self, rt: ResourceType, ns: str, name: str, old: dict | None, new: dict) -> None:
        """Store ``new`` (replacing ``old``, the current snapshot or None) and index it."""
        self.bucket(rt.key, ns)[name] = new
        self._index(rt, ns, name, old, new)

    def pop(self, rt: ResourceType, ns: str, name: str, old: dict) -> None:
        """Remove the snapshot ``old`` and its index entries."""
        self.objects[rt.key][ns].pop(name, None)
        self._index(rt, ns, name, old, None)

    def forget(self, resource: str) -> None:
        """Drop the (emptied) buckets and indexes of ``resource``."""
        self.objects.pop(resource, None)
        self._labels.pop(resource, None)
        self._sorted.pop(resource, None)

    def _index(
        self, rt: ResourceType, ns: str, name: str, old: dict | None, new: dict | None
    ) -> None:
        key = (ns, name)
        idx = self._labels.setdefault(rt.key, {})
        old_labels = (old or {}).get("metadata", {}).get("labels") or {}
        new_labels = (new or {}).get("metadata", {}).get("labels") or {}
        if old_labels != new_labels:
            for kv in old_labels.items():
                s = idx.get(kv)
                if s is not None:
                    s.discard(key)
                    if not s:
                        del idx[kv]
            for kv in new_labels.items():
                idx.setdefault(kv, set()).add(key)
        self._index_owners(rt, ns, name, old, new)
        if old is None or new is None:
            self._sorted[rt.key] = None
            if old is not None:
                self._uids.pop(old["metadata"].get("uid", ""), None)
            if new is not None:
                self._uids[new["metadata"]["uid"]] = (rt.key, ns, name)

    def _index_owners(
        self, rt: ResourceType, ns: str, name: str, old: dict | None, new: dict | None
    ) -> None:
        old_refs, new_refs = _owner_uids(old), _owner_uids(new)
        ref = (rt.key, ns, name)
        for uid in old_refs - new_refs:
            deps = self._dependents.get(uid)
            if deps is not None:
                deps.discard(ref)
                if not deps:
                    del self._dependents[uid]
        for uid in new_refs - old_refs:
            self._dependents.setdefault(uid, set()).add(ref)

    # ----------------------------------------------------------------- queries
    def candidates(
        self, rt: ResourceType, namespace: str | None, reqs: list[Requirement]
    ) -> Iterable[dict]:
        """Return the snapshots that may match ``reqs`` (narrowed by the label index)."""
        buckets = self.objects.get(rt.key, {})
        terms = equality_terms(reqs)
        if terms:
            idx = self._labels.get(rt.key, {})
            keys = min((idx.get(t, set()) for t in terms), key=len)
            out = []
            for ns, name in keys:
                if rt.namespaced and namespace and ns != namespace:
                    continue
                obj = buckets.get(ns, {}).get(name)
                if obj is not None:
                    out.append(obj)
            return out
        if rt.namespaced and namespace:
            return buckets.get(namespace, {}).values()
        return (o for b in list(buckets.values()) for o in b.values())

    def sorted_keys(self, rt: ResourceType, namespace: str | None) -> list[tuple[str, str]]:
        """Return the (namespace, name) keys of ``rt`` in order (cached across lists)."""
        buckets = self.objects.get(rt.key, {})
        if rt.namespaced and namespace:
            return [(namespace, n) for n in sorted(buckets.get(namespace, {}))]
        keys = self._sorted.get(rt.key)
        if keys is None:
            keys = sorted((ns, n) for ns, b in buckets.items() for n in b)
            self._sorted[rt.key] = keys
        return keys

    def page(
        self,
        rt: ResourceType,
        namespace: str | None,
        lreqs: list[Requirement],
        freqs: list,
        *,
        limit: int,
        start: tuple[str, str] | None,
        list_rv: int,
    ) -> Page:
        """Return up to ``limit`` matches (0: all) in key order after the key ``start``."""
        if lreqs and equality_terms(lreqs):
            objs = sorted(self.candidates(rt, namespace, lreqs), key=sort_key)
            keys = [sort_key(o) for o in objs]
            lookup: dict | None = dict(zip(keys, objs, strict=True))
        else:
            keys, lookup = self.sorted_keys(rt, namespace), None
        buckets = self.objects.get(rt.key, {})
        items: list[dict] = []
        for i in range(bisect.bisect_right(keys, start) if start else 0, len(keys)):
            key = keys[i]
            obj = lookup[key] if lookup is not None else buckets.get(key[0], {}).get(key[1])
            if obj is None or (lreqs and not labels_match(lreqs, obj)):
                continue
            if freqs and not fields_match(freqs, obj):
                continue
            if limit and len(items) >= limit:
                remaining = len(keys) - i if not lreqs and not freqs else None
                return Page(items, list_rv, encode_continue(list_rv, items[-1]), remaining)
            items.append(obj)
        return Page(items, list_rv, None, None)
