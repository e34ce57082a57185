"""``meta.k8s.io/v1`` Table rendering for ``kubectl get`` (NAME, STATUS, AGE...)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from kubesim.resources import ResourceType


def wants_table(accept: str) -> bool:
    """Return whether the Accept header asks for a Table as the first choice."""
    first = accept.split(",")[0]
    return "as=Table" in first


def age(timestamp: str | None) -> str:
    """Return a kubectl-style age ("5s", "3m", "2h", "4d") for an RFC 3339 timestamp."""
    if not timestamp:
        return "<unknown>"
    try:
        then = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return "<unknown>"
    secs = max(0, int((datetime.now(UTC) - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{secs // size}{unit}"
    return f"{secs}s"


def _pod_cells(pod: dict) -> list[Any]:
    status = pod.get("status") or {}
    containers = (pod.get("spec") or {}).get("containers") or []
    statuses = status.get("containerStatuses") or []
    ready = sum(1 for cs in statuses if cs.get("ready"))
    restarts = sum(int(cs.get("restartCount") or 0) for cs in statuses)
    reason = status.get("reason") or status.get("phase") or "Pending"
    for cs in statuses:
        st = cs.get("state") or {}
        if st.get("waiting", {}).get("reason"):
            reason = st["waiting"]["reason"]
        elif st.get("terminated", {}).get("reason") and reason not in ("Running",):
            reason = st["terminated"]["reason"]
    if pod["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    return [f"{ready}/{len(containers)}", reason, restarts]


def _node_cells(node: dict) -> list[Any]:
    conds = (node.get("status") or {}).get("conditions") or []
    ready = next((c for c in conds if c.get("type") == "Ready"), None)
    state = "Ready" if ready and ready.get("status") == "True" else "NotReady"
    if (node.get("spec") or {}).get("unschedulable"):
        state += ",SchedulingDisabled"
    labels = node["metadata"].get("labels") or {}
    roles = sorted(
        k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/")
    ) or ["<none>"]
    version = ((node.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion", "")
    return [state, ",".join(roles), version]


_EXTRA: dict[str, tuple[list[dict], Any]] = {
    "pods": (
        [
            {"name": "Ready", "type": "string"},
            {"name": "Status", "type": "string"},
            {"name": "Restarts", "type": "integer"},
        ],
        _pod_cells,
    ),
    "nodes": (
        [
            {"name": "Status", "type": "string"},
            {"name": "Roles", "type": "string"},
            {"name": "Version", "type": "string"},
        ],
        _node_cells,
    ),
    "namespaces": (
        [{"name": "Status", "type": "string"}],
        lambda o: [(o.get("status") or {}).get("phase", "")],
    ),
}


_STEP = re.compile(r'\.([A-Za-z0-9_-]+)|\[\?\(@\.([A-Za-z0-9_]+)=="([^"]*)"\)\]|\[(\d+)\]')


def json_path(obj: Any, path: str) -> Any:
    """Return what a printer column's JSONPath (``.a.b``, ``[0]``, ``[?(@.k=="v")]``)
    selects in ``obj``, or None."""
    value = obj
    for field, key, wanted, index in _STEP.findall(path):
        if field:
            value = value.get(field) if isinstance(value, dict) else None
        elif key:
            found = [v for v in value or () if isinstance(v, dict) and str(v.get(key)) == wanted]
            value = found[0] if found else None
        else:
            value = (
                value[int(index)] if isinstance(value, list) and int(index) < len(value) else None
            )
        if value is None:
            return None
    return value


def _crd_columns(rt: ResourceType) -> tuple[list[dict], Any]:
    cols = [{"name": name, "type": kind} for name, kind, _path in rt.columns]

    def cells(obj: dict) -> list[Any]:
        out = []
        for _name, _kind, path in rt.columns:
            value = json_path(obj, path)
            out.append("" if value is None else value)
        return out

    return cols, cells


def to_table(rt: ResourceType, items: list[dict], meta: dict) -> dict:
    """Return a Table of ``items`` with NAME, per-kind (or the CRD's) columns and AGE."""
    extra_cols, cells_fn = _crd_columns(rt) if rt.columns else _EXTRA.get(rt.key, ([], None))
    columns = [
        {"name": "Name", "type": "string", "format": "name", "description": "Name of the object"}
    ]
    columns += [{**c, "format": "", "description": c["name"]} for c in extra_cols]
    columns.append(
        {"name": "Age", "type": "string", "format": "", "description": "Time since creation"}
    )
    rows = []
    for obj in items:
        m = obj["metadata"]
        cells = [m["name"], *(cells_fn(obj) if cells_fn else []), age(m.get("creationTimestamp"))]
        rows.append(
            {
                "cells": cells,
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": m,
                },
            }
        )
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": columns,
        "rows": rows,
    }
