"""Garbage collection for the long-running processes (web server, watchers, sender).

CPython's automatic full collection walks every tracked object. A watcher's caches hold
tens of thousands of pods as parsed JSON (about 50 containers each), and at a thousand pod
changes a second replaced objects reach the oldest generation fast enough to start a full
collection every few seconds: measured at 64 to 134 ms each, every thread stopped, which
was most of the latency tail of a status change on its way to the browser.

``install()`` changes three things for the process, once:

- What exists when it is called (modules, settings, the app registry: never garbage) is
  moved out of the collector's sight (``gc.freeze``) after one last full collection.
- The young generations are collected as before, so short-lived cycles still go at once.
- The oldest generation is never collected automatically; a daemon thread collects it
  every ``full_every`` seconds instead, so a pause comes at a known, rare pace and cycles
  that lived long enough to reach it are still freed.
"""

import gc
import logging
import threading
import time

from django.conf import settings

log = logging.getLogger(__name__)

NEVER = 2**30  # a generation threshold never reached

_lock = threading.Lock()
_policy: "GcPolicy | None" = None


class GcPolicy:
    def __init__(self, full_every: float) -> None:
        self.full_every = full_every
        self.thresholds = gc.get_threshold()
        self.collections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gc-full", daemon=True)

    def start(self) -> "GcPolicy":
        gc.collect()
        gc.freeze()
        gen0, gen1, _ = self.thresholds
        gc.set_threshold(gen0, gen1, NEVER)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.full_every):
            started = time.perf_counter()
            found = gc.collect()
            self.collections += 1
            log.debug(
                "full collection: %d unreachable, %.1f ms",
                found,
                (time.perf_counter() - started) * 1000,
            )

    def stop(self) -> None:
        """Puts the collector back as it was (for tests)."""
        self._stop.set()
        self._thread.join(5)
        gc.set_threshold(*self.thresholds)
        gc.unfreeze()


def install(*, full_every: float | None = None) -> GcPolicy | None:
    """Applies the policy to this process, every ``full_every`` seconds (default: the
    ``GC_FULL_EVERY`` setting; 0 leaves Python's policy). Once: later calls return the
    first policy."""
    global _policy
    if full_every is None:
        full_every = float(settings.GC_FULL_EVERY)
    with _lock:
        if _policy is None and full_every > 0:
            _policy = GcPolicy(full_every).start()
        return _policy


def uninstall() -> None:
    global _policy
    with _lock:
        if _policy is not None:
            _policy.stop()
            _policy = None
