"""Celery tasks of the portal app: sealing and trimming the audit log."""

from celery import shared_task
from django.conf import settings

from portal import audit


@shared_task
def audit_seal() -> None:
    """Seals what was recorded since the last seal (more batches when there is a backlog)."""
    while audit.seal_pending() is not None:
        pass


@shared_task
def audit_purge() -> None:
    audit.purge(days=settings.AUDIT_RETENTION_DAYS)
