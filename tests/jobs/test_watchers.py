"""Jobs driven by the watch engine (no job_sync) against kubesim over HTTP, with faults."""

import threading
import time
from contextlib import contextmanager

import pytest
from django.db import transaction
from django.urls import reverse

from compute.kube.watch import WatchSupervisor
from jobs.models import Job, JobEvent, Status
from tests.helpers import make_jobs, submit_job, wait_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("sqlite_readers_never_wait"),
]

HELLO = """
type: command
name: hello
command: echo "hello world"
environment:
  image: python:3.11-slim
compute: azureml:cpu-target
environment_variables:
  KUBESIM_LOG_LINES: "hello world"
"""


FAST = {"tick": 0.3, "lease_seconds": 5.0, "watch_options": {"backoff_cap": 1.0}}


@contextmanager
def watching(sim, **options):
    """Runs a supervisor for the test; always stops it and turns the simulator's faults off."""
    supervisor = WatchSupervisor(**{**FAST, **options}).start()
    try:
        yield supervisor
    finally:
        supervisor.stop()
        sim.faults.reset()
        leaked = [t.name for t in threading.enumerate() if t.name.startswith("watch-")]
        assert not leaked, leaked


def submit(client, name: str, **overrides) -> Job:
    return submit_job(client, HELLO, name, **overrides)


def terminal(job_id: int, timeout: float = 15.0) -> Job:
    def done():
        job = Job.objects.get(pk=job_id)
        return job if job.is_terminal else None

    return wait_for(done, timeout, f"job {job_id} to end")


def statuses(job: Job) -> list[str]:
    return [t.to_status for t in job.transitions.all()]


def assert_clean_path(job: Job, final: str = Status.COMPLETED) -> None:
    path = statuses(job)
    assert path[:2] == [Status.NOT_STARTED, Status.QUEUED], path
    assert path[-1] == final, (path, job.status_reason)
    assert len(path) == len(set(path)), path  # each once
    allowed = [Status.NOT_STARTED, Status.QUEUED, Status.PREPARING, Status.RUNNING]
    # Finalizing shows when the watcher sees every pod done before the Job's condition.
    allowed += [Status.FINALIZING, final] if final == Status.COMPLETED else [final]
    assert [s for s in allowed if s in path] == path, path  # in order, nothing else


def test_watchers_drive_a_job_to_completion(compute_ready, client_for, sim):
    job = submit(client_for("scientist"), "hello")  # before the watchers: no write contention
    with watching(sim):
        job = terminal(job.pk)
    assert job.status == Status.COMPLETED, job.status_reason
    assert_clean_path(job)
    assert Status.RUNNING in statuses(job)
    assert job.instances.get().state == "terminated"
    assert JobEvent.objects.filter(job=job).exists()
    page = client_for("reader").get(reverse("job-detail", args=["team-a", job.name]))
    assert page.status_code == 200
    html = page.content.decode()
    assert f'id="job-{job.pk}-events"' in html and "SuccessfulCreate" in html


SLOW = {"environment_variables.KUBESIM_DURATION": "40"}  # 2 s of wall time at speed 20


@pytest.mark.parametrize(
    "faults",
    [
        {"error_rate": 0.3, "error_code": 500},
        {"error_rate": 0.3, "error_code": 429},
        {"latency_ms": 80},
    ],
    ids=["http-500", "http-429", "latency"],
)
def test_api_faults_still_reach_the_final_state(compute_ready, client_for, sim, faults):
    job = submit(client_for("scientist"), "faulty", **SLOW)
    with watching(sim):
        sim.faults.update(faults)
        job = terminal(job.pk)
    assert_clean_path(job)


def _drop(sim) -> None:
    sim.call(sim.faults.drop_watches)


def _compact(sim) -> None:
    # On the simulator's loop, so the streams close before they send what follows.
    sim.call(lambda: (sim.faults.compact(), sim.faults.drop_watches()))


def _restart(sim) -> None:
    sim.restart(keep_state=True)


@pytest.mark.parametrize("disrupt", [_drop, _compact, _restart], ids=["drop", "410", "restart"])
@pytest.mark.parametrize("final", [Status.COMPLETED, Status.FAILED])
def test_stream_disruptions_lose_and_repeat_nothing(compute_ready, client_for, sim, disrupt, final):
    extra = {} if final == Status.COMPLETED else {"environment_variables.KUBESIM_EXIT_CODE": "3"}
    job = submit(client_for("scientist"), "disrupted", **SLOW, **extra)
    stop = threading.Event()

    def keep_disrupting() -> None:
        while not stop.wait(0.4):
            disrupt(sim)

    disruptor = threading.Thread(target=keep_disrupting, daemon=True)
    with watching(sim):
        disruptor.start()
        try:
            job = terminal(job.pk)
        finally:
            stop.set()
            disruptor.join(5)
    assert_clean_path(job, final)
    if final == Status.FAILED:
        assert "exited with code 3" in job.status_reason


