"""Killing a real prefork Celery worker (SIGKILL) while job starts are in flight loses no
job, and live fragments sent from a prefork worker all arrive (production run: PostgreSQL
with its connection pool, Redis as broker and channel layer)."""

import asyncio
import os
import signal
import time

import pytest
import redis
from channels.layers import get_channel_layer
from django.conf import settings

from jobs import tasks
from jobs.models import Job, Status
from jobs.services import WAITING_FOR_WORKER
from tests.helpers import submit_job, wait_for
from tests.workers import PRODUCTION

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not PRODUCTION, reason="real workers need PostgreSQL and Redis"),
    pytest.mark.timeout(240),
]

HELLO = """
type: command
command: echo hello
environment:
  image: python:3.11-slim
compute: azureml:cpu-target
"""


def submit(client, count: int, prefix: str) -> list[Job]:
    return [submit_job(client, HELLO, f"{prefix}-{n}") for n in range(count)]


def started(jobs: list[Job]) -> list[Job]:
    return list(Job.objects.filter(pk__in=[j.pk for j in jobs]).exclude(cluster_uid=""))


def in_flight(sim, workers, jobs: list[Job]):
    """A worker whose job starts are under way (each cluster request made slow), then
    killed with all of its processes: the starts it held are neither done nor acknowledged."""
    posts = sim.stats()["requests"].get("POST", 0)
    sim.faults.latency_ms = 1500
    worker = workers()
    wait_for(lambda: sim.stats()["requests"].get("POST", 0) > posts, 30, "a start under way")
    worker.kill_group()
    sim.faults.latency_ms = 0
    unacked = redis.Redis.from_url(settings.REDIS_URL).hlen("unacked")
    assert unacked >= 1, "the killed worker held no task"
    assert len(started(jobs)) < len(jobs)
    return worker


@pytest.fixture
def no_latency(sim):
    yield
    sim.faults.latency_ms = 0


def test_tasks_a_killed_worker_held_are_handed_out_again(
    compute_ready, client_for, sim, workers, no_latency
):
    jobs = submit(client_for("scientist"), 5, "crash")
    in_flight(sim, workers, jobs)
    # Another worker takes the held tasks once they have been held past the visibility
    # time-out (an hour with the transport's default, seconds here).
    workers(PORTAL_TASK_VISIBILITY_SECONDS="4")
    wait_for(lambda: len(started(jobs)) == 5, 90, "every job started")
    assert set(
        Job.objects.filter(pk__in=[j.pk for j in jobs]).values_list("status", flat=True)
    ) == {Status.QUEUED}


def test_a_killed_pool_process_gives_its_task_back_at_once(
    compute_ready, client_for, sim, workers, no_latency
):
    jobs = submit(client_for("scientist"), 3, "child")
    posts = sim.stats()["requests"].get("POST", 0)
    sim.faults.latency_ms = 1000
    worker = workers()
    wait_for(lambda: sim.stats()["requests"].get("POST", 0) > posts, 30, "a start under way")
    for pid in worker.children():
        os.kill(pid, signal.SIGKILL)
    sim.faults.latency_ms = 0
    # Rejected when its process was lost, requeued, and run again by the same worker.
    wait_for(lambda: len(started(jobs)) == 3, 60, "every job started")
    assert "WorkerLostError" in worker.log()


def test_the_reconcile_pass_queues_again_starts_lost_with_a_worker(
    compute_ready, client_for, sim, workers, settings, no_latency
):
    """With the visibility time-out left long, the reconcile pass is what brings them back."""
    client = client_for("scientist")
    jobs = submit(client, 4, "requeue")
    page = client.get(f"/jobs/team-a/{jobs[0].name}/")
    assert WAITING_FOR_WORKER in page.content.decode()
    in_flight(sim, workers, jobs)
    workers()
    # The queued starts run; those the dead worker held are not handed out for 300 s.
    wait_for(lambda: len(started(jobs)) >= 1, 60, "the queued starts")
    time.sleep(2)
    lost = [j for j in jobs if j.pk not in {s.pk for s in started(jobs)}]
    assert lost, "nothing was lost: the test would prove nothing"
    settings.START_REQUEUE_SECONDS = 1
    time.sleep(1.1)
    tasks.reconcile_jobs()  # as beat runs it; its job_start tasks go to the worker
    wait_for(lambda: len(started(jobs)) == 4, 60, "every job started")


def test_live_fragments_sent_from_a_prefork_worker_all_arrive(compute_ready, client_for, workers):
    """Celery closes the database pool around every task in a prefork worker; fragments
    rendered by a sender thread then failed with "pool has already been closed"."""
    jobs = submit(client_for("scientist"), 16, "live")
    groups = {f"jobs.job.{job.pk}" for job in jobs}
    layer = get_channel_layer()
    got: dict[str, str] = {}

    async def listen() -> None:
        channel = await layer.new_channel()
        for group in groups:
            await layer.group_add(group, channel)
        worker = await asyncio.to_thread(workers)
        deadline = time.monotonic() + 60
        while {g for g, html in got.items() if "Queued" in html} != groups:
            assert time.monotonic() < deadline, f"fragments missing: {groups - set(got)}"
            try:
                message = await asyncio.wait_for(layer.receive(channel), 1.0)
            except TimeoutError:
                continue
            got[message["group"]] = got.get(message["group"], "") + message["html"]
        return worker

    worker = asyncio.run(listen())
    assert "pool has already" not in worker.log()
    assert "broadcast" not in worker.log()  # no failed render or send was logged


def test_a_worker_answers_probes_and_counts_its_pool_processes_tasks(
    compute_ready, client_for, workers, tmp_path
):
    """The probe port of a worker's main process; the tasks run in its pool processes,
    added up through the multi-process directory; their log lines name the task."""
    import socket
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    shared = tmp_path / "prometheus"
    shared.mkdir()
    worker = workers(
        PORTAL_PROBE_PORT=str(port),
        PORTAL_PROBE_ADDRESS="127.0.0.1",
        PROMETHEUS_MULTIPROC_DIR=str(shared),
    )
    base = f"http://127.0.0.1:{port}"
    with urllib.request.urlopen(base + "/readyz", timeout=10) as answer:
        assert answer.status == 200 and answer.read() == b"ready\n"
    jobs = submit(client_for("scientist"), 2, "metrics")
    wait_for(lambda: len(started(jobs)) == 2, 60, "the jobs started")

    def scraped() -> str:
        with urllib.request.urlopen(base + "/metrics", timeout=10) as answer:
            return answer.read().decode()

    wait_for(
        lambda: (
            'portal_tasks_total{outcome="success",task="jobs.tasks.job_start"} 2.0' in scraped()
        ),
        30,
        "the starts counted",
    )
    text = scraped()
    assert 'portal_task_queue_wait_seconds_count{task="jobs.tasks.job_start"} 2.0' in text
    assert 'portal_task_seconds_count{task="jobs.tasks.job_start"} 2.0' in text
    assert "[task=job_start:" in worker.log()
