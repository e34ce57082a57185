"""How the job list behaves at 100,000 jobs: page, filter, search, sort and the API list.

Run by hand (prints figures, asserts nothing):

    .venv/bin/python bench/job_list.py [--jobs 100000] [--production]

Creates the jobs in bulk in a temporary database (SQLite, or PostgreSQL with
``--production``), then times requests through Django's test client (no network),
median and p99 over ``--repeat`` runs each.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--production", action="store_true")
    args = parser.parse_args()
    os.environ["PORTAL_DATA_DIR"] = tempfile.mkdtemp(prefix="bench-list-")
    os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    if args.production:
        from cryptography.fernet import Fernet

        os.environ["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/portal_bench_list"
        os.environ.setdefault("PORTAL_SECRET_KEY", "bench-" + "x" * 60)
        os.environ.setdefault("PORTAL_ENCRYPTION_KEYS", Fernet.generate_key().decode())
        os.environ["PORTAL_SECURE_SSL_REDIRECT"] = "0"
        for sql in (
            "DROP DATABASE IF EXISTS portal_bench_list",
            "CREATE DATABASE portal_bench_list",
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
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client

    settings.ALLOWED_HOSTS = ["*"]
    settings.STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    call_command("migrate", verbosity=0)
    from compute.models import Cluster, ComputeTarget
    from jobs.models import Job, Status
    from portal.models import Membership, Role, User, Workspace

    user = User.objects.create_user("bench", password="bench-password")
    workspace = Workspace.objects.create(slug="bench", name="Bench")
    Membership.objects.create(workspace=workspace, user=user, role=Role.DATA_SCIENTIST)
    cluster = Cluster.objects.create(name="c", server="https://127.0.0.1:1", credentials=b"-")
    target = ComputeTarget.objects.create(
        workspace=workspace, cluster=cluster, name="cpu-target", namespace="bench"
    )
    statuses = [Status.COMPLETED, Status.FAILED, Status.RUNNING, Status.QUEUED, Status.CANCELED]
    began = time.monotonic()
    batch = []
    for i in range(args.jobs):
        batch.append(
            Job(
                workspace=workspace,
                name=f"job-{i}",
                display_name=f"Run {i}",
                experiment_name=f"exp-{i % 200}",
                tags={"team": f"t{i % 7}"},
                compute=target,
                instance_type="defaultinstancetype",
                spec_yaml="x",
                spec={},
                image="python:3.11-slim",
                created_by=user,
                status=statuses[i % len(statuses)],
            )
        )
        if len(batch) == 5000:
            Job.objects.bulk_create(batch)
            batch = []
    Job.objects.bulk_create(batch)
    print(
        f"created {args.jobs} jobs in {time.monotonic() - began:.1f} s ({'PostgreSQL' if args.production else 'SQLite'})"
    )

    client = Client()
    client.force_login(user)
    cases = [
        ("list page 1", "/jobs/bench/"),
        ("list page 1000", "/jobs/bench/?page=1000"),
        ("filter status", "/jobs/bench/?status=Failed"),
        ("filter experiment", "/jobs/bench/?experiment=exp-42"),
        ("search", "/jobs/bench/?search=Run%2099999"),
        ("sort by name", "/jobs/bench/?ordering=name"),
        ("group by experiment", "/jobs/bench/?group=experiment&ordering=experiment"),
        ("tag filter", "/jobs/bench/?tag=team%3Dt3"),
        ("API list", "/api/v1/workspaces/bench/jobs/?limit=50"),
        ("API filter", "/api/v1/workspaces/bench/jobs/?status=Running&experiment=exp-7"),
    ]
    for label, url in cases:
        times = []
        for _ in range(args.repeat):
            start = time.monotonic()
            response = client.get(url)
            times.append(time.monotonic() - start)
            assert response.status_code == 200, (url, response.status_code)
        times.sort()
        p99 = times[min(len(times) - 1, int(0.99 * (len(times) - 1)))]
        print(
            f"{label:<22} median {statistics.median(times) * 1000:7.1f} ms   p99 {p99 * 1000:7.1f} ms"
        )


if __name__ == "__main__":
    main()