def test_restarted_watcher_catches_up_with_deletions(compute_ready, client_for, sim):
    job = submit(
        client_for("scientist"), "forever", **{"environment_variables.KUBESIM_RUN_FOREVER": "true"}
    )
    with watching(sim):
        wait_for(lambda: Job.objects.get(pk=job.pk).status == Status.RUNNING, what="the job to run")
    # Nobody watches now: the Job is deleted behind the portal's back.
    sim.call(lambda: sim.store.delete("jobs.batch", job.object_name, namespace="team-a"))
    time.sleep(0.3)
    assert Job.objects.get(pk=job.pk).status == Status.RUNNING
    with watching(sim):
        job = terminal(job.pk)
    assert job.status == Status.FAILED and "outside the portal" in job.status_reason
    assert_clean_path(job, Status.FAILED)


def test_old_states_never_move_a_job_backwards(compute_ready, client_for):
    from jobs import state

    job = submit(client_for("scientist"), "replayed")
    state.record_transition(job, Status.RUNNING, "")
    before = statuses(job)
    for old in (Status.QUEUED, Status.PREPARING, Status.QUEUED):
        with transaction.atomic():
            state.apply_observed(Job.objects.get(pk=job.pk), old, "replayed event", [])
    job.refresh_from_db()
    assert job.status == Status.RUNNING and statuses(job) == before


def test_a_watch_batch_costs_as_many_queries_for_many_jobs_as_for_few(
    compute_ready, personas, monkeypatch
):
    """The handler's reads and writes are per batch, not per job; the spec (large in real
    jobs) is not loaded for a status."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from compute.kube.labels import JOB_ID as LABEL_JOB
    from compute.kube.watch import Batch, Cache, Event
    from compute.models import ComputeTarget
    from jobs import watch_handlers
    from jobs.models import Instance
    from jobs.state import INDEX_ANNOTATION

    monkeypatch.setattr(watch_handlers, "_broadcast", lambda *args, **kwargs: None)
    target = ComputeTarget.objects.get(name="cpu-target")
    jobs = make_jobs(
        target,
        12,
        prefix="w",
        created_by=personas["scientist"],
        spec_yaml="command: x\n" * 200,
        spec={"command": ["x"] * 500},
        status=Status.RUNNING,
    )

    def batch(chosen: list[Job], restarts: int) -> Batch:
        caches = {
            "jobs": Cache(watch_handlers._job_label),
            "pods": Cache(watch_handlers._job_label),
            "events": Cache(watch_handlers._involved),
        }
        for cache in caches.values():
            cache.synced = True  # as after the readers' first list
        events = []
        for job in chosen:
            meta = {"namespace": target.namespace, "labels": {LABEL_JOB: str(job.pk)}}
            caches["jobs"].put(
                f"{target.namespace}/{job.object_name}",
                {"metadata": {**meta, "name": job.object_name}, "status": {"active": 2}},
            )
            for index in range(2):
                name = f"{job.object_name}-{index}"
                pod = {
                    "metadata": {
                        **meta,
                        "name": name,
                        "annotations": {INDEX_ANNOTATION: str(index)},
                    },
                    "spec": {"nodeName": "node-1"},
                    "status": {
                        "phase": "Running",
                        "containerStatuses": [
                            {"name": "main", "restartCount": restarts, "state": {"running": {}}}
                        ],
                    },
                }
                caches["pods"].put(f"{target.namespace}/{name}", pod)
                events.append(Event("pods", "MODIFIED", f"{target.namespace}/{name}", pod))
        return Batch(target.cluster_id, events, caches)

    watch_handlers.handle(batch(jobs, 0))  # creates the instance rows
    assert Instance.objects.filter(job__in=jobs).count() == 24
    with CaptureQueriesContext(connection) as few:
        watch_handlers.handle(batch(jobs[:2], 1))
    with CaptureQueriesContext(connection) as many:
        watch_handlers.handle(batch(jobs, 2))
    assert Instance.objects.filter(job__in=jobs, restarts=2).count() == 24
    assert len(many) == len(few), [q["sql"][:80] for q in many]
    assert not any("spec_yaml" in q["sql"] for q in many)
