"""Job submissions per second through the API, and time from accept to the Job in the cluster.

Run by hand (prints figures, asserts nothing):

    .venv/bin/python bench/api_submit.py                 # embedded: SQLite, thread-pool tasks
    .venv/bin/python bench/api_submit.py --production    # PostgreSQL + Redis + a Celery worker

It starts kubesim in-process, the portal under uvicorn in a thread (and, in the
production mode, a Celery worker process), submits ``--jobs`` jobs from
``--clients`` concurrent clients, and records when each Job object appears in
kubesim's store (a store listener), so "accept → Job exists" is measured at the
cluster, not by polling the portal.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

JOB = """type: command
command: echo hi
environment:
  image: python:3.11-slim
compute: azureml:cpu-target
environment_variables:
  KUBESIM_RUN_FOREVER: "true"
"""


def configure(production: bool, data_dir: str) -> None:
    os.environ["PORTAL_DATA_DIR"] = data_dir
    os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    if production:
        from cryptography.fernet import Fernet

        os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portal_bench")
        os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
        os.environ.setdefault("PORTAL_SECRET_KEY", "bench-" + "x" * 60)
        os.environ.setdefault("PORTAL_ENCRYPTION_KEYS", Fernet.generate_key().decode())
        os.environ["PORTAL_SECURE_SSL_REDIRECT"] = "0"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--production", action="store_true")
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()
    data_dir = tempfile.mkdtemp(prefix="bench-submit-")
    configure(args.production, data_dir)

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    if args.production:
        subprocess.run(
            [
                "psql",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-c",
                "DROP DATABASE IF EXISTS portal_bench",
            ],
            check=False,
            capture_output=True,
        )
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-c", "CREATE DATABASE portal_bench"],
            check=True,
            capture_output=True,
        )
    call_command("migrate", verbosity=0)

    from kubesim.server import KubeSim

    kubeconfig = Path(data_dir) / "kubeconfig"
    sim = KubeSim(
        port=0, nodes="cpu=20x64c256g", speed=50, tls=True, kubeconfig=str(kubeconfig)
    ).start()
    created_at: dict[str, float] = {}

    def listener(event_type, resource, obj):
        if resource == "jobs.batch" and event_type == "ADDED":
            created_at[obj["metadata"]["labels"].get("kubeportal.io/job-id", "")] = time.monotonic()

    sim.call(sim.store.add_listener, listener)

    from compute import kubeconfig as kc
    from compute import services as compute_services
    from portal import services as portal_services
    from portal.models import Membership, Role, User, Workspace

    settings.TASKS_MODE = "immediate"  # set up synchronously, then switch to the mode under test
    user = User.objects.create_user("bench", password="bench-password")
    workspace = Workspace.objects.create(slug="bench", name="Bench")
    Membership.objects.create(workspace=workspace, user=user, role=Role.DATA_SCIENTIST)
    cluster = compute_services.cluster_attach(name="sim", access=kc.read(kubeconfig.read_text()))
    compute_services.extension_install(
        cluster=cluster, training=True, inference=True, node_selector={}
    )
    cluster.refresh_from_db()
    compute_services.target_create(
        workspace=workspace,
        cluster=cluster,
        name="cpu-target",
        namespace="bench",
        create_namespace=True,
    )
    _token, raw = portal_services.token_create(user=user, name="bench")
    settings.TASKS_MODE = "celery" if args.production else "thread"

    worker = None
    if args.production:
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "portal",
                "worker",
                "--concurrency",
                "4",
                "--loglevel",
                "WARNING",
            ],
            cwd=ROOT,
            env=os.environ.copy(),
        )
        time.sleep(4)

    import requests
    import uvicorn

    from portal.asgi import application

    server = uvicorn.Server(
        uvicorn.Config(
            application, host="127.0.0.1", port=0, lifespan="off", log_level="warning", workers=1
        )
    )
    server.config.port = _free_port()
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{server.config.port}/api/v1/workspaces/bench/jobs/"

    local = threading.local()
    accepted: dict[str, float] = {}
    latencies: list[float] = []

    def submit(i: int) -> None:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
            session.headers["Authorization"] = f"Bearer {raw}"
        started = time.monotonic()
        response = session.post(
            url, json={"yaml": JOB, "overrides": {"name": f"bench-{i}"}}, timeout=60
        )
        done = time.monotonic()
        if response.status_code != 202:
            raise RuntimeError(f"{response.status_code}: {response.text[:300]}")
        accepted[str(response.json()["id"])] = done
        latencies.append(done - started)

    began = time.monotonic()
    with ThreadPoolExecutor(args.clients) as pool:
        list(pool.map(submit, range(args.jobs)))
    elapsed = time.monotonic() - began
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(set(accepted) & set(created_at)) < len(accepted):
        time.sleep(0.2)
    to_cluster = [max(0.0, created_at[k] - accepted[k]) for k in accepted if k in created_at]
    mode = (
        "production (PostgreSQL, Redis, Celery worker x4)"
        if args.production
        else "embedded (SQLite, thread pool)"
    )
    print(f"mode: {mode}; {args.jobs} jobs from {args.clients} clients")
    print(f"submissions/s through the API: {args.jobs / elapsed:.0f}")
    print(
        f"API latency: median {statistics.median(latencies) * 1000:.0f} ms, p99 {percentile(latencies, 0.99) * 1000:.0f} ms"
    )
    if to_cluster:
        print(
            f"accept -> Job exists in the cluster: median {statistics.median(to_cluster) * 1000:.0f} ms, "
            f"p99 {percentile(to_cluster, 0.99) * 1000:.0f} ms ({len(to_cluster)}/{len(accepted)} arrived)"
        )
    server.should_exit = True
    if worker is not None:
        worker.terminate()
        worker.wait(timeout=10)
    sim.stop()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


if __name__ == "__main__":
    main()
