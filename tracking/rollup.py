"""Rollups of metric points, so that a chart of a long series costs a few thousand rows.

Each point is added, as it is stored, to one block per size in ``SIZES`` (block = step //
size): the block's minimum, maximum, sum and count, and its first step and timestamp. A
chart ``width`` buckets wide reads the coarsest size that still has ``width`` blocks
(fewer than 8 × ``width`` rows, since sizes grow eightfold) and merges them into buckets;
a series too short for the finest size is read point by point (at most 64 × ``width``).

Along the time axis the same step blocks are placed at their first timestamp: training
logs steps and time together, so the chart is the same shape.
"""

import math
from dataclasses import dataclass

from django.db import connection
from django.db.models import Count

from tracking import bulk
from tracking.models import Metric, MetricRollup


@dataclass(frozen=True)
class Bucket:
    x: int  # the first step (or timestamp) in the bucket
    mean: float
    low: float
    high: float
    count: int


SIZES = (64, 512, 4096, 32768, 262144)
TYPES = ("bigint", "varchar", "integer", "bigint", "bigint", "bigint", "float8", "float8", "float8", "bigint")  # fmt: skip
FIELDS = ("run", "key", "size", "block", "first_step", "first_timestamp", "low", "high", "total", "count")  # fmt: skip


def _names() -> tuple[str, list[str]]:
    meta = MetricRollup._meta
    return meta.db_table, [meta.get_field(f).column for f in FIELDS]


def _upsert_sql() -> tuple[str, str]:
    """The INSERT (head, tail) that merges into an existing block (SQLite and PostgreSQL both speak
    ``ON CONFLICT ... DO UPDATE``); built from the model's names, values as parameters."""
    quote = connection.ops.quote_name
    table, names = _names()
    run, key, size, block, first_step, first_ts, low, high, total, count = map(quote, names)
    old = quote(table)

    def smaller(column: str, op: str) -> str:
        return (
            f"{column} = CASE WHEN excluded.{column} {op} {old}.{column} "
            f"THEN excluded.{column} ELSE {old}.{column} END"
        )

    updates = ", ".join(
        [
            smaller(first_step, "<"),
            smaller(first_ts, "<"),
            smaller(low, "<"),
            smaller(high, ">"),
            f"{total} = {old}.{total} + excluded.{total}",
            f"{count} = {old}.{count} + excluded.{count}",
        ]
    )
    columns = ", ".join(map(quote, names))
    return (
        f"INSERT INTO {old} ({columns})",
        f"ON CONFLICT ({run}, {key}, {size}, {block}) DO UPDATE SET {updates}",
    )


def add(run_pk: int, points) -> None:
    """Adds stored points (``.key``, ``.step``, ``.timestamp``, ``.value``) to their blocks;
    NaN is left out, as charts leave it out."""
    blocks: dict[tuple, list] = {}
    for p in points:
        value = p.value
        if value != value:  # NaN
            continue
        for size in SIZES:
            found = blocks.get((p.key, size, p.step // size))
            if found is None:
                blocks[(p.key, size, p.step // size)] = [
                    p.step,
                    p.timestamp,
                    value,
                    value,
                    value,
                    1,
                ]
                continue
            if p.step < found[0]:
                found[0] = p.step
            if p.timestamp < found[1]:
                found[1] = p.timestamp
            if value < found[2]:
                found[2] = value
            if value > found[3]:
                found[3] = value
            found[4] += value
            found[5] += 1
    if not blocks:
        return
    rows = [(run_pk, key, size, block, *summary) for (key, size, block), summary in blocks.items()]
    head, tail = _upsert_sql()
    with connection.cursor() as cursor:
        bulk.insert(cursor, head, TYPES, rows, tail)


def rebuild(run_pk: int) -> None:
    """Recomputes a run's rollups from its points (for points stored by other means)."""
    MetricRollup.objects.filter(run_id=run_pk).delete()
    quote = connection.ops.quote_name
    from_table = quote(Metric._meta.db_table)
    table, names = _names()
    for size in SIZES:
        # Floor division for negative steps too, as Python's // does.
        block = (
            f"CASE WHEN step >= 0 THEN step / {int(size)} ELSE -((-step - 1) / {int(size)}) - 1 END"
        )
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {quote(table)} ({', '.join(map(quote, names))}) "
                f"SELECT run_id, {quote('key')}, {int(size)}, {block}, MIN(step), "
                f"MIN({quote('timestamp')}), MIN(value), MAX(value), SUM(value), COUNT(*) "
                f"FROM {from_table} WHERE run_id = %s AND NOT is_nan "
                f"GROUP BY run_id, {quote('key')}, {block}",
                [run_pk],
            )


def read(run_pk: int, key: str, width: int, *, by: str = "step"):
    """The series in at most ``width`` buckets from its rollups, as (buckets, points), or
    None when the series is too short for them (read its points instead)."""
    rows = MetricRollup.objects.filter(run_id=run_pk, key=key)
    per_size = dict(rows.values("size").annotate(n=Count("id")).values_list("size", "n"))
    chosen = None
    for size in sorted(per_size, reverse=True):
        if per_size[size] >= width:
            chosen = size
            break
    if chosen is None:
        return None
    x_field = "first_timestamp" if by == "timestamp" else "first_step"
    blocks = list(
        rows.filter(size=chosen)
        .order_by(x_field)
        .values_list(x_field, "low", "high", "total", "count")
    )
    lo, hi = blocks[0][0], blocks[-1][0]
    span = hi - lo + 1
    merged: dict[int, list] = {}
    for x, low, high, total, count in blocks:
        index = (x - lo) * width // span
        found = merged.get(index)
        if found is None:
            merged[index] = [x, low, high, total, count]
            continue
        found[1] = min(found[1], low)
        found[2] = max(found[2], high)
        found[3] += total
        found[4] += count
    buckets = [
        Bucket(x, total / count if math.isfinite(total) else total, low, high, count)
        for x, low, high, total, count in (merged[i] for i in sorted(merged))
    ]
    return buckets, sum(b.count for b in buckets)
