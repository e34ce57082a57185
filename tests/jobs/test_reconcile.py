"""The periodic repair pass (``reconcile_jobs``) against kubesim over HTTP, with no watcher
running: what it finds is what the events it stands in for would have said."""

import pytest

from jobs import tasks, workflows
from jobs.models import InstanceLog, Job, Status
from tests.helpers import submit_job, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

HELLO = """
type: command
name: hello
command: echo "hello world"
environment:
  image: python:3.11-slim
compute: azureml:cpu-target
environment_variables:
  KUBESIM_LOG_LINES: "hello from the pod"
"""
FOREVER = {"environment_variables.KUBESIM_RUN_FOREVER": "true"}


def submit(client, name: str, **overrides) -> Job:
    return submit_job(client, HELLO, name, **overrides)


def pod_phases(sim, job: Job) -> list[str]:
    pods, _ = sim.call(
        lambda: sim.store.list(
            "pods", namespace="team-a", label_selector=f"kubeportal.io/job-id={job.pk}"
        )
    )
    return [(p.get("status") or {}).get("phase") for p in pods]


def reads(sim) -> int:
    return sim.stats()["requests"].get("GET", 0)


def test_a_pass_repairs_many_jobs_from_a_few_lists(compute_ready, client_for, sim, monkeypatch):
    monkeypatch.setattr(workflows, "RECONCILE_CHUNK", 2)
    client = client_for("scientist")
    running = [submit(client, f"forever-{n}", **FOREVER) for n in range(4)]
    done = submit(client, "done")
    deleted = submit(client, "deleted", **FOREVER)
    wait_for(
        lambda: (
            all(pod_phases(sim, job) == ["Running"] for job in [*running, deleted])
            and pod_phases(sim, done) == ["Succeeded"]
        ),
        what="kubesim to run the pods",
    )
    sim.call(lambda: sim.store.delete("jobs.batch", deleted.object_name, namespace="team-a"))
    assert {j.status for j in Job.objects.all()} == {Status.QUEUED}  # nobody watched

    before = reads(sim)
    tasks.reconcile_jobs()
    # Six jobs in chunks of two: a Job list and a pod list per chunk, and the log of each
    # started pod of a job the pass repaired (each of these has one).
    assert reads(sim) - before <= 3 * 2 + 6

    for job in running:
        job.refresh_from_db()
        assert job.status == Status.RUNNING
        assert [t.to_status for t in job.transitions.all()] == [
            "NotStarted",
            "Queued",
            "Preparing",
            "Running",
        ]
    done.refresh_from_db()
    assert done.status == Status.COMPLETED, done.status_reason
    # A job the pass brought to its end has its logs stored, as the watcher would have.
    assert "hello from the pod" in InstanceLog.objects.get(job=done, container="main").text
    deleted.refresh_from_db()
    assert deleted.status == Status.FAILED and "outside the portal" in deleted.status_reason

    # Nothing changed since: the next pass records nothing and copies no logs.
    transitions = {job.pk: job.transitions.count() for job in Job.objects.all()}
    logs = InstanceLog.objects.count()
    before = reads(sim)
    tasks.reconcile_jobs()
    assert {job.pk: job.transitions.count() for job in Job.objects.all()} == transitions
    assert InstanceLog.objects.count() == logs
    # Four jobs still live, in chunks of two: two lists per chunk, nothing per job.
    assert reads(sim) - before == 2 * 2


def test_a_cluster_that_refuses_leaves_its_jobs_as_they_were(compute_ready, client_for, sim):
    job = submit(client_for("scientist"), "refused", **FOREVER)
    wait_for(lambda: pod_phases(sim, job) == ["Running"], what="kubesim to run the pod")
    sim.faults.update({"error_rate": 1.0, "error_code": 500})
    try:
        tasks.reconcile_jobs()  # logged, not raised
    finally:
        sim.faults.reset()
    job.refresh_from_db()
    assert job.status == Status.QUEUED
    tasks.reconcile_jobs()
    job.refresh_from_db()
    assert job.status == Status.RUNNING


def test_a_start_lost_with_a_worker_is_queued_again(
    compute_ready, client_for, sim, monkeypatch, settings
):
    """A worker killed with the start task in hand: the job would sit NotStarted for the
    transport's visibility time-out. The reconcile pass queues its start again once it has
    had no news for START_REQUEUE_SECONDS, says so on the job, and the job starts."""
    from datetime import timedelta

    from django.utils import timezone

    from jobs import services

    lost = []
    monkeypatch.setattr(services, "enqueue", lambda task, *args: lost.append(args))
    job = submit(client_for("scientist"), "lost-start")
    assert lost == [(job.pk,)] and Job.objects.get(pk=job.pk).status == Status.NOT_STARTED
    tasks.reconcile_jobs()  # fresh: somebody may still be starting it
    assert Job.objects.get(pk=job.pk).status == Status.NOT_STARTED
    old = timezone.now() - timedelta(seconds=settings.START_REQUEUE_SECONDS + 1)
    Job.objects.filter(pk=job.pk).update(updated_at=old)
    queued = []
    monkeypatch.setattr(tasks, "run_now", lambda task, *args: queued.append((task, args)))
    tasks.reconcile_jobs()
    assert queued == [(tasks.job_start, (job.pk,))]
    job.refresh_from_db()
    assert job.status == Status.NOT_STARTED and "start was lost" in job.status_reason
    assert workflows.stalled_starts() == []  # once per period, not on every pass
    tasks.job_start(job.pk)  # the queued start, as a worker runs it
    job.refresh_from_db()
    assert job.status == Status.QUEUED and job.cluster_uid, job.status_reason
    assert pod_phases(sim, job) is not None


def test_a_job_whose_objects_vanished_ends_with_its_instances(compute_ready, client_for, sim):
    """The cluster lost a running job's objects (restarted empty, or deleted by hand): the
    job fails, and its instance rows no longer say Running."""
    job = submit_job(client_for("scientist"), HELLO, "vanishing", **FOREVER)
    wait_for(lambda: pod_phases(sim, job) == ["Running"], what="the pod running")
    tasks.job_sync(job.pk)
    job.refresh_from_db()
    assert job.status == Status.RUNNING
    assert list(job.instances.values_list("phase", flat=True)) == ["Running"]

    def wipe():
        for kind in ("jobs.batch", "pods"):
            for obj in sim.store.list(kind, namespace="team-a")[0]:
                sim.store.delete(kind, obj["metadata"]["name"], namespace="team-a")

    sim.call(wipe)
    tasks.reconcile_jobs()
    job.refresh_from_db()
    assert job.status == Status.FAILED, job.status_reason
    instance = job.instances.get()
    assert (instance.phase, instance.state) == ("Failed", "terminated")
    assert "ended with the job" in instance.reason


def test_transitions_the_pass_fills_in_keep_their_reasons(compute_ready, client_for, sim):
    """A job that ran to its end while no watcher looked: the pass records each state it
    went through, each with what it meant and that it was recorded late."""
    job = submit(client_for("scientist"), "unwatched")
    wait_for(lambda: pod_phases(sim, job) == ["Succeeded"], what="kubesim to run the pod")
    tasks.reconcile_jobs()
    job.refresh_from_db()
    assert job.status == Status.COMPLETED
    steps = {t.to_status: t.reason for t in job.transitions.all()}
    assert "waiting for a worker" in steps["NotStarted"]
    for status in ("Preparing", "Running"):
        assert steps[status].endswith("(recorded late: the job was already Completed)"), steps
    assert all(steps[status] for status in ("NotStarted", "Queued", "Preparing", "Running"))
