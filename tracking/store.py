"""Writes of the tracking store, checked whole before anything is stored: a batch with one
bad item stores nothing and names the item."""

import math
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction

from portal import metrics
from tracking import bulk, limits, live, rollup
from tracking.errors import MlflowError, invalid
from tracking.models import (
    ENDED,
    Experiment,
    LatestMetric,
    Lifecycle,
    LoggedModel,
    Metric,
    Param,
    Run,
    RunInput,
    RunStatus,
    RunTag,
    now_ms,
)

RUN_NAME_TAG = "mlflow.runName"
USER_TAG = "mlflow.user"


@dataclass(frozen=True)
class Point:
    key: str
    value: float
    timestamp: int
    step: int

    @property
    def order(self) -> tuple:
        # MLflow's "latest": the largest step, then timestamp, then value (NaN lowest).
        value = -math.inf if math.isnan(self.value) else self.value
        return (self.step, self.timestamp, value)


def pairs(items, field: str) -> list[dict]:
    if items is None:
        return []
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise invalid(f"'{field}' must be a list of objects with 'key' and 'value'.")
    return items


def tag_map(items, field: str = "tags") -> dict[str, str]:
    found = {}
    for index, item in enumerate(pairs(items, field)):
        key = limits.key(item.get("key"), f"{field}[{index}].key")
        found[key] = limits.text(item.get("value"), f"{field}[{index}].value", limits.MAX_TAG_VALUE)
    return found


# Experiments ------------------------------------------------------------------------------


def experiment_create(workspace, name, tags=None) -> Experiment:
    if not isinstance(name, str) or not name.strip():
        raise invalid("Missing value for required parameter 'name'.")
    name = limits.text(name, "name", limits.MAX_EXPERIMENT_NAME)
    tags = tag_map(tags)
    try:
        with transaction.atomic():
            return Experiment.objects.create(workspace=workspace, name=name, tags=tags)
    except IntegrityError:
        raise MlflowError(
            "RESOURCE_ALREADY_EXISTS", f"Experiment '{name}' already exists in {workspace.slug}."
        ) from None


def experiment_for(workspace, name: str) -> Experiment:
    """The workspace's experiment called ``name``, created when missing (jobs name theirs)."""
    experiment, _ = Experiment.objects.get_or_create(workspace=workspace, name=name or "Default")
    return experiment


def experiment_tag(experiment: Experiment, key, value) -> None:
    key = limits.key(key)
    experiment.tags = {**experiment.tags, key: limits.text(value, "value", limits.MAX_TAG_VALUE)}
    experiment.last_update_time = now_ms()
    experiment.save(update_fields=["tags", "last_update_time"])


def experiment_rename(experiment: Experiment, new_name) -> None:
    if not isinstance(new_name, str) or not new_name.strip():
        raise invalid("Missing value for required parameter 'new_name'.")
    experiment.name = limits.text(new_name, "new_name", limits.MAX_EXPERIMENT_NAME)
    experiment.last_update_time = now_ms()
    try:
        with transaction.atomic():
            experiment.save(update_fields=["name", "last_update_time"])
    except IntegrityError:
        raise MlflowError(
            "RESOURCE_ALREADY_EXISTS", f"Experiment '{new_name}' already exists."
        ) from None


def experiment_lifecycle(experiment: Experiment, stage: str) -> None:
    experiment.lifecycle_stage = stage
    experiment.last_update_time = now_ms()
    experiment.save(update_fields=["lifecycle_stage", "last_update_time"])


# Runs ---------------------------------------------------------------------------------------


def run_create(
    *,
    experiment,
    name="",
    start_time=None,
    tags=None,
    user=None,
    user_id="",
    source="external",
    status=RunStatus.RUNNING,
) -> Run:
    if experiment.lifecycle_stage != Lifecycle.ACTIVE:
        raise MlflowError(
            "INVALID_STATE", f"Experiment {experiment.pk} is deleted; restore it to add runs."
        )
    tags = tag_map(tags)
    name = limits.text(name or tags.get(RUN_NAME_TAG, ""), "run_name", limits.MAX_RUN_NAME)
    start = limits.integer(start_time, "start_time", now_ms())
    with transaction.atomic(savepoint=False):
        run = Run.objects.create(
            workspace_id=experiment.workspace_id,
            experiment=experiment,
            name=name,
            start_time=start,
            user_id=user_id or (user.username if user else ""),
            created_by=user,
            source=source,
            status=status,
        )
        if name:
            tags[RUN_NAME_TAG] = name
        if run.user_id:
            tags.setdefault(USER_TAG, run.user_id)
        RunTag.objects.bulk_create(RunTag(run=run, key=k, value=v) for k, v in tags.items())
    return run


def check_writable(run: Run) -> None:
    if run.lifecycle_stage != Lifecycle.ACTIVE:
        raise MlflowError("INVALID_STATE", f"Run {run.run_id} is deleted; restore it first.")
    if run.is_ended:
        raise MlflowError(
            "INVALID_STATE",
            f"Run {run.run_id} has ended ({run.status}); log to a new run instead.",
        )


