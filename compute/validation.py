"""Validation of instance types and quotas, with errors that name the field."""

import re

from django.core.exceptions import ValidationError

from compute import quantity

DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
ALLOWED_RESOURCES = {"cpu", "memory", "nvidia.com/gpu"}


def instance_type_name(name: str) -> None:
    if not name or len(name) > 253 or not DNS_SUBDOMAIN.match(name):
        raise ValidationError(
            {
                "name": "Use lowercase letters, digits, dashes and dots (DNS-1123), starting and ending with a letter or digit, at most 253 characters."
            }
        )


class _Errors(dict):
    """Messages by field path."""

    def add(self, path: str, message: str) -> None:
        self.setdefault(path, []).append(message)


def _check_node_selector(errors: _Errors, node_selector) -> None:
    if not isinstance(node_selector, dict):
        errors.add("nodeSelector", "must be a map of label → value")
        return
    for key, value in node_selector.items():
        if not isinstance(key, str) or not LABEL_KEY.match(key):
            errors.add(f"nodeSelector.{key}", "is not a valid label key")
        if not isinstance(value, str) or not LABEL_VALUE.match(value):
            errors.add(
                f"nodeSelector.{key}",
                f"value {value!r} is not a valid label value (63 letters, digits, -_. at most)",
            )


def _resource_amount(errors: _Errors, section: str, key: str, value):
    """The parsed quantity of one resource of ``section``, or None (with the error added)."""
    path = f"resources.{section}.{key}"
    if key not in ALLOWED_RESOURCES:
        errors.add(path, "unknown resource; use cpu, memory or nvidia.com/gpu")
        return None
    if key == "nvidia.com/gpu" and section == "requests":
        errors.add(path, "GPUs go under limits only (Kubernetes requests them equal to the limit)")
        return None
    try:
        number = quantity.parse(value)
    except quantity.QuantityError as exc:
        errors.add(path, str(exc))
        return None
    if number <= 0:
        errors.add(path, "must be greater than zero")
    elif key == "nvidia.com/gpu" and number != number.to_integral_value():
        errors.add(path, "must be a whole number of GPUs")
    else:
        return number
    return None


def _parse_section(errors: _Errors, section: str, values) -> dict:
    """The parsed quantities of ``requests`` or ``limits`` (the valid ones)."""
    if not isinstance(values, dict):
        errors.add(f"resources.{section}", "must be a map of resource → quantity")
        return {}
    for key in ("cpu", "memory"):
        if key not in values or values[key] in ("", None):
            errors.add(f"resources.{section}.{key}", "is required")
    parsed = {}
    for key, value in values.items():
        number = _resource_amount(errors, section, key, value)
        if number is not None:
            parsed[key] = number
    return parsed


def instance_type_spec(*, node_selector, requests, limits) -> dict[str, str]:
    """Returns the normalised requests and limits; raises ValidationError naming each bad field.

    Rules (as in the reference product): cpu and memory required and non-zero under
    both requests and limits; ``nvidia.com/gpu`` an integer and only under limits;
    requests never above limits.
    """
    errors = _Errors()
    _check_node_selector(errors, node_selector)
    parsed_requests = _parse_section(errors, "requests", requests)
    parsed_limits = _parse_section(errors, "limits", limits)
    for key in ("cpu", "memory"):
        req, lim = parsed_requests.get(key), parsed_limits.get(key)
        if req is not None and lim is not None and req > lim:
            errors.add(
                f"resources.requests.{key}",
                f"{requests[key]} is more than the limit {limits[key]}; requests must not exceed limits",
            )
    if errors:
        raise ValidationError(dict(errors))
    return {
        "requests": {k: str(v) for k, v in requests.items()},
        "limits": {k: str(v) for k, v in limits.items()},
    }


def quota(*, cpu: str, memory: str) -> None:
    errors = {}
    for field, value in (("quota_cpu", cpu), ("quota_memory", memory)):
        if value:
            try:
                if quantity.parse(value) <= 0:
                    errors[field] = "must be greater than zero (leave empty for no limit)"
            except quantity.QuantityError as exc:
                errors[field] = str(exc)
    if errors:
        raise ValidationError(errors)
