"""The Celery application (production mode's worker and beat)."""

import os
import time

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

# Every task runs inside portal.worker.PortalTask (named, so it is imported once a task is
# made, after Django is set up).
app = Celery("portal", task_cls="portal.worker:PortalTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.before_task_publish.connect
def stamp_sending_time(headers=None, **kwargs) -> None:
    """Every message carries when it was sent (the task's queue wait, ``portal.worker``)."""
    if headers is not None:
        headers.setdefault("portal_sent", time.time())


@signals.setup_logging.connect
def keep_the_portals_logging(**kwargs) -> None:
    """Celery leaves logging alone when this signal has a receiver: worker and beat log
    through the portal's configuration (``portal.logs``: the task on every line, JSON)."""
