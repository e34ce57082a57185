"""Reading metric histories: pages of points for the API, evenly sampled steps for
``get-history-bulk-interval``, and series downsampled for a chart."""

from django.db.models import Avg, BigIntegerField, Count, ExpressionWrapper, F, Max, Min, Value

from tracking import rollup
from tracking.models import Metric
from tracking.rollup import Bucket


def points(run_pk: int, key: str, *, offset: int = 0, limit: int = 25000) -> list[Metric]:
    rows = Metric.objects.filter(run_id=run_pk, key=key).order_by("step", "timestamp", "id")
    return list(rows.only("key", "step", "timestamp", "value", "is_nan")[offset : offset + limit])


def sampled_steps(run_pk: int, key: str, start: int, end: int, size: int) -> list[Metric]:
    """The points at up to ``size`` steps spread evenly over [start, end] (the first and the
    last always among them), as MLflow's bulk-interval endpoint picks them."""
    rows = Metric.objects.filter(run_id=run_pk, key=key, step__gte=start, step__lte=end)
    steps = list(rows.order_by("step").values_list("step", flat=True).distinct())
    if len(steps) > size:
        chosen = (
            {steps[round(i * (len(steps) - 1) / (size - 1))] for i in range(size)}
            if size > 1
            else {steps[0]}
        )
        steps = sorted(chosen)
    found = (
        rows.filter(step__in=steps)
        if len(steps) < 1000
        else rows.filter(step__gte=steps[0], step__lte=steps[-1])
    )
    wanted = set(steps)
    return [p for p in found.order_by("step", "timestamp") if p.step in wanted]


def downsample(run_pk: int, key: str, width: int, *, by: str = "step") -> tuple[list[Bucket], int]:
    """A series reduced to at most ``width`` buckets along ``by`` ("step" or "timestamp"):
    each bucket's first x, mean, minimum and maximum, so peaks survive. Returns the buckets
    and the number of points the series has. NaN points are left out (they cannot be drawn).
    """
    from_rollups = rollup.read(run_pk, key, width, by=by)
    if from_rollups is not None:
        return from_rollups
    column = "timestamp" if by == "timestamp" else "step"
    rows = Metric.objects.filter(run_id=run_pk, key=key, is_nan=False)
    bounds = rows.aggregate(lo=Min(column), hi=Max(column), n=Count("id"))
    total = bounds["n"] or 0
    if not total:
        return [], 0
    if total <= width:
        found = rows.order_by(column, "id").values_list(column, "value")
        return [Bucket(x, v, v, v, 1) for x, v in found], total
    span = bounds["hi"] - bounds["lo"] + 1
    bucket = ExpressionWrapper(
        (F(column) - Value(bounds["lo"])) * Value(width) / Value(span),
        output_field=BigIntegerField(),
    )
    grouped = (
        rows.annotate(bucket=bucket)
        .values("bucket")
        .annotate(
            x=Min(column), mean=Avg("value"), low=Min("value"), high=Max("value"), count=Count("id")
        )
        .order_by("bucket")
    )
    return [Bucket(g["x"], g["mean"], g["low"], g["high"], g["count"]) for g in grouped], total
