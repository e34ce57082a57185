"""Run-time fault injection: error rates, latency, dropped watches, compaction."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

# Settable from the --faults spec and POST /kubesim/faults, with their types.
FIELDS: dict[str, type] = {
    "error_rate": float,
    "error_code": int,
    "latency_ms": float,
    "drop_watch_after": int,
    "fail_next": int,
}


class Faults:
    """Fault switches read by the API server on every request.

    Attributes may be changed from any thread (plain attribute writes). ``drop_watches``
    and ``compact`` act on the event loop; the server wires them through ``bind``.
    """

    def __init__(self, spec: str | None = None) -> None:
        self.error_rate: float = 0.0
        self.error_code: int = 500
        self.latency_ms: float = 0.0
        self.drop_watch_after: int = 0
        self.fail_next: int = 0  # the next this many requests fail (then error_rate applies)
        self._drop: Callable[[], Any] | None = None
        self._compact: Callable[[], Any] | None = None
        self._rng = random.Random()
        if spec:
            self.update(parse_spec(spec))

    def bind(self, drop: Callable[[], Any], compact: Callable[[], Any]) -> None:
        """Attach the callables that close all watches and compact history."""
        self._drop, self._compact = drop, compact

    def update(self, values: dict[str, Any]) -> None:
        """Set several switches at once; raise ValueError on unknown names or bad values."""
        for key, value in values.items():
            if key not in FIELDS:
                raise ValueError(f"unknown fault {key!r}; known: {', '.join(FIELDS)}")
            setattr(self, key, FIELDS[key](value))
        if self.error_code not in (429, 500, 502, 503, 504):
            raise ValueError("error_code must be 429 or a 5xx code")

    def reset(self) -> None:
        """Turn every fault off."""
        self.error_rate, self.error_code, self.latency_ms, self.drop_watch_after = 0.0, 500, 0, 0
        self.fail_next = 0

    def as_dict(self) -> dict[str, Any]:
        """Return the current switch values."""
        return {k: getattr(self, k) for k in FIELDS}

    def should_fail(self) -> bool:
        """Return True for the next ``fail_next`` calls, then for the share ``error_rate``
        of calls (independent draws)."""
        if self.fail_next > 0:
            self.fail_next -= 1
            return True
        return self.error_rate > 0 and self._rng.random() < self.error_rate

    def drop_watches(self) -> int:
        """Close every open watch stream now; return how many were open."""
        return int(self._drop()) if self._drop else 0

    def compact(self) -> None:
        """Empty the watch history so resuming from any earlier resourceVersion gives 410."""
        if self._compact:
            self._compact()


def parse_spec(spec: str) -> dict[str, str]:
    """Return {name: value} from ``"error_rate=0.1,latency_ms=50"``; ValueError if malformed."""
    out = {}
    for part in spec.split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"fault {part!r} must look like name=value")
        out[key.strip()] = value.strip()
    return out
