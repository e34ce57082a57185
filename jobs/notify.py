"""Live fragments of the jobs app: a job's row and detail parts, and the "your job ended" notice."""

from django.template.loader import render_to_string

from portal import live


def broadcast_job(job, *, ended: bool = False) -> None:
    """Pushes the job's status fragments to ``jobs.job.<id>`` and its workspace's job list."""

    def render_detail() -> str:
        from jobs.models import Job

        fresh = Job.objects.select_related("compute", "created_by").get(pk=job.pk)
        context = {
            "job": fresh,
            "transitions": fresh.transitions.all(),
            "instances": fresh.instances.all(),
            "oob": True,
        }
        return "".join(
            render_to_string(f"jobs/job_detail.html#{part}", context)
            for part in ("status", "timeline", "instances", "events")
        )

    def render_row() -> str:
        from jobs.models import Job

        fresh = Job.objects.select_related("compute", "created_by").get(pk=job.pk)
        return render_to_string("jobs/job_list.html#job-row", {"job": fresh, "oob": True})

    live.broadcast(live.group_name("jobs.job", job.pk), render_detail, key=f"job-{job.pk}")
    live.broadcast(
        live.group_name("portal.workspace", job.workspace_id), render_row, key=f"job-{job.pk}-row"
    )
    if ended:

        def render_notice() -> str:
            from jobs.models import Job

            fresh = Job.objects.get(pk=job.pk)
            return render_to_string("jobs/job_notice.html", {"job": fresh})

        live.broadcast(live.user_group(job.created_by_id), render_notice)
