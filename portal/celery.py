"""The Celery application (production mode's worker and beat)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

# Every task runs inside portal.worker.PortalTask (named, so it is imported once a task is
# made, after Django is set up).
app = Celery("portal", task_cls="portal.worker:PortalTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
