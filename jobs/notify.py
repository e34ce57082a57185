"""Live fragments of the jobs app: a job's row and detail parts, and the "your job ended" notice."""

from django.template.loader import render_to_string

from portal import live

DETAIL_PARTS = ("status", "timeline", "instances", "events", "log")
# What a status change repaints (logs are pushed on their own by broadcast_log).
STATUS_PARTS = ("status", "timeline", "instances", "events")
LOG_TAIL_LINES = 500


def render_job_detail(job_id: int, parts: tuple[str, ...] = DETAIL_PARTS) -> str:
    """The live ``parts`` of a job's page, marked for out-of-band swaps."""
    from jobs.models import Job

    fresh = Job.objects.select_related("compute", "created_by").filter(pk=job_id).first()
    if fresh is None:
        return ""
    context = {
        "job": fresh,
        "transitions": fresh.transitions.all(),
        "instances": fresh.instances.all(),
        "logs": log_tails(fresh) if "log" in parts else [],
        "oob": True,
    }
    return "".join(render_to_string(f"jobs/job_detail.html#{part}", context) for part in parts)


def log_tails(job) -> list[dict]:
    """The last lines of each instance's stored log, with a mark when lines were cut."""
    from django.conf import settings

    from jobs.selectors import TRUNCATION_MARK

    tails = []
    for log in job.logs.order_by("index", "container"):
        lines = log.text.splitlines()
        cut = len(lines) > LOG_TAIL_LINES
        tails.append(
            {
                "index": log.index,
                "container": log.container,
                "lines": lines[-LOG_TAIL_LINES:],
                "hidden": len(lines) - LOG_TAIL_LINES if cut else 0,
                "truncated": TRUNCATION_MARK.format(cap=settings.JOB_LOG_MAX_BYTES)
                if log.truncated
                else "",
            }
        )
    return tails


def broadcast_log(job) -> None:
    """Pushes the job's log part (tails of every instance) to its page."""

    def render() -> str:
        from jobs.models import Job

        fresh = Job.objects.filter(pk=job.pk).first()
        if fresh is None:
            return ""
        return render_to_string(
            "jobs/job_detail.html#log", {"job": fresh, "logs": log_tails(fresh), "oob": True}
        )

    live.broadcast(live.group_name("jobs.job", job.pk), render, key=f"job-{job.pk}-log")


def broadcast_job(
    job, *, ended: bool = False, parts: tuple[str, ...] = STATUS_PARTS, row: bool = True
) -> None:
    """Pushes the job's changed ``parts`` to ``jobs.job.<id>`` and, with ``row``, its line in
    the workspace's job list."""

    def render_detail() -> str:
        return render_job_detail(job.pk, parts)

    def render_row() -> str:
        from jobs.models import Job

        fresh = Job.objects.select_related("compute", "created_by").get(pk=job.pk)
        return render_to_string("jobs/job_list.html#job-row", {"job": fresh, "oob": True})

    group = live.group_name("jobs.job", job.pk)
    live.broadcast(group, render_detail, key=f"job-{job.pk}-{'-'.join(parts)}")
    if row:
        workspace = live.group_name("portal.workspace", job.workspace_id)
        live.broadcast(workspace, render_row, key=f"job-{job.pk}-row")
    if ended:

        def render_notice() -> str:
            from jobs.models import Job

            fresh = Job.objects.get(pk=job.pk)
            return render_to_string("jobs/job_notice.html", {"job": fresh})

        live.broadcast(live.user_group(job.created_by_id), render_notice)
