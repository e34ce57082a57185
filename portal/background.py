"""Running Celery tasks without making a view wait for them.

``enqueue(task, ...)`` is the only way the portal starts background work. It
waits for the current transaction to commit (so the task sees the rows it is
about), then, by ``settings.TASKS_MODE``:

- ``celery``: sends it to the workers through the broker (production);
- ``thread``: runs it on an in-process thread pool (embedded mode);
- ``immediate``: runs it in the calling thread (tests that want determinism).

Periodic work in the embedded mode runs on a small scheduler thread that reads
the same ``CELERY_BEAT_SCHEDULE`` the production beat process uses.
"""

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections, transaction
from django.utils.module_loading import import_string

log = logging.getLogger(__name__)

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_pending: set[Future] = set()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=settings.TASKS_THREADS, thread_name_prefix="portal-task"
            )
        return _pool


def _run_in_thread(task, args, kwargs) -> None:
    close_old_connections()
    try:
        task(*args, **kwargs)
    except Exception:
        log.exception("background task %s failed", task.name)
    finally:
        close_old_connections()


def run_now(task, *args, **kwargs) -> None:
    """Dispatches ``task`` at once (no transaction wait), honouring TASKS_MODE."""
    mode = settings.TASKS_MODE
    if mode == "celery":
        task.apply_async(args=args, kwargs=kwargs, queue=settings.TASK_QUEUE)
    elif mode == "immediate":
        task(*args, **kwargs)
    else:
        future = _executor().submit(_run_in_thread, task, args, kwargs)
        _pending.add(future)
        future.add_done_callback(_pending.discard)


def run_later(task, delay: float, *args, **kwargs) -> None:
    """Dispatches ``task`` after ``delay`` seconds (at once in the immediate mode)."""
    mode = settings.TASKS_MODE
    if mode == "celery":
        task.apply_async(args=args, kwargs=kwargs, countdown=delay, queue=settings.TASK_QUEUE)
    elif mode == "immediate":
        task(*args, **kwargs)
    else:
        timer = threading.Timer(delay, run_now, args=(task, *args), kwargs=kwargs)
        timer.daemon = True
        timer.start()


def enqueue(task, *args, **kwargs) -> None:
    """Queues ``task(*args, **kwargs)`` to run after the current transaction commits."""
    transaction.on_commit(lambda: run_now(task, *args, **kwargs))


def drain(timeout: float = 30.0) -> None:
    """Waits until the thread pool has no queued or running task (used by tests and shutdown)."""
    for future in list(_pending):
        future.result(timeout=timeout)


class PeriodicRunner(threading.Thread):
    """Runs CELERY_BEAT_SCHEDULE entries on a timer in the embedded mode."""

    def __init__(self) -> None:
        super().__init__(name="portal-periodic", daemon=True)
        self.stopping = threading.Event()

    def run(self) -> None:
        schedule = settings.CELERY_BEAT_SCHEDULE
        due = {name: time.monotonic() + 2 for name in schedule}
        while not self.stopping.wait(0.5):
            now = time.monotonic()
            for name, entry in schedule.items():
                if now >= due[name]:
                    due[name] = now + float(entry["schedule"])
                    try:
                        task = import_string(entry["task"])
                    except ImportError:
                        log.warning("periodic task %s does not exist", entry["task"])
                        continue
                    run_now(task)

    def stop(self) -> None:
        self.stopping.set()
