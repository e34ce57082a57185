"""Run tracking in the studio: server time of an experiment page with 10,000 runs (plain,
filtered, ordered by a metric) and of the chart series of a 1,000,000-point metric.

Run by hand (prints figures, asserts nothing):

    .venv/bin/python bench/tracking_pages.py [--runs 10000] [--history 1000000] [--production]
"""

import argparse
import random
import statistics
import time

from tracking_ingest import percentile, setup


def timed(client, url, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        begin = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - begin)
        assert response.status_code == 200, (url, response.status_code)
    return times


def report(label: str, times: list[float]) -> None:
    print(
        f"{label}: median {statistics.median(times) * 1000:.0f} ms, "
        f"p95 {percentile(times, 95) * 1000:.0f} ms, p99 {percentile(times, 99) * 1000:.0f} ms "
        f"({len(times)} requests)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--history", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--production", action="store_true")
    args = parser.parse_args()
    setup(args.production)
    from django.conf import settings
    from django.test import Client

    from portal.models import Membership, Role, User, Workspace
    from tracking import rollup
    from tracking.models import LatestMetric, Metric, Param, Run
    from tracking.store import experiment_for

    settings.ALLOWED_HOSTS = ["*"]
    workspace = Workspace.objects.create(slug="bench", name="Bench")
    user = User.objects.create_user("bench")
    Membership.objects.create(workspace=workspace, user=user, role=Role.READER)
    experiment = experiment_for(workspace, "sweep")
    rng = random.Random(7)
    begin = time.perf_counter()
    runs = Run.objects.bulk_create(
        [
            Run(workspace=workspace, experiment=experiment, name=f"run-{i}", start_time=i)
            for i in range(args.runs)
        ],
        batch_size=2000,
    )
    Param.objects.bulk_create(
        [
            Param(run=run, key=key, value=str(rng.choice(values)))
            for run in runs
            for key, values in (
                ("lr", (0.1, 0.01, 0.001)),
                ("batch_size", (32, 64, 128)),
                ("layers", (2, 3, 4)),
                ("optimizer", ("adam", "sgd")),
                ("seed", range(100)),
            )
        ],
        batch_size=5000,
    )
    LatestMetric.objects.bulk_create(
        [
            LatestMetric(run=run, key=key, step=9, timestamp=1, value=rng.random())
            for run in runs
            for key in ("accuracy", "loss", "f1")
        ],
        batch_size=5000,
    )
    print(f"seeded {args.runs:,} runs in {time.perf_counter() - begin:.1f} s")
    client = Client()
    client.force_login(user)
    page = f"/experiments/bench/{experiment.pk}/"
    timed(client, page, 3)  # warm up
    report(f"experiment page, {args.runs:,} runs", timed(client, page, args.repeats))
    report(
        "  filtered (metrics.accuracy > 0.5 and params.optimizer = 'adam')",
        timed(
            client,
            page + "?filter=metrics.accuracy+%3E+0.5+and+params.optimizer+%3D+%27adam%27",
            args.repeats,
        ),
    )
    report(
        "  ordered by metrics.accuracy DESC, page 20",
        timed(client, page + "?order=metrics.accuracy+DESC&page=20", args.repeats),
    )

    long_run = Run.objects.create(workspace=workspace, experiment=experiment, name="long")
    chunk = 50_000
    for start in range(0, args.history, chunk):
        Metric.objects.bulk_create(
            [
                Metric(run_id=long_run.pk, key="loss", step=i, timestamp=i, value=(i % 977) / 977)
                for i in range(start, min(args.history, start + chunk))
            ],
            batch_size=5000,
        )
    LatestMetric.objects.create(
        run=long_run, key="loss", step=args.history - 1, timestamp=1, value=0.5
    )
    rollup.rebuild(long_run.pk)  # the points went in by bulk insert, past log-batch
    series = f"/runs/bench/{long_run.run_id}/series?width=1000"
    report(
        f"chart series of a {args.history:,}-point metric, 1000 buckets",
        timed(client, series, max(5, args.repeats // 4)),
    )


if __name__ == "__main__":
    main()
