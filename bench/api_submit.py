"""Job submissions per second through the API, and time from accept to the Job in the cluster.

Run by hand (prints figures, asserts nothing):

    .venv/bin/python bench/api_submit.py                 # embedded: SQLite, thread-pool tasks
    .venv/bin/python bench/api_submit.py --production    # PostgreSQL + Redis + a Celery worker

It starts kubesim as a process, the portal under uvicorn in a thread (and, in the
production mode, a Celery worker process), submits ``--jobs`` jobs from
``--clients`` concurrent clients, and records when each Job object appears in
kubesim (a watch on batch/v1 Jobs), so "accept → Job exists" is measured at the
cluster, not by polling the portal.
"""

import argparse
import atexit
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
    parser.add_argument("--web-workers", type=int, default=2)
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

    # kubesim runs as its own process, as in `make run`, so it does not share this GIL.
    kubeconfig = Path(data_dir) / "kubeconfig"
    sim_port = _free_port()
    sim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kubesim",
            "--port",
            str(sim_port),
            "--kubeconfig",
            str(kubeconfig),
            "--tls",
            "--nodes",
            "cpu=20x64c256g",
            "--speed",
            "50",
            "--log-level",
            "WARNING",
        ],
        cwd=ROOT,
    )
    atexit.register(sim.kill)  # never leave it running when the run fails
    while not kubeconfig.exists():
        time.sleep(0.1)
    time.sleep(0.5)
    created_at: dict[str, float] = {}
    threading.Thread(target=_watch_jobs, args=(kubeconfig, created_at), daemon=True).start()

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
        atexit.register(worker.kill)  # never leave it running when the run fails
        time.sleep(4)

    import requests

    port = _free_port()
    web = None
    if args.production:
        # As deployed: uvicorn worker processes beside the Celery worker.
        web = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "portal.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(args.web_workers),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=os.environ.copy(),
        )
        atexit.register(web.kill)  # never leave it running when the run fails
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.get(f"http://127.0.0.1:{port}/api/v1/schema/", timeout=5)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
    else:
        # As `make run`: one process, tasks on its thread pool.
        import uvicorn

        from portal.asgi import application

        server = uvicorn.Server(
            uvicorn.Config(
                application, host="127.0.0.1", port=port, lifespan="off", log_level="warning"
            )
        )
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
    url = f"http://127.0.0.1:{port}/api/v1/workspaces/bench/jobs/"

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
        f"production (PostgreSQL, Redis, {args.web_workers} uvicorn workers, Celery worker x4)"
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
    if web is not None:
        web.terminate()
        web.wait(timeout=10)
    if worker is not None:
        worker.terminate()
        worker.wait(timeout=10)
    sim.terminate()
    sim.wait(timeout=10)


def _watch_jobs(kubeconfig: Path, created_at: dict[str, float]) -> None:
    """Records when each portal Job object appears in the cluster (a watch, as kubectl would)."""
    import json

    import requests
    import yaml

    from compute.kube.labels import JOB_ID, JOB_SELECTOR

    config = yaml.safe_load(kubeconfig.read_text())
    server = config["clusters"][0]["cluster"]["server"]
    token = config["users"][0]["user"]["token"]
    ca = Path(kubeconfig.parent / "ca.pem")
    import base64

    ca.write_bytes(base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"]))
    url = f"{server}/apis/batch/v1/jobs?watch=1&labelSelector={JOB_SELECTOR}"
    with requests.get(
        url, headers={"Authorization": f"Bearer {token}"}, stream=True, verify=str(ca), timeout=None
    ) as response:
        for line in response.iter_lines():
            event = json.loads(line)
            if event["type"] == "ADDED":
                labels = event["object"]["metadata"].get("labels", {})
                created_at.setdefault(labels.get(JOB_ID, ""), time.monotonic())


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


if __name__ == "__main__":
    main()
