"""PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge."""

from __future__ import annotations

from typing import Any

from kubesim.errors import ApiError

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"
PATCH_TYPES = (MERGE, JSON_PATCH, STRATEGIC, APPLY)

# Lists that strategic merge patch merges element-wise, and the key that identifies elements.
_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
    "conditions": "type",
    "containerStatuses": "name",
    "initContainerStatuses": "name",
    "imagePullSecrets": "name",
    "tolerations": "key",
    "addresses": "type",
    "ownerReferences": "uid",
    "envFrom": None,
}


def _copy(value: Any) -> Any:
    """Return a deep copy of a JSON value (dicts and lists only are containers)."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def merge_patch(target: Any, patch: Any) -> Any:
    """Return ``target`` with the RFC 7386 merge ``patch`` applied (inputs are not mutated)."""
    if not isinstance(patch, dict):
        return _copy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge(target: Any, patch: Any) -> Any:
    """Return ``target`` merged with a strategic merge ``patch``.

    Behaves like a merge patch, except that the lists named in ``_MERGE_KEYS`` are merged
    element by element using their key field, and ``{"$patch": "delete"}`` entries remove
    the matching element.
    """
    if not isinstance(patch, dict):
        return _copy(patch)
    if patch.get("$patch") == "replace":
        return {k: _copy(v) for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list) and _MERGE_KEYS.get(key) and isinstance(result.get(key), list):
            result[key] = _merge_list(result[key], value, _MERGE_KEYS[key])
        elif isinstance(value, list):
            result[key] = [
                _copy({k: v for k, v in item.items() if k != "$patch"})
                if isinstance(item, dict)
                else _copy(item)
                for item in value
                if not (isinstance(item, dict) and item.get("$patch") == "delete")
            ]
        else:
            result[key] = strategic_merge(result.get(key), value)
    return result


def _merge_list(current: list, patch: list, merge_key: str) -> list:
    out = list(current)
    index = {item.get(merge_key): i for i, item in enumerate(out) if isinstance(item, dict)}
    removed: set[int] = set()
    for item in patch:
        if not isinstance(item, dict) or merge_key not in item:
            out.append(_copy(item))
            continue
        pos = index.get(item[merge_key])
        if item.get("$patch") == "delete":
            if pos is not None:
                removed.add(pos)
        elif pos is None:
            index[item[merge_key]] = len(out)
            out.append(strategic_merge({}, item))
        else:
            out[pos] = strategic_merge(out[pos], item)
    return [v for i, v in enumerate(out) if i not in removed]


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise ApiError(422, "Invalid", f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _resolve(doc: Any, parts: list[str]) -> Any:
    cur = doc
    for part in parts:
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            raise ApiError(
                422,
                "Invalid",
                f"the server rejected our request: path /{'/'.join(parts)} not found",
            )
    return cur


def _add(doc: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent = _resolve(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent):
            parent.insert(int(last), value)
        else:
            raise ApiError(422, "Invalid", f"invalid list index {last!r}")
    else:
        raise ApiError(422, "Invalid", "cannot add to a scalar value")
    return doc


def _remove(doc: Any, parts: list[str]) -> Any:
    if not parts:
        raise ApiError(422, "Invalid", "cannot remove the whole document")
    parent = _resolve(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent.pop(int(last))
    raise ApiError(422, "Invalid", f"unable to remove nonexistent key: {last}")


def json_patch(target: Any, ops: Any) -> Any:
    """Return ``target`` with the RFC 6902 operation list ``ops`` applied (input not mutated)."""
    if not isinstance(ops, list):
        raise ApiError(400, "BadRequest", "json patch must be a list of operations")
    doc = _copy(target)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise ApiError(400, "BadRequest", f"invalid json patch operation: {op!r}")
        kind, parts = op["op"], _pointer(op["path"])
        if kind == "add":
            doc = _add(doc, parts, _copy(op.get("value")))
        elif kind == "remove":
            _remove(doc, parts)
        elif kind == "replace":
            _resolve(doc, parts)
            if parts:
                _remove(doc, parts)
            doc = _add(doc, parts, _copy(op.get("value")))
        elif kind == "test":
            if _resolve(doc, parts) != op.get("value"):
                raise ApiError(
                    422,
                    "Invalid",
                    f"the server rejected our request due to an "
                    f"error in our request: test operation failed at {op['path']}",
                )
        elif kind in ("move", "copy"):
            source = _pointer(op.get("from", ""))
            value = _copy(_resolve(doc, source))
            if kind == "move":
                _remove(doc, source)
            doc = _add(doc, parts, value)
        else:
            raise ApiError(400, "BadRequest", f"unknown json patch operation {kind!r}")
    return doc


def apply_patch(target: Any, patch: Any, patch_type: str) -> Any:
    """Return ``target`` patched according to ``patch_type`` (one of ``PATCH_TYPES``)."""
    ptype = patch_type.split(";")[0].strip()
    if ptype == MERGE:
        return merge_patch(target, patch)
    if ptype == JSON_PATCH:
        return json_patch(target, patch)
    if ptype in (STRATEGIC, APPLY):
        return strategic_merge(target, patch)
    raise ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown "
        f"format - accepted media types include: {', '.join(PATCH_TYPES)}",
    )
