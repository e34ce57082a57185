"""Celery tasks of the jobs app: each fetches its job by id and calls ``jobs.workflows``."""

from celery import shared_task

from jobs import workflows
from jobs.models import LIVE, Job, Status
from portal.background import run_later, run_now


def _job(job_id: int) -> Job | None:
    return (
        Job.objects.select_related("compute__cluster", "workspace")
        .defer("spec_yaml")
        .filter(pk=job_id)
        .first()
    )


@shared_task
def job_start(job_id: int) -> None:
    """Creates the job's objects; retried with backoff while the cluster is unreachable."""
    job = _job(job_id)
    if job is None or job.status != Status.NOT_STARTED:
        return
    delay = workflows.start(job)
    if delay is not None:
        run_later(job_start, delay, job.pk)


@shared_task
def job_cancel(job_id: int) -> None:
    job = _job(job_id)
    if job is not None and job.status == Status.CANCEL_REQUESTED:
        workflows.cancel(job)


@shared_task
def job_sync(job_id: int) -> None:
    """Reads the job's objects from the cluster and records what changed."""
    job = _job(job_id)
    if job is not None and job.status in LIVE and job.status != Status.NOT_STARTED:
        workflows.sync(job)


@shared_task
def job_logs_store(job_id: int) -> None:
    """Copies the logs of a job's started instances into the portal (queued when it ends)."""
    job = _job(job_id)
    if job is not None:
        workflows.store_logs(job)


@shared_task
def follow_logs() -> None:
    """Keeps running jobs' stored logs current (every couple of seconds)."""
    workflows.follow_logs()


@shared_task
def reconcile_jobs() -> None:
    """Repairs every live job from what its cluster shows, and queues again the starts that
    were lost (periodic)."""
    for job_id in workflows.stalled_starts():
        run_now(job_start, job_id)
    workflows.reconcile()
