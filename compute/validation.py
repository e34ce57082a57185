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


def instance_type_spec(*, node_selector, requests, limits) -> dict[str, str]:
    """Returns the normalised requests and limits; raises ValidationError naming each bad field.

    Rules (as in the reference product): cpu and memory required and non-zero under
    both requests and limits; ``nvidia.com/gpu`` an integer and only under limits;
    requests never above limits.
    """
    errors: dict[str, list[str]] = {}

    def add(path: str, message: str) -> None:
        errors.setdefault(path, []).append(message)

    if not isinstance(node_selector, dict):
        add("nodeSelector", "must be a map of label → value")
        node_selector = {}
    for key, value in node_selector.items():
        if not isinstance(key, str) or not LABEL_KEY.match(key):
            add(f"nodeSelector.{key}", "is not a valid label key")
        if not isinstance(value, str) or not LABEL_VALUE.match(value):
            add(
                f"nodeSelector.{key}",
                f"value {value!r} is not a valid label value (63 letters, digits, -_. at most)",
            )
    parsed: dict[str, dict] = {"requests": {}, "limits": {}}
    for section, values in (("requests", requests), ("limits", limits)):
        if not isinstance(values, dict):
            add(f"resources.{section}", "must be a map of resource → quantity")
            continue
        for key in ("cpu", "memory"):
            if key not in values or values[key] in ("", None):
                add(f"resources.{section}.{key}", "is required")
        for key, value in values.items():
            path = f"resources.{section}.{key}"
            if key not in ALLOWED_RESOURCES:
                add(path, "unknown resource; use cpu, memory or nvidia.com/gpu")
                continue
            if key == "nvidia.com/gpu" and section == "requests":
                add(path, "GPUs go under limits only (Kubernetes requests them equal to the limit)")
                continue
            try:
                number = quantity.parse(value)
            except quantity.QuantityError as exc:
                add(path, str(exc))
                continue
            if number <= 0:
                add(path, "must be greater than zero")
            elif key == "nvidia.com/gpu" and number != number.to_integral_value():
                add(path, "must be a whole number of GPUs")
            else:
                parsed[section][key] = number
    for key in ("cpu", "memory"):
        req, lim = parsed["requests"].get(key), parsed["limits"].get(key)
        if req is not None and lim is not None and req > lim:
            add(
                f"resources.requests.{key}",
                f"{requests[key]} is more than the limit {limits[key]}; requests must not exceed limits",
            )
    if errors:
        raise ValidationError(errors)
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
