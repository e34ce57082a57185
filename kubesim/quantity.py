"""Kubernetes resource quantities ("100m", "2Gi", "1e3"...) as exact ``Decimal`` values."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$")


class QuantityError(ValueError):
    """Raised when a string is not a valid Kubernetes quantity."""


def parse_quantity(value: str | int | float | Decimal) -> Decimal:
    """Return the exact value of a quantity; raise ``QuantityError`` if it is malformed."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise QuantityError(f"invalid quantity {value!r}")
    if isinstance(value, int | float):
        return Decimal(str(value))
    text = str(value).strip()
    match = _QUANTITY.match(text)
    if not match:
        raise QuantityError(f"quantities must match the regular expression: {text!r}")
    number, suffix = match.group(1), match.group(2) or ""
    try:
        base = Decimal(number)
    except InvalidOperation as exc:  # pragma: no cover - regex already filters
        raise QuantityError(f"invalid quantity {text!r}") from exc
    if suffix in _BINARY:
        return base * _BINARY[suffix]
    if suffix in _DECIMAL:
        return base * _DECIMAL[suffix]
    # Exponent form such as "1e3".
    return base * (Decimal(10) ** int(suffix[1:]))


def to_milli(value: str | int | float | Decimal) -> int:
    """Return the quantity in integer milli-units, rounding up like Kubernetes' MilliValue."""
    q = parse_quantity(value) * 1000
    i = int(q)
    return i + 1 if q > i else i


def format_quantity(value: Decimal | int, *, binary: bool = False) -> str:
    """Return a canonical short string for ``value``.

    Whole numbers print plainly ("4"); fractions print in milli-units ("1500m");
    with ``binary=True`` whole multiples of 1024 use Ki/Mi/Gi suffixes ("2Gi").
    """
    v = Decimal(value)
    if v == v.to_integral_value():
        n = int(v)
        if binary and n:
            for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
                if n % _BINARY[suffix] == 0:
                    return f"{n // _BINARY[suffix]}{suffix}"
        return str(n)
    milli = v * 1000
    if milli == milli.to_integral_value():
        return f"{int(milli)}m"
    return format(v.normalize(), "f")