def run_update(run: Run, *, status=None, end_time=None, name=None, from_job: bool = False) -> Run:
    """The client's ``runs/update``. A job's run follows its job (``run_follow_job``): what
    the script sets is noted in a tag, the status stays the job's."""
    fields = []
    if status is not None and status != "":
        if status not in RunStatus.values:
            raise invalid(f"'status' must be one of {', '.join(RunStatus.values)}; got {status!r}.")
        if run.source == "job" and not from_job:
            RunTag.objects.update_or_create(
                run=run, key="kp.script_status", defaults={"value": status}
            )
        elif run.status != status:
            if run.is_ended and status not in ENDED and run.source == "job":
                raise MlflowError("INVALID_STATE", f"Run {run.run_id} has ended.")
            run.status = status
            fields.append("status")
            if status in ENDED:
                run.end_time = limits.integer(end_time, "end_time", now_ms())
                fields.append("end_time")
            else:
                run.end_time = None
                fields.append("end_time")
    if name:
        run.name = limits.text(name, "run_name", limits.MAX_RUN_NAME)
        fields.append("name")
        RunTag.objects.update_or_create(run=run, key=RUN_NAME_TAG, defaults={"value": run.name})
    if fields:
        run.save(update_fields=fields)
        live.run_changed(run.pk)
    return run


# The job's status → the run's, whatever the script said.
JOB_STATUS = {
    "Completed": RunStatus.FINISHED,
    "Failed": RunStatus.FAILED,
    "Canceled": RunStatus.KILLED,
}


def run_follow_job(run_pk: int, job_status: str, at_ms: int | None = None) -> None:
    run = Run.objects.filter(pk=run_pk).first()
    if run is None:
        return
    status = JOB_STATUS.get(job_status, RunStatus.RUNNING if job_status == "Running" else None)
    if status is None or run.status == status:
        return
    run_update(run, status=status, end_time=at_ms, from_job=True)


def run_lifecycle(run: Run, stage: str) -> None:
    run.lifecycle_stage = stage
    run.save(update_fields=["lifecycle_stage"])


# Logging ------------------------------------------------------------------------------------


INT64_LOW, INT64_HIGH = -(2**63), 2**63
POINTS = metrics.counter(
    "tracking_metric_points",
    "Metric points stored, by the run's source (job or external)",
    ("source",),
)


def _points(metrics, rank_suffix: str) -> list[Point]:
    points = []
    checked: dict[str, str] = {}  # a batch logs few keys many times: check each once
    now = now_ms()
    for index, item in enumerate(pairs(metrics, "metrics")):
        raw_key = item.get("key")
        key = checked.get(raw_key) if isinstance(raw_key, str) else None
        if key is None:
            key = limits.key(raw_key, f"metrics[{index}].key")
            checked[key] = key
        value, timestamp, step = item.get("value"), item.get("timestamp"), item.get("step")
        # Plain JSON numbers (nearly every point) skip the checks' slower general path.
        if type(value) is not float and type(value) is not int:
            value = limits.number(value, key)
        if type(timestamp) is not int or not INT64_LOW <= timestamp < INT64_HIGH:
            timestamp = limits.integer(timestamp, f"metrics[{index}].timestamp", now)
        if type(step) is not int or not INT64_LOW <= step < INT64_HIGH:
            step = limits.integer(step, f"metrics[{index}].step", 0)
        points.append(Point(key + rank_suffix, float(value), timestamp, step))
    return points


def _params(params) -> dict[str, str]:
    found: dict[str, str] = {}
    for index, item in enumerate(pairs(params, "params")):
        key = limits.key(item.get("key"), f"params[{index}].key")
        value = limits.text(item.get("value"), f"params[{index}].value", limits.MAX_PARAM_VALUE)
        if key in found and found[key] != value:
            raise invalid(f"Param '{key}' is given twice with different values in one batch.")
        found[key] = value
    return found


def log_batch(run: Run, *, metrics=None, params=None, tags=None, rank: int = 0) -> int:
    """Appends metric points, adds params (a param keeps its first value), sets tags.
    Returns the number of points stored. ``rank`` > 0 (an instance of a distributed job)
    stores its points under ``<key>/rank-<rank>``."""
    metrics, params, tags = metrics or [], params or [], tags or []
    for name, items, most in (
        ("metrics", metrics, limits.BATCH_METRICS),
        ("params", params, limits.BATCH_PARAMS),
        ("tags", tags, limits.BATCH_TAGS),
    ):
        if isinstance(items, list) and len(items) > most:
            raise invalid(f"A batch may hold at most {most} {name}; got {len(items)}.")
    if sum(len(x) for x in (metrics, params, tags) if isinstance(x, list)) > limits.BATCH_ITEMS:
        raise invalid(f"A batch may hold at most {limits.BATCH_ITEMS} items in all.")
    points = _points(metrics, f"/rank-{rank}" if rank else "")
    new_params = _params(params)
    new_tags = tag_map(tags)
    check_writable(run)
    with transaction.atomic():
        if new_params:
            _store_params(run, new_params)
        if new_tags:
            _store_tags(run, new_tags)
        if points:
            _store_points(run, points)
    if points:
        POINTS.labels(run.source).inc(len(points))
        live.points(run.pk, points)
    return len(points)


