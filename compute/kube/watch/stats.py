"""The watchers' metrics and their one-line summaries.

Per cluster and kind: events handed to the handlers, watch restarts (a stream that failed
and is resumed after a back-off) and re-lists after ``410 Gone``; the lag of each batch
(its oldest event, from the reader receiving it to the handler's commit). ``Window`` adds
the same up between two summaries for the log.
"""

from __future__ import annotations

import threading

from portal import metrics

EVENTS = metrics.counter("watch_events", "Watch events handed to the handlers", ("cluster", "kind"))
RESTARTS = metrics.counter(
    "watch_restarts", "Watch streams that failed and were resumed", ("cluster", "kind")
)
RELISTS = metrics.counter(
    "watch_relists", "Lists again after 410 Gone (resourceVersion expired)", ("cluster", "kind")
)
BATCHES = metrics.counter("watch_batches", "Batches written by the watchers", ("cluster",))
LAG = metrics.histogram(
    "watch_lag_seconds",
    "From a watch event reaching the portal to its batch being committed (oldest of a batch)",
    ("cluster",),
)


class Window:
    """Counts since the last ``take()`` (thread-safe: readers and the dispatcher add)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self.events = self.batches = self.restarts = self.relists = 0
        self.lag_max = self.lag_sum = 0.0

    def batch(self, events: int, lag: float) -> None:
        with self._lock:
            self.events += events
            self.batches += 1
            self.lag_sum += lag
            self.lag_max = max(self.lag_max, lag)

    def restart(self) -> None:
        with self._lock:
            self.restarts += 1

    def relist(self) -> None:
        with self._lock:
            self.relists += 1

    def take(self) -> dict:
        """What was counted since the last call, and starts counting afresh."""
        with self._lock:
            taken = {
                "events": self.events,
                "batches": self.batches,
                "restarts": self.restarts,
                "relists": self.relists,
                "lag_mean_ms": round(1000 * self.lag_sum / self.batches) if self.batches else 0,
                "lag_max_ms": round(1000 * self.lag_max),
            }
            self._reset()
            return taken
