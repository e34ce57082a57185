"""Small helpers for JSON-shaped Kubernetes objects shared by the store and its hooks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson


def now_rfc3339() -> str:
    """Return the current UTC time as RFC 3339 with a ``Z`` suffix and whole seconds."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def clone(obj: Any) -> Any:
    """Return a deep copy of a JSON-shaped value (orjson round trip: fast and thorough)."""
    return orjson.loads(orjson.dumps(obj))


def sort_key(obj: dict) -> tuple[str, str]:
    """Return the (namespace, name) key lists are ordered by."""
    meta = obj["metadata"]
    return (meta.get("namespace", ""), meta["name"])


def spec_of(obj: dict) -> Any:
    """Return what counts as the "spec" for generation bumps (everything but meta/status)."""
    if "spec" in obj:
        return obj["spec"]
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "kind", "apiVersion")}
