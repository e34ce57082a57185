"""Reads of the jobs app for pages and the API."""

from django.conf import settings

from jobs.models import InstanceLog, Job


def jobs_for(*, user, workspace):
    return (
        Job.objects.visible_to(user)
        .filter(workspace=workspace)
        .select_related("compute", "created_by", "workspace")
    )


TRUNCATION_MARK = "[log truncated by the portal: only the last {cap} bytes are kept]"


def log_lines(*, job: Job, index: int = 0, container: str = "main") -> list[str]:
    """The stored log lines of ``container`` in instance ``index`` (kept current by the tasks)."""
    log = InstanceLog.objects.filter(job=job, index=index, container=container).first()
    if log is None:
        return []
    lines = log.full_text.splitlines()
    if log.truncated:
        lines.insert(0, TRUNCATION_MARK.format(cap=settings.JOB_LOG_MAX_BYTES))
    return lines
