"""Container logs kept in memory, with followers woken on every new line.

All methods must be called on the event-loop thread that serves the API (the simulator's
controllers and HTTP handlers both run there), so no locking is needed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime

Line = tuple[datetime, str]


@dataclass(slots=True)
class _Stream:
    current: list[Line] = field(default_factory=list)
    previous: list[Line] | None = None
    closed: bool = False
    # Bumped on restart/drop so a follower knows its position is no longer valid.
    epoch: int = 0
    dropped: bool = False
    waiters: list[asyncio.Future] = field(default_factory=list)

    def wake(self) -> None:
        for fut in self.waiters:
            if not fut.done():
                fut.set_result(None)
        self.waiters.clear()


class LogBook:
    """Per-container log lines, the previous container's lines, and follow support."""

    def __init__(self, max_lines: int = 100_000) -> None:
        self._streams: dict[tuple[str, str, str], _Stream] = {}
        self._max_lines = max_lines

    def _stream(self, namespace: str, pod: str, container: str) -> _Stream:
        key = (namespace, pod, container)
        s = self._streams.get(key)
        if s is None:
            s = self._streams[key] = _Stream()
        return s

    def write(self, namespace: str, pod: str, container: str, line: str) -> None:
        """Append ``line`` (trailing newline stripped) stamped with the current UTC time."""
        s = self._stream(namespace, pod, container)
        s.current.append((datetime.now(UTC), line.rstrip("\n")))
        if len(s.current) > self._max_lines:
            # Trim in chunks so appends stay amortised O(1).
            del s.current[: len(s.current) - self._max_lines]
        s.wake()

    def rotate(self, namespace: str, pod: str, container: str, keep: int = 0) -> None:
        """Drop all but the last ``keep`` lines of the current log, as a node does when it
        rotates a container's log file (the API serves only the current file). Followers
        end, as their position no longer holds."""
        s = self._stream(namespace, pod, container)
        del s.current[: max(0, len(s.current) - keep)]
        s.epoch += 1
        s.wake()

    def restart(self, namespace: str, pod: str, container: str) -> None:
        """Move the current log to "previous" and start an empty one (container restart)."""
        s = self._stream(namespace, pod, container)
        s.previous, s.current = s.current, []
        s.closed = False
        s.epoch += 1
        s.wake()

    def lines(
        self, namespace: str, pod: str, container: str, *, previous: bool = False
    ) -> list[Line]:
        """Return a copy of the current (or previous) lines; empty if none were written."""
        s = self._streams.get((namespace, pod, container))
        if s is None:
            return []
        src = s.previous if previous else s.current
        return list(src or [])

    def has_previous(self, namespace: str, pod: str, container: str) -> bool:
        """Return whether a previous (restarted) container log exists."""
        s = self._streams.get((namespace, pod, container))
        return s is not None and s.previous is not None

    def has(self, namespace: str, pod: str, container: str) -> bool:
        """Return whether anything was ever recorded for this container."""
        return (namespace, pod, container) in self._streams

    def close(self, namespace: str, pod: str, container: str) -> None:
        """Mark the container terminated: followers finish once they have drained its lines."""
        s = self._stream(namespace, pod, container)
        s.closed = True
        s.wake()

    def is_closed(self, namespace: str, pod: str, container: str) -> bool:
        """Return whether the container's current log is closed (terminated or pod dropped)."""
        s = self._streams.get((namespace, pod, container))
        return s is not None and (s.closed or s.dropped)

    def drop(self, namespace: str, pod: str) -> None:
        """Forget every container log of a deleted pod and end its followers."""
        for key in [k for k in self._streams if k[0] == namespace and k[1] == pod]:
            s = self._streams.pop(key)
            s.dropped = True
            s.wake()

    async def follow(self, namespace: str, pod: str, container: str, start: int):
        """Yield lists of new lines from index ``start`` until the log is closed or dropped.

        Returns (the generator ends) when the container terminates, restarts, or the pod is
        deleted; lines written before that are always delivered first.
        """
        s = self._stream(namespace, pod, container)
        epoch, pos = s.epoch, start
        while True:
            if s.dropped or s.epoch != epoch:
                return
            if pos < len(s.current):
                chunk = s.current[pos:]
                pos = len(s.current)
                yield chunk
                continue
            if s.closed:
                return
            fut = asyncio.get_running_loop().create_future()
            s.waiters.append(fut)
            await fut
