"""Kubernetes resource quantities, parsed the way the API server reads them.

``parse("500m") == Decimal("0.5")``, ``parse("2Gi") == 2 * 1024**3``,
``parse("1e3") == 1000``. Used to validate instance types and quotas and to
compute what fits on a node.
"""

import re
from decimal import Decimal, InvalidOperation

_SUFFIXES: dict[str, Decimal] = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}
_PATTERN = re.compile(
    r"^(?P<num>[+-]?(\d+(\.\d*)?|\.\d+))(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$"
)


class QuantityError(ValueError):
    pass


def parse(value) -> Decimal:
    """Returns the quantity's exact value; raises QuantityError saying what a valid one looks like."""
    if isinstance(value, bool):
        raise QuantityError(f"{value!r} is not a quantity")
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(str(value))
    text = str(value).strip()
    match = _PATTERN.match(text)
    if not match:
        raise QuantityError(
            f"“{text}” is not a Kubernetes quantity; use forms like 1, 500m, 1.5, 2Gi, 1500Mi or 1e3"
        )
    try:
        number = Decimal(match["num"])
    except InvalidOperation:
        raise QuantityError(f"“{text}” is not a number") from None
    suffix = match["suffix"] or ""
    if suffix[:1] in {"e", "E"}:
        return number * (Decimal(10) ** int(suffix[1:]))
    return number * _SUFFIXES[suffix]


def format_cpu(value: Decimal) -> str:
    """Formats cores for people: ``1.5`` → "1.5", ``0.25`` → "250m"."""
    if value == value.to_integral_value():
        return str(int(value))
    if value < 1:
        return f"{int(value * 1000)}m"
    return f"{value.normalize():f}"


def format_bytes(value: Decimal) -> str:
    """Formats memory in the largest binary unit that keeps one decimal: "31.5Gi"."""
    for unit in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        size = _SUFFIXES[unit]
        if abs(value) >= size:
            shown = (value / size).quantize(Decimal("0.1"))
            text = f"{shown.normalize():f}"
            return f"{text}{unit}"
    return str(int(value))


def format_resource(resource: str, value: Decimal) -> str:
    """Formats a value of ``resource`` (cpu, memory, nvidia.com/gpu, pods) for display."""
    if resource.endswith("cpu"):
        return format_cpu(value)
    if resource.endswith("memory"):
        return format_bytes(value)
    return str(int(value)) if value == value.to_integral_value() else str(value)
