"""Server-side field validation (``fieldValidation=Strict|Warn|Ignore``) against the schemas
the OpenAPI documents publish, reported in the API server's words."""

from __future__ import annotations

from typing import Any

from kubesim.errors import ApiError
from kubesim.openapi.schemas import PRESERVE, REF

STRICT, WARN, IGNORE = "Strict", "Warn", "Ignore"


def directive(value: str | None) -> str:
    """Return the field-validation directive of a request; the API server's default is Warn.

    Raises 400 for a value that is none of Strict, Warn and Ignore.
    """
    if not value:
        return WARN
    for known in (STRICT, WARN, IGNORE):
        if value.lower() == known.lower():
            return known
    raise ApiError(
        400,
        "BadRequest",
        f"fieldValidation parameter unsupported: {value!r}: "
        f"must be one of {IGNORE!r}, {WARN!r}, {STRICT!r}",
    )


def _resolve(schema: dict, components: dict[str, dict]) -> dict:
    """Follow ``$ref`` (directly or as the only ``allOf`` member) to the schema it names."""
    while True:
        ref = schema.get("$ref")
        if ref is None and len(schema.get("allOf") or ()) == 1:
            ref = schema["allOf"][0].get("$ref")
        if not ref or not ref.startswith(REF):
            return schema
        schema = components.get(ref[len(REF) :], {})


def unknown_fields(schema: dict, value: Any, components: dict[str, dict]) -> list[str]:
    """Return the paths (``spec.containers[0].bogus``) of fields ``value`` carries that
    ``schema`` does not declare, in document order."""
    out: list[str] = []
    _walk(schema, value, "", components, out)
    return out


def _walk(schema: dict, value: Any, path: str, components: dict[str, dict], out: list) -> None:
    schema = _resolve(schema, components)
    if isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(value):
                _walk(items, item, f"{path}[{i}]", components, out)
        return
    if not isinstance(value, dict):
        return
    properties = schema.get("properties")
    extra = schema.get("additionalProperties")
    closed = properties is not None and not schema.get(PRESERVE) and extra in (None, False)
    for key, item in value.items():
        child = f"{path}.{key}" if path else key
        if properties and key in properties:
            _walk(properties[key], item, child, components, out)
        elif isinstance(extra, dict):
            _walk(extra, item, child, components, out)
        elif closed:
            out.append(child)


def strict_error(kind: str, version: str, fields: list[str], *, patch: bool) -> ApiError:
    """Return the 400 the API server answers a Strict request carrying unknown ``fields``.

    Creates and updates name the kind it could not decode; patches report only the fields.
    """
    detail = "strict decoding error: " + ", ".join(f'unknown field "{f}"' for f in fields)
    if not patch:
        detail = f'{kind} in version "{version}" cannot be handled as a {kind}: {detail}'
    return ApiError(400, "BadRequest", detail)


def warnings(fields: list[str]) -> list[str]:
    """Return the ``Warning`` header values Warn mode sends for unknown ``fields``."""
    return ['299 - "unknown field \\"' + f + '\\""' for f in fields]
