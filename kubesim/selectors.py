"""Label and field selectors: parsing the query-string syntax and matching objects."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from kubesim.errors import bad_request

_SET_EXPR = re.compile(r"^\s*(!?)\s*([A-Za-z0-9./_-]+)\s*(?:(notin|in)\s*\(([^)]*)\))?\s*$")
_EQ_EXPR = re.compile(r"^\s*([A-Za-z0-9./_-]+)\s*(==|!=|=)\s*([A-Za-z0-9._-]*)\s*$")


@dataclass(frozen=True, slots=True)
class Requirement:
    """One label requirement: ``op`` is one of =, !=, in, notin, exists, !exists."""

    key: str
    op: str
    values: frozenset[str]

    def matches(self, labels: dict[str, str]) -> bool:
        """Return whether ``labels`` satisfies this requirement (Kubernetes semantics)."""
        if self.op == "exists":
            return self.key in labels
        if self.op == "!exists":
            return self.key not in labels
        present = self.key in labels
        if self.op in ("=", "in"):
            return present and labels[self.key] in self.values
        # "!=" and "notin" also match objects that lack the label entirely.
        return not present or labels[self.key] not in self.values


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p for p in parts if p.strip()]


def parse_label_selector(text: str | None) -> list[Requirement]:
    """Return the requirements of a label selector string; raise 400 ApiError if malformed."""
    if not text or not text.strip():
        return []
    reqs: list[Requirement] = []
    for part in _split_top_level(text):
        m = _EQ_EXPR.match(part)
        if m:
            op = "!=" if m.group(2) == "!=" else "="
            reqs.append(Requirement(m.group(1), op, frozenset([m.group(3)])))
            continue
        m = _SET_EXPR.match(part)
        if not m:
            raise bad_request(f"unable to parse requirement: {part.strip()!r}")
        negate, key, setop, values = m.groups()
        if setop:
            if negate:
                raise bad_request(f"unable to parse requirement: {part.strip()!r}")
            vals = frozenset(v.strip() for v in values.split(",") if v.strip())
            reqs.append(Requirement(key, setop, vals))
        else:
            reqs.append(Requirement(key, "!exists" if negate else "exists", frozenset()))
    return reqs


def labels_match(reqs: Iterable[Requirement], obj: dict) -> bool:
    """Return whether ``obj``'s metadata.labels satisfy all requirements."""
    labels = obj.get("metadata", {}).get("labels") or {}
    return all(r.matches(labels) for r in reqs)


# Field paths the simulator can filter on, per resource; every resource has the metadata ones.
_COMMON_FIELDS = ("metadata.name", "metadata.namespace")
FIELDS_BY_RESOURCE: dict[str, tuple[str, ...]] = {
    "pods": (
        "status.phase",
        "spec.nodeName",
        "spec.schedulerName",
        "spec.restartPolicy",
        "spec.serviceAccountName",
        "status.podIP",
        "status.nominatedNodeName",
    ),
    "events": (
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ),
    "namespaces": ("status.phase",),
    "nodes": ("spec.unschedulable",),
    "secrets": ("type",),
    "jobs.batch": ("status.successful",),
    "replicasets.apps": ("status.replicas",),
}


def _field_value(obj: dict, path: str) -> str:
    cur: object = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    if path == "source" and isinstance(cur, dict):
        return str(cur.get("component", ""))
    return str(cur)


FieldMatcher = Callable[[dict], bool]


def parse_field_selector(text: str | None, resource: str, kind: str) -> list[tuple[str, str, str]]:
    """Return (field, op, value) triples; raise 400 naming an unsupported field label."""
    if not text or not text.strip():
        return []
    allowed = set(_COMMON_FIELDS) | set(FIELDS_BY_RESOURCE.get(resource, ()))
    out = []
    for part in _split_top_level(text):
        m = re.match(r"^\s*([A-Za-z0-9._/-]+)\s*(==|!=|=)\s*(.*?)\s*$", part)
        if not m:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part.strip()}'")
        field, op, value = m.groups()
        if field not in allowed:
            raise bad_request(
                f"field label not supported: {field}"
                if resource in FIELDS_BY_RESOURCE or field.startswith(("spec.", "status."))
                else f'"{field}" is not a known field selector: only "metadata.name", '
                f'"metadata.namespace"'
            )
        out.append((field, "!=" if op == "!=" else "=", value))
    return out


def fields_match(reqs: Iterable[tuple[str, str, str]], obj: dict) -> bool:
    """Return whether ``obj`` satisfies every (field, op, value) requirement."""
    for field, op, value in reqs:
        actual = _field_value(obj, field)
        if (actual == value) != (op == "="):
            return False
    return True


def equality_terms(reqs: Iterable[Requirement]) -> list[tuple[str, str]]:
    """Return (key, value) pairs that must hold exactly, usable with a label index."""
    return [(r.key, next(iter(r.values))) for r in reqs if r.op == "=" and len(r.values) == 1]
