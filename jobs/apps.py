from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Jobs"

    def ready(self) -> None:
        from compute import usage
        from jobs.models import Job
        from jobs.notify import render_job_detail, render_job_snapshots
        from portal import live, nav

        live.register(
            "jobs.job",
            lambda user, pk: Job.objects.visible_to(user).filter(pk=pk).exists(),
            snapshot=render_job_detail,
            readable=lambda user, pks: set(
                Job.objects.visible_to(user).filter(pk__in=pks).values_list("pk", flat=True)
            ),
            snapshot_many=render_job_snapshots,
        )
        usage.register(
            lambda it: [f"job {j.name}" for j in Job.objects.live_using_instance_type(it)[:5]]
        )
        nav.add("Jobs", "job-list-current", audience="member", order=11)
        nav.add("Environments", "environment-list-current", audience="member", order=12)
        from jobs import watch_handlers

        watch_handlers.register_kinds()
