"""Charts of long series read rollups: the same shape (extremes kept, means right) as the
points give, kept up to date batch by batch, and rebuilt from points alike."""

import math

import pytest

from tracking import history, rollup, store
from tracking.models import MetricRollup

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(team_a):
    return store.run_create(experiment=store.experiment_create(team_a, "long"), name="long")


def log_series(run, n, *, batch=999):
    for start in range(0, n, batch):
        store.log_batch(
            run,
            metrics=[
                {"key": "loss", "value": math.sin(s / 50) + (5 if s == 7777 else 0), "step": s,
                 "timestamp": 1_000 + 10 * s}
                for s in range(start, min(n, start + batch))
            ] + ([{"key": "loss", "value": float("nan"), "step": start, "timestamp": 1}]
                 if start == 0 else []),
        )  # fmt: skip


def test_long_series_come_from_rollups_with_their_extremes(run):
    log_series(run, 40_000)
    found = rollup.read(run.pk, "loss", 100)
    assert found is not None
    buckets, total = found
    assert total == 40_000  # the NaN point is not drawn
    assert 50 <= len(buckets) <= 100
    assert max(b.high for b in buckets) == pytest.approx(5 + math.sin(7777 / 50))
    assert min(b.low for b in buckets) == pytest.approx(-1, abs=1e-3)
    assert sum(b.count for b in buckets) == 40_000
    mean = sum(b.mean * b.count for b in buckets) / 40_000
    exact = sum(math.sin(s / 50) for s in range(40_000)) / 40_000 + 5 / 40_000
    assert mean == pytest.approx(exact)
    assert buckets[0].x == 0 and buckets == sorted(buckets, key=lambda b: b.x)
    by_time, _ = rollup.read(run.pk, "loss", 100, by="timestamp")
    assert by_time[0].x == 1_000 and len(by_time) == len(buckets)
    # history.downsample, which the chart series use, reads the rollups.
    assert history.downsample(run.pk, "loss", 100) == found


def test_short_series_are_read_from_their_points(run):
    log_series(run, 3_000)
    assert rollup.read(run.pk, "loss", 100) is None
    buckets, total = history.downsample(run.pk, "loss", 100)
    assert total == 3_000 and len(buckets) <= 101


def test_rebuild_gives_what_the_batches_built(run):
    log_series(run, 5_000, batch=333)
    built = set(MetricRollup.objects.filter(run=run).values_list(
        "key", "size", "block", "first_step", "first_timestamp", "low", "high", "count"))  # fmt: skip
    totals = dict(((r.size, r.block), r.total) for r in MetricRollup.objects.filter(run=run))
    rollup.rebuild(run.pk)
    rebuilt = set(MetricRollup.objects.filter(run=run).values_list(
        "key", "size", "block", "first_step", "first_timestamp", "low", "high", "count"))  # fmt: skip
    assert rebuilt == built
    for r in MetricRollup.objects.filter(run=run):
        assert r.total == pytest.approx(totals[(r.size, r.block)])
