"""What runs around every task a Celery worker executes (the base class of the portal's
tasks, ``app.Task``).

A task's live broadcasts are rendered and sent before it returns (``live.sending_inline``):
Celery's Django fix-up closes the process's database pool before and after every task in a
prefork worker, which a sender thread rendering in the background would race. Tasks called
directly (the embedded mode's thread pool, tests) keep the background sender.
"""

from celery import Task

from portal import live


class PortalTask(Task):
    def __call__(self, *args, **kwargs):
        if self.request.called_directly:
            return super().__call__(*args, **kwargs)
        with live.sending_inline():
            return super().__call__(*args, **kwargs)
