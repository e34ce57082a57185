"""Object names: validation as the API server does it, generateName, and error subjects."""

from __future__ import annotations

import random
import re

from kubesim.errors import ApiError, invalid
from kubesim.resources import ResourceType

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# Kubernetes draws generateName suffixes from consonants and digits to avoid words.
_SUFFIX_CHARS = "bcdfghjklmnpqrstvwxz2456789"

_LABEL_RULE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric "
    "characters or '-', and must start and end with an alphanumeric character"
)
_SUBDOMAIN_RULE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
    "characters, '-' or '.', and must start and end with an alphanumeric "
    "character"
)


def kind_name(rt: ResourceType) -> str:
    """Return how messages name the resource: ``pods``, ``jobs.batch``."""
    return rt.plural if not rt.group else f"{rt.plural}.{rt.group}"


def generate_name(prefix: str, taken: dict) -> str:
    """Return ``prefix`` plus a random five-character suffix not in ``taken``."""
    name = prefix
    for _ in range(20):
        name = prefix + "".join(random.choices(_SUFFIX_CHARS, k=5))
        if name not in taken:
            break
    return name


def _name_ok(rule: str, name: str) -> tuple[bool, str]:
    if rule == "label":
        return bool(len(name) <= 63 and _DNS_LABEL.match(name)), _LABEL_RULE
    if rule == "subdomain":
        return bool(len(name) <= 253 and _DNS_SUBDOMAIN.match(name)), _SUBDOMAIN_RULE
    return "/" not in name and name not in (".", ".."), "may not contain '/'"


def validate_name(rt: ResourceType, name: str) -> None:
    """Raise 422 Invalid when ``name`` is empty or breaks the resource's naming rule."""
    if not name:
        cause = {
            "reason": "FieldValueRequired",
            "field": "metadata.name",
            "message": "Required value: name or generateName is required",
        }
        raise invalid(rt.kind, name, rt.group, [cause])
    ok, rule = _name_ok(rt.name_rule, name)
    if not ok:
        cause = {
            "reason": "FieldValueInvalid",
            "field": "metadata.name",
            "message": f'Invalid value: "{name}": {rule}',
        }
        raise invalid(rt.kind, name, rt.group, [cause])


def already_exists(rt: ResourceType, name: str) -> ApiError:
    """Return the 409 AlreadyExists error for ``name``."""
    return ApiError(
        409,
        "AlreadyExists",
        f'{kind_name(rt)} "{name}" already exists',
        {"name": name, "group": rt.group, "kind": rt.plural},
    )


def conflict(rt: ResourceType, name: str) -> ApiError:
    """Return the 409 Conflict error for a stale resourceVersion."""
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {kind_name(rt)} "{name}": the object has been '
        "modified; please apply your changes to the latest version and try again",
        {"name": name, "group": rt.group, "kind": rt.plural},
    )
