"""What runs around every task (the base class of the portal's tasks, ``app.Task``).

- A task run by a Celery worker renders and sends its live broadcasts before it returns
  (``live.sending_inline``): Celery's Django fix-up closes the process's database pool
  before and after every task in a prefork worker, which a sender thread rendering in the
  background would race. Tasks called directly (the embedded mode's thread pool, tests) keep
  the background sender.
- Its log lines carry ``task=<name>:<id>`` (in a worker, Celery's line saying how it ended too).
- Metrics: tasks by name and outcome, run time, and the wait in the queue (from when it was
  sent, or its countdown ended, to when a worker started it; ``portal.celery`` stamps the
  sending time on every message).
"""

import time
from datetime import datetime

from celery import Task

from portal import live, logs, metrics

TASKS = metrics.counter("tasks", "Tasks run, by task and outcome", ("task", "outcome"))
RUN_TIME = metrics.histogram("task_seconds", "Time a task ran", ("task",))
QUEUE_WAIT = metrics.histogram(
    "task_queue_wait_seconds",
    "Time from sending a task (or its countdown's end) to its start",
    ("task",),
)
SENT_HEADER = "portal_sent"


def queue_wait(request, now: float) -> float | None:
    """Seconds the task waited for a worker, or None when unknown (called directly)."""
    sent = getattr(request, SENT_HEADER, None)
    if not isinstance(sent, int | float):
        return None
    eta = getattr(request, "eta", None)
    if eta:
        try:
            sent = max(sent, datetime.fromisoformat(eta).timestamp())
        except (TypeError, ValueError):
            pass
    return max(0.0, now - sent)


class PortalTask(Task):
    def __call__(self, *args, **kwargs):
        name = self.name.rsplit(".", 1)[-1] if self.name else "task"
        direct = self.request.called_directly
        token = logs.bind(f"task={name}:{(self.request.id or 'direct')[:8]}")
        wait = None if direct else queue_wait(self.request, time.time())
        if wait is not None:
            QUEUE_WAIT.labels(self.name).observe(wait)
        started, outcome = time.perf_counter(), "failure"
        try:
            if direct:
                result = super().__call__(*args, **kwargs)
            else:
                with live.sending_inline():
                    result = super().__call__(*args, **kwargs)
            outcome = "success"
            return result
        finally:
            RUN_TIME.labels(self.name).observe(time.perf_counter() - started)
            TASKS.labels(self.name, outcome).inc()
            if direct:
                logs.reset(token)
            # Run by a worker: kept, so Celery's "succeeded"/"failed" line after the call
            # names the task too; a worker process runs one task at a time and the next
            # binds its own.
