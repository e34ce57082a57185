"""Watch ingest figures: how many status changes one watcher process applies per second, and
the latency from a change in kubesim to the frame a subscribed client receives.

Run by hand: ``.venv/bin/python bench/watch_ingest.py [--jobs 2000] [--rounds 5] [--seconds 8]``.
Prints figures, asserts nothing. Everything runs in this one process: kubesim (HTTP, no
controllers), the watch engine with the jobs handler, a temporary SQLite (WAL) database and
Channels' in-memory layer, whose subscribers stand in for websocket clients.

(a) ingest: every pod of ``--jobs`` portal jobs changes ``--rounds`` times (restartCount), as
    fast as kubesim can write; measured until the database shows every last value. Each applied
    change is an Instance row write plus the job's broadcast (fragments rendered on commit).
(b) latency: changes at a steady rate over 100 jobs; clients subscribe to the jobs' groups
    (round robin; the single client subscribes to all 100). Latency is from the kubesim write
    to the arrival of the frame showing that value (coalesced values have no frame of their own).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import tempfile
import threading
import time

os.environ["PORTAL_DATA_DIR"] = tempfile.mkdtemp(prefix="watch-bench-")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
# --production: PostgreSQL and the Redis channel layer (the clients then receive through
# Redis, as browsers connected to other web processes would).
PRODUCTION = "--production" in sys.argv
if PRODUCTION:
    import subprocess

    from cryptography.fernet import Fernet

    for sql in (
        "DROP DATABASE IF EXISTS portal_bench_watch WITH (FORCE)",
        "CREATE DATABASE portal_bench_watch",
    ):
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-c", sql],
            check=True,
            capture_output=True,
        )
    os.environ["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/portal_bench_watch"
    os.environ["REDIS_URL"] = "redis://127.0.0.1:6379/13"
    os.environ["PORTAL_SECRET_KEY"] = "bench-" + "x" * 60
    os.environ["PORTAL_ENCRYPTION_KEYS"] = Fernet.generate_key().decode()
else:
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("REDIS_URL", None)

import django  # noqa: E402

django.setup()

from channels.layers import channel_layers  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

from compute import credentials, gateway  # noqa: E402
from compute.models import Cluster, ClusterStatus, ComputeTarget  # noqa: E402
from compute.watching import ClusterWatch, registered  # noqa: E402
from jobs.models import Instance, Job, Status  # noqa: E402
from kubesim.server import KubeSim  # noqa: E402
from portal import live  # noqa: E402
from portal.layers import InProcessChannelLayer  # noqa: E402
from portal.models import User, Workspace  # noqa: E402

NS = "bench"
CLIENT_LOOP: asyncio.AbstractEventLoop | None = None
LABELS = {"kubeportal.io/managed-by": "kubeportal"}


class ClientLayer(InProcessChannelLayer):
    """The in-memory layer, with every send carried out on the clients' event loop (the
    watcher's broadcasts come from another thread, which asyncio queues do not allow)."""

    loop: asyncio.AbstractEventLoop | None = None

    async def group_send(self, group, message):
        future = asyncio.run_coroutine_threadsafe(super().group_send(group, message), self.loop)
        await asyncio.wrap_future(future)


def setup_portal(sim: KubeSim, jobs: int) -> tuple[Cluster, list[Job]]:
    call_command("migrate", verbosity=0)
    user = User.objects.create_user("bench", password="bench-password-1")
    workspace = Workspace.objects.create(slug="bench", name="Bench")
    cluster = Cluster.objects.create(
        name="bench",
        server=sim.url,
        credentials=credentials.encrypt({"token": sim.token}),
        status=ClusterStatus.CONNECTED,
    )
    target = ComputeTarget.objects.create(
        workspace=workspace, cluster=cluster, name="bench", namespace=NS, status="Succeeded"
    )
    Job.objects.bulk_create(
        Job(
            workspace=workspace,
            name=f"job-{i}",
            compute=target,
            instance_type="defaultinstancetype",
            spec_yaml="{}",
            spec={},
            image="busybox",
            status=Status.RUNNING,
            created_by=user,
        )
        for i in range(jobs)
    )
    return cluster, list(Job.objects.filter(workspace=workspace).order_by("pk"))


def pod_status(restarts: int) -> dict:
    return {
        "phase": "Running",
        "containerStatuses": [
            {
                "name": "main",
                "ready": True,
                "restartCount": restarts,
                "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}},
            }
        ],
    }


def fill_cluster(sim: KubeSim, jobs: list[Job]) -> None:
    def fill() -> None:
        store = sim.store
        store.create("namespaces", {"metadata": {"name": NS}})
        for job in jobs:
            labels = {**LABELS, "kubeportal.io/job-id": str(job.pk)}
            store.create(
                "jobs.batch",
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "metadata": {"name": job.object_name, "labels": labels},
                    "spec": {"template": {"spec": {"containers": [{"name": "main"}]}}},
                },
                namespace=NS,
            )
            store.create(
                "pods",
                {
                    "metadata": {"name": f"{job.object_name}-0", "labels": labels},
                    "spec": {"containers": [{"name": "main", "image": "busybox"}]},
                },
                namespace=NS,
            )
            store.patch(
                "pods",
                f"{job.object_name}-0",
                {"status": pod_status(0)},
                namespace=NS,
                subresource="status",
            )

    sim.call(fill)


def change(sim: KubeSim, job: Job, restarts: int) -> None:
    sim.store.patch(
        "pods",
        f"{job.object_name}-0",
        {"status": pod_status(restarts)},
        namespace=NS,
        subresource="status",
    )


def wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def ingest(sim: KubeSim, watch: ClusterWatch, jobs: list[Job], rounds: int, base: int) -> None:
    before_events = watch.events
    started = time.perf_counter()

    def burst() -> None:
        for r in range(1, rounds + 1):
            for job in jobs:
                change(sim, job, base + r)

    sim.call(burst)
    written = time.perf_counter()
    final = base + rounds
    done = wait_until(
        lambda: Instance.objects.filter(job__in=jobs, restarts=final).count() == len(jobs), 300
    )
    applied = time.perf_counter() - started
    live.flush()  # fragments are rendered and sent on portal.live's background thread
    elapsed = time.perf_counter() - started
    changes = len(jobs) * rounds
    handed = watch.events - before_events
    print(
        f"(a) ingest: {changes} changes to {len(jobs)} pods, written by kubesim in "
        f"{written - started:.2f}s{'' if done else ' (TIMED OUT)'}; in the database after "
        f"{applied:.2f}s ({changes / applied:,.0f} changes/s), broadcasts sent after "
        f"{elapsed:.2f}s ({changes / elapsed:,.0f} changes/s); the handler got {handed} "
        f"coalesced events ({handed / elapsed:,.0f} row writes + broadcasts/s)"
    )


def latency(
    sim: KubeSim, watch: ClusterWatch, jobs: list[Job], rate: int, clients: int, seconds: float
) -> None:
    layer = channel_layers["default"]
    sent: dict[tuple[int, int], float] = {}
    samples: list[float] = []
    value = re.compile(r"<td>(\d+)</td></tr>")
    groups = [f"jobs.job.{job.pk}" for job in jobs]
    joined: list[tuple[str, str]] = []

    async def client(index: int) -> None:
        channel = await layer.new_channel()
        mine = groups if clients == 1 else [groups[index % len(groups)]]
        for group in mine:
            await layer.group_add(group, channel)
            joined.append((group, channel))
        while True:  # cancelled at the end (a time-out would lose the layer's queue)
            message = await layer.receive(channel)
            now = time.perf_counter()
            html = message["html"]
            found = re.search(r'id="job-(\d+)-instances"', html)
            restarts = value.findall(html)
            if found and restarts:
                at = sent.get((int(found[1]), int(restarts[-1])))
                if at is not None:
                    samples.append(now - at)

    tasks = [asyncio.run_coroutine_threadsafe(client(i), CLIENT_LOOP) for i in range(clients)]
    time.sleep(0.5)
    counter = 1_000_000 + rate * 1000 + clients
    interval = 0.01
    per_tick = max(1, round(rate * interval))
    next_at = time.perf_counter()
    end = next_at + seconds
    produced = 0
    while time.perf_counter() < end:
        batch = []
        for _ in range(per_tick):
            job = jobs[produced % len(jobs)]
            counter += 1
            produced += 1
            batch.append((job, counter))

        def write(batch=batch) -> None:
            for job, restarts in batch:
                sent[(job.pk, restarts)] = time.perf_counter()
                change(sim, job, restarts)

        sim.call(write)
        next_at += interval
        time.sleep(max(0.0, next_at - time.perf_counter()))
    time.sleep(1.5)  # let the last frames arrive
    for task in tasks:
        task.cancel()

    async def unsubscribe() -> None:
        for group, channel in joined:
            await layer.group_discard(group, channel)

    asyncio.run_coroutine_threadsafe(unsubscribe(), CLIENT_LOOP).result(15)
    if samples:
        samples.sort()
        p50 = statistics.median(samples) * 1000
        p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))] * 1000
        print(
            f"(b) {rate:>5} changes/s, {clients:>4} clients: {len(samples):>6} frames, "
            f"p50 {p50:6.1f} ms, p99 {p99:7.1f} ms, max {samples[-1] * 1000:7.1f} ms"
        )
    else:
        print(f"(b) {rate} changes/s, {clients} clients: no frames received")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--production", action="store_true", help="PostgreSQL and Redis")
    args = parser.parse_args()
    global CLIENT_LOOP
    settings.TASKS_MODE = "immediate"
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    CLIENT_LOOP = loop
    if not PRODUCTION:
        ClientLayer.loop = loop
        channel_layers.backends["default"] = ClientLayer(capacity=1000)
    else:
        subprocess.run(["redis-cli", "-n", "13", "flushdb"], check=True, capture_output=True)

    sim = KubeSim(controllers=False, history_size=100_000, watch_queue=200_000).start()
    cluster, jobs = setup_portal(sim, args.jobs)
    fill_cluster(sim, jobs)
    kinds = [k for k in registered() if k.name in ("jobs", "pods", "events")]
    watch = ClusterWatch(cluster.pk, gateway.client_for(cluster), kinds).start()
    wait_until(lambda: Instance.objects.filter(job__in=jobs).count() == len(jobs), 120)
    mode = (
        "production (PostgreSQL, Redis channel layer)"
        if PRODUCTION
        else "embedded (SQLite, in-process layer)"
    )
    print(f"{args.jobs} jobs listed and applied; {os.cpu_count()} CPUs; {mode}")
    try:
        ingest(sim, watch, jobs, args.rounds, 0)
        subset = jobs[:100]
        for rate in (100, 1000):
            for clients in (1, 100, 1000):
                latency(sim, watch, subset, rate, clients, args.seconds)
    finally:
        watch.stop()
        sim.stop()


if __name__ == "__main__":
    main()
