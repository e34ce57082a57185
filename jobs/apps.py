from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Jobs"

    def ready(self) -> None:
        from compute.usage import UsageCheck
        from jobs import watch_handlers
        from jobs.models import Job
        from jobs.notify import render_job_detail, render_job_snapshots
        from portal.live import LiveKind
        from portal.nav import NavItem
        from portal.registry import registry
        from portal.sources import JobRuns

        registry.add(
            LiveKind(
                "jobs.job",
                lambda user, pk: Job.objects.visible_to(user).filter(pk=pk).exists(),
                snapshot=render_job_detail,
                readable=lambda user, pks: set(
                    Job.objects.visible_to(user).filter(pk__in=pks).values_list("pk", flat=True)
                ),
                snapshot_many=render_job_snapshots,
            ),
            UsageCheck(
                "jobs",
                lambda it: [f"job {j.name}" for j in Job.objects.live_using_instance_type(it)[:5]],
            ),
            NavItem("Jobs", "job-list-current", audience="member", order=11),
            JobRuns(
                run_of=lambda ws, name: (
                    Job.objects.filter(workspace_id=ws, name=name)
                    .values_list("run__run_id", flat=True)
                    .first()
                ),
                job_of=lambda ws, run_id: (
                    Job.objects.filter(workspace_id=ws, run__run_id=run_id)
                    .values_list("name", flat=True)
                    .first()
                ),
            ),
        )
        watch_handlers.register_kinds()
