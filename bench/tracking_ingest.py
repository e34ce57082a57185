"""Run tracking: metric points ingested per second through ``runs/log-batch``, and the
downsampled read of a long series for a chart.

Run by hand (prints figures, asserts nothing):

    .venv/bin/python bench/tracking_ingest.py [--batches 200] [--history 1000000] [--production]

Requests go through Django's test client (no network) into a temporary database (SQLite,
or PostgreSQL with ``--production``): each batch is 1,000 points, MLflow's largest.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def setup(production: bool) -> None:
    os.environ["PORTAL_DATA_DIR"] = tempfile.mkdtemp(prefix="bench-tracking-")
    os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    if production:
        from cryptography.fernet import Fernet

        os.environ["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/portal_bench_tracking"
        os.environ.setdefault("PORTAL_SECRET_KEY", "bench-" + "x" * 60)
        os.environ.setdefault("PORTAL_ENCRYPTION_KEYS", Fernet.generate_key().decode())
        os.environ["PORTAL_SECURE_SSL_REDIRECT"] = "0"
        for sql in (
            "DROP DATABASE IF EXISTS portal_bench_tracking",
            "CREATE DATABASE portal_bench_tracking",
        ):
            subprocess.run(
                ["psql", "-h", "127.0.0.1", "-U", "postgres", "-c", sql],
                check=True,
                capture_output=True,
            )
    else:
        os.environ.pop("DATABASE_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--history", type=int, default=1_000_000)
    parser.add_argument("--production", action="store_true")
    args = parser.parse_args()
    setup(args.production)
    from django.conf import settings
    from django.test import Client

    from portal import services as portal_services
    from portal.models import Membership, Role, User, Workspace
    from tracking import history, rollup
    from tracking.models import Metric, Run
    from tracking.store import experiment_for, run_create

    settings.ALLOWED_HOSTS = ["*"]
    settings.LIVE_SEND_IN_BACKGROUND = False
    workspace = Workspace.objects.create(slug="bench", name="Bench")
    user = User.objects.create_user("bench")
    Membership.objects.create(workspace=workspace, user=user, role=Role.DATA_SCIENTIST)
    raw = portal_services.token_create(user=user, name="bench")[1]
    run = run_create(experiment=experiment_for(workspace, "bench"), name="ingest", user=user)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    url = "/mlflow/bench/api/2.0/mlflow/runs/log-batch"
    times = []
    step = 0
    started = time.perf_counter()
    for _ in range(args.batches):
        metrics = []
        for _ in range(250):
            for key in ("loss", "acc", "lr", "grad"):
                metrics.append(
                    {
                        "key": key,
                        "value": step * 0.001,
                        "timestamp": 1_700_000_000_000 + step,
                        "step": step,
                    }
                )
            step += 1
        body = json.dumps({"run_id": run.run_id, "metrics": metrics})
        begin = time.perf_counter()
        response = client.post(url, body, content_type="application/json")
        times.append(time.perf_counter() - begin)
        assert response.status_code == 200, response.content
    elapsed = time.perf_counter() - started
    points = args.batches * 1000
    mode = "production" if args.production else "embedded"
    print(
        f"log-batch ({mode}): {points} points in {elapsed:.2f} s = {points / elapsed:,.0f} points/s; "
        f"per batch median {statistics.median(times) * 1000:.1f} ms, p99 {percentile(times, 99) * 1000:.1f} ms"
    )

    long_run = run_create(experiment=experiment_for(workspace, "bench"), name="long", user=user)
    chunk = 50_000
    for start in range(0, args.history, chunk):
        Metric.objects.bulk_create(
            [
                Metric(run_id=long_run.pk, key="loss", step=i, timestamp=i, value=(i % 977) / 977)
                for i in range(start, min(args.history, start + chunk))
            ],
            batch_size=5000,
        )
    rollup.rebuild(long_run.pk)  # the points went in by bulk insert, past log-batch
    reads = []
    for _ in range(10):
        begin = time.perf_counter()
        buckets, total = history.downsample(long_run.pk, "loss", 1000)
        reads.append(time.perf_counter() - begin)
    print(
        f"downsampled read of {total:,} points to {len(buckets)} buckets ({mode}): "
        f"median {statistics.median(reads) * 1000:.0f} ms, p99 {percentile(reads, 99) * 1000:.0f} ms"
    )
    assert Run.objects.count() == 2


if __name__ == "__main__":
    main()
