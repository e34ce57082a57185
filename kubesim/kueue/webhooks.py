"""Kueue's ClusterQueue webhook: defaults (the resource-in-use finalizer) and the
validation Kueue's webhook and CRD schema apply, with their messages."""

from __future__ import annotations

from typing import Any

from kubesim.errors import invalid
from kubesim.quantity import QuantityError, parse_quantity

from .crds import GROUP

FINALIZER = "kueue.x-k8s.io/resource-in-use"
_ENUMS = (
    ("queueingStrategy", ("StrictFIFO", "BestEffortFIFO")),
    ("preemption.withinClusterQueue", ("Never", "LowerPriority", "LowerOrNewerEqualPriority")),
    ("preemption.reclaimWithinCohort", ("Never", "LowerPriority", "Any")),
    ("preemption.borrowWithinCohort.policy", ("Never", "LowerPriority")),
    ("stopPolicy", ("None", "Hold", "HoldAndDrain")),
)


def _invalid(field: str, value: Any, message: str) -> dict[str, str]:
    return {
        "reason": "FieldValueInvalid",
        "field": field,
        "message": f'Invalid value: "{value}": {message}',
    }


def _quantity(path: str, value: Any, causes: list[dict]) -> int | None:
    """Return the value's sign (-1, 0, 1), adding a cause when it is malformed or < 0."""
    try:
        number = parse_quantity(str(value))
    except QuantityError:
        causes.append(
            _invalid(
                path,
                value,
                "quantities must match the regular expression "
                "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
            )
        )
        return None
    if number < 0:
        causes.append(_invalid(path, value, "must be greater than or equal to 0"))
    return int(number > 0) - int(number < 0)


def _quota(path: str, res: dict, has_cohort: bool, causes: list[dict]) -> None:
    _quantity(f"{path}.nominalQuota", res.get("nominalQuota", "0"), causes)
    for limit in ("borrowingLimit", "lendingLimit"):
        if res.get(limit) is None:
            continue
        _quantity(f"{path}.{limit}", res[limit], causes)
        if not has_cohort:
            causes.append(
                _invalid(f"{path}.{limit}", res[limit], "must be nil when cohort is empty")
            )
    lend = res.get("lendingLimit")
    if lend is not None:
        try:
            over = parse_quantity(str(lend)) > parse_quantity(str(res.get("nominalQuota", "0")))
        except QuantityError:
            over = False
        if over:
            causes.append(
                _invalid(
                    f"{path}.lendingLimit", lend, "must be less than or equal to the nominalQuota"
                )
            )


def _enum(spec: dict, path: str, allowed: tuple[str, ...], causes: list[dict]) -> None:
    value: Any = spec
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is not None and value not in allowed:
        choices = ", ".join(f'"{a}"' for a in allowed)
        causes.append(
            {
                "reason": "FieldValueNotSupported",
                "field": f"spec.{path}",
                "message": f'Unsupported value: "{value}": supported values: {choices}',
            }
        )


def cluster_queue(obj: dict[str, Any], old: dict[str, Any] | None, _namespace: str) -> None:
    """Admit a ClusterQueue create or update: add the finalizer to a new one, refuse
    negative quotas, limits without a cohort, lending above nominal, quota rows out of
    step with ``coveredResources`` and unknown enum values (422 Invalid)."""
    meta = obj.setdefault("metadata", {})
    if old is None and FINALIZER not in (meta.get("finalizers") or []):
        meta["finalizers"] = [*(meta.get("finalizers") or []), FINALIZER]
    spec = obj.get("spec") or {}
    causes: list[dict] = []
    for path, allowed in _ENUMS:
        _enum(spec, path, allowed, causes)
    has_cohort = bool(spec.get("cohortName"))
    for gi, group in enumerate(spec.get("resourceGroups") or ()):
        covered = list(group.get("coveredResources") or ())
        for fi, flavor in enumerate(group.get("flavors") or ()):
            for ri, res in enumerate((flavor.get("resources") or ())[: len(covered)]):
                path = f"spec.resourceGroups[{gi}].flavors[{fi}].resources[{ri}]"
                if res.get("name") != covered[ri]:
                    causes.append(
                        _invalid(
                            f"{path}.name",
                            res.get("name"),
                            "must match the name in coveredResources",
                        )
                    )
                _quota(path, res, has_cohort, causes)
    if causes:
        raise invalid("ClusterQueue", meta.get("name", ""), GROUP, causes)
