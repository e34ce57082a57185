"""MLflow's limits on what is logged, and the checks that name the field at fault."""

import math
import re

from tracking.errors import invalid

MAX_KEY = 250
MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000
MAX_RUN_NAME = 250
MAX_EXPERIMENT_NAME = 500
BATCH_ITEMS = 1000
BATCH_METRICS = 1000
BATCH_PARAMS = 100
BATCH_TAGS = 100
MAX_RESULTS = 50000
_NAME = re.compile(r"^[/\w.\- :]*$")


def key(value, field: str = "key") -> str:
    if not isinstance(value, str) or not value:
        raise invalid(f"Missing value for required parameter '{field}'.")
    if len(value) > MAX_KEY:
        raise invalid(f"'{field}' '{value[:40]}…' is {len(value)} characters; at most {MAX_KEY}.")
    if not _NAME.match(value) or ".." in value.split("/") or value.startswith("/"):
        raise invalid(
            f"Invalid {field} name: '{value[:80]}'. Names may only contain alphanumerics, "
            "underscores (_), dashes (-), periods (.), spaces ( ), colons (:) and slashes (/)."
        )
    return value


def text(value, field: str, limit: int) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        value = str(value)
    if len(value) > limit:
        raise invalid(f"'{field}' is {len(value)} characters long; at most {limit} are allowed.")
    return value


_SPECIAL = {"nan": math.nan, "infinity": math.inf, "-infinity": -math.inf, "inf": math.inf}


def number(value, field: str = "value") -> float:
    """A metric value: a JSON number, or MLflow's "NaN" / "Infinity" / "-Infinity"."""
    if isinstance(value, bool) or value is None:
        raise invalid(f"Got invalid value {value!r} for metric '{field}' (expected a number).")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        special = _SPECIAL.get(value.strip().lower())
        if special is not None:
            return special
        try:
            return float(value)
        except ValueError:
            pass
    raise invalid(
        f"Got invalid value {str(value)[:40]!r} for metric '{field}' (expected a number)."
    )


def integer(value, field: str, default: int | None = None, *, low: int | None = None) -> int:
    if value is None or value == "":
        if default is None:
            raise invalid(f"Missing value for required parameter '{field}'.")
        return default
    if isinstance(value, bool):
        raise invalid(f"'{field}' must be an integer, got {value!r}.")
    try:
        result = int(value)
    except (TypeError, ValueError):
        raise invalid(f"'{field}' must be an integer, got {str(value)[:40]!r}.") from None
    if not -(2**63) <= result < 2**63:
        raise invalid(f"'{field}' {result} is out of range for a 64-bit integer.")
    if low is not None and result < low:
        raise invalid(f"'{field}' must be at least {low}, got {result}.")
    return result


def max_results(value, default: int, limit: int = MAX_RESULTS) -> int:
    result = integer(value, "max_results", default, low=1)
    if result > limit:
        raise invalid(f"'max_results' must be at most {limit}, got {result}.")
    return result