def _store_params(run: Run, params: dict[str, str]) -> None:
    existing = dict(Param.objects.filter(run=run, key__in=list(params)).values_list("key", "value"))
    for key, value in params.items():
        if key in existing and existing[key] != value:
            raise invalid(
                f"Changing param values is not allowed. Param with key='{key}' was already "
                f"logged with value='{existing[key][:100]}' for run ID='{run.run_id}'. "
                f"Attempted logging new value '{value[:100]}'."
            )
    Param.objects.bulk_create(
        [Param(run=run, key=k, value=v) for k, v in params.items() if k not in existing],
        ignore_conflicts=True,
    )


def _store_tags(run: Run, tags: dict[str, str]) -> None:
    RunTag.objects.bulk_create(
        [RunTag(run=run, key=k, value=v) for k, v in tags.items()],
        update_conflicts=True,
        unique_fields=["run", "key"],
        update_fields=["value"],
    )
    if RUN_NAME_TAG in tags and tags[RUN_NAME_TAG] != run.name:
        run.name = tags[RUN_NAME_TAG][: limits.MAX_RUN_NAME]
        run.save(update_fields=["name"])


POINT_TYPES = ("bigint", "varchar", "bigint", "bigint", "float8", "boolean")


def _insert_sql() -> str:
    """The one INSERT of metric points: built from the model's own table and column names
    (never from input), the values sent as parameters. Points are the hot path of tracking
    (a training loop logs thousands a second), and building 1,000 model instances per batch
    cost more than the insert itself."""
    quote = connection.ops.quote_name
    meta = Metric._meta
    names = [
        meta.get_field(f).column for f in ("run", "key", "step", "timestamp", "value", "is_nan")
    ]
    columns = ", ".join(quote(n) for n in names)
    return f"INSERT INTO {quote(meta.db_table)} ({columns})"


def _store_points(run: Run, points: list[Point]) -> None:
    rows = [
        (run.pk, p.key, p.step, p.timestamp, 0.0, True)
        if math.isnan(p.value)
        else (run.pk, p.key, p.step, p.timestamp, p.value, False)
        for p in points
    ]
    with connection.cursor() as cursor:
        bulk.insert(cursor, _insert_sql(), POINT_TYPES, rows)
    rollup.add(run.pk, points)
    newest: dict[str, Point] = {}
    for point in points:
        if point.key not in newest or point.order >= newest[point.key].order:
            newest[point.key] = point
    current = {
        row.key: row
        for row in LatestMetric.objects.select_for_update().filter(run=run, key__in=list(newest))
    }
    changed = []
    for key, point in newest.items():
        row = current.get(key)
        if row is not None:
            stored = Point(key, math.nan if row.is_nan else row.value, row.timestamp, row.step)
            if stored.order > point.order:
                continue
        changed.append(
            LatestMetric(
                run=run,
                key=key,
                step=point.step,
                timestamp=point.timestamp,
                value=0.0 if math.isnan(point.value) else point.value,
                is_nan=math.isnan(point.value),
            )
        )
    LatestMetric.objects.bulk_create(
        changed,
        update_conflicts=True,
        unique_fields=["run", "key"],
        update_fields=["step", "timestamp", "value", "is_nan"],
    )


def tag_delete(run: Run, key) -> None:
    check_writable(run)
    key = limits.key(key)
    deleted, _ = RunTag.objects.filter(run=run, key=key).delete()
    if not deleted:
        raise MlflowError(
            "RESOURCE_DOES_NOT_EXIST", f"No tag with name: {key} in run with id {run.run_id}"
        )


def log_inputs(run: Run, *, datasets=None, models=None) -> None:
    check_writable(run)
    rows = []
    for kind, items in (("dataset", datasets), ("model", models)):
        if items is None:
            continue
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise invalid(f"'{kind}s' must be a list of objects.")
        rows += [RunInput(run=run, kind=kind, payload=item) for item in items]
    RunInput.objects.bulk_create(rows)


def log_outputs(run: Run, models) -> None:
    if not isinstance(models, list) or not all(isinstance(i, dict) for i in models):
        raise invalid("'models' must be a list of objects with 'model_id'.")
    RunInput.objects.bulk_create(RunInput(run=run, kind="output", payload=m) for m in models)


# Logged models (MLflow 3) -------------------------------------------------------------------


def model_create(
    *, experiment, name, source_run=None, model_type="", tags=None, params=None, user_id=""
):
    return LoggedModel.objects.create(
        workspace_id=experiment.workspace_id,
        experiment=experiment,
        source_run=source_run,
        name=limits.text(name or "model", "name", limits.MAX_KEY),
        model_type=limits.text(model_type or "", "model_type", limits.MAX_KEY),
        tags=tag_map(tags),
        params=tag_map(params, "params"),
        creator=user_id,
    )


def model_update(model: LoggedModel, **fields) -> LoggedModel:
    for key, value in fields.items():
        setattr(model, key, value)
    model.last_updated_timestamp_ms = now_ms()
    model.save()
    return model
