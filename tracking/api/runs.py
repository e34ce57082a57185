"""``runs/*`` and ``metrics/*`` of the MLflow API."""

from tracking import history, limits, search, serialize, store
from tracking.api import lookups
from tracking.api.base import endpoint
from tracking.api.experiments import view_type
from tracking.errors import invalid
from tracking.models import Experiment, Lifecycle, Run


@endpoint("runs/create", "POST")
def create(caller, params):
    # A job's token may not start other runs: MLFLOW_RUN_ID makes the client resume its own.
    caller.check_write()
    experiment_id = params.get("experiment_id")
    if experiment_id in (None, ""):
        experiment = store.experiment_for(caller.workspace, "Default")
    else:
        experiment = lookups.experiment(caller, experiment_id)
    run = store.run_create(
        experiment=experiment,
        name=params.get("run_name") or "",
        start_time=params.get("start_time"),
        tags=params.get("tags"),
        user=caller.user,
        user_id=caller.user_id,
    )
    return {"run": serialize.runs([run])[0]}


@endpoint("runs/get", "GET")
def get(caller, params):
    return {"run": serialize.runs([lookups.run(caller, params)])[0]}


@endpoint("runs/update", "POST")
def update(caller, params):
    run = lookups.run(caller, params)
    caller.check_write(run)
    if run.lifecycle_stage != Lifecycle.ACTIVE:
        store.check_writable(run)
    store.run_update(
        run,
        status=params.get("status"),
        end_time=params.get("end_time"),
        name=params.get("run_name"),
    )
    return {"run_info": serialize.run_info(run)}


@endpoint("runs/delete", "POST")
def delete(caller, params):
    run = lookups.run(caller, params)
    caller.check_write(run)
    store.run_lifecycle(run, Lifecycle.DELETED)
    return {}


@endpoint("runs/restore", "POST")
def restore(caller, params):
    run = lookups.run(caller, params)
    caller.check_write(run)
    store.run_lifecycle(run, Lifecycle.ACTIVE)
    return {}


@endpoint("runs/search", "POST", "GET")
def search_runs(caller, params):
    size = limits.max_results(params.get("max_results"), 1000)
    offset = search.page_offset(params.get("page_token"))
    ids = [str(i) for i in params.many("experiment_ids")]
    experiments = Experiment.objects.filter(workspace=caller.workspace)
    if ids:
        experiments = experiments.filter(
            pk__in=[int(i) for i in ids if i.isdigit() and len(i) < 19]
        )
    stages = view_type(params.get("run_view_type"))
    terms, annotations = search.order_terms(params.get("order_by"))
    rows = (
        Run.objects.filter(
            workspace=caller.workspace, experiment__in=experiments, lifecycle_stage__in=stages
        )
        .filter(search.parse_filter(params.get("filter")))
        .annotate(**annotations)
        .order_by(*terms)
    )
    found = list(rows[offset : offset + size + 1])
    result = {"runs": serialize.runs(found[:size])}
    if len(found) > size:
        result["next_page_token"] = search.next_token(offset + size)
    return result


def _writable_run(caller, params) -> Run:
    run = lookups.run(caller, params)
    caller.check_write(run)
    return run


@endpoint("runs/log-metric", "POST")
def log_metric(caller, params):
    run = _writable_run(caller, params)
    item = {k: params.get(k) for k in ("key", "value", "timestamp", "step")}
    store.log_batch(run, metrics=[item], rank=caller.rank)
    return {}


@endpoint("runs/log-batch", "POST")
def log_batch(caller, params):
    run = _writable_run(caller, params)
    store.log_batch(
        run,
        metrics=params.get("metrics"),
        params=params.get("params"),
        tags=params.get("tags"),
        rank=caller.rank,
    )
    return {}


@endpoint("runs/log-parameter", "POST")
def log_param(caller, params):
    run = _writable_run(caller, params)
    store.log_batch(run, params=[{"key": params.get("key"), "value": params.get("value")}])
    return {}


@endpoint("runs/set-tag", "POST")
def set_tag(caller, params):
    run = _writable_run(caller, params)
    store.log_batch(run, tags=[{"key": params.get("key"), "value": params.get("value")}])
    return {}


@endpoint("runs/delete-tag", "POST")
def delete_tag(caller, params):
    store.tag_delete(_writable_run(caller, params), params.get("key"))
    return {}


@endpoint("runs/log-inputs", "POST")
def log_inputs(caller, params):
    store.log_inputs(
        _writable_run(caller, params), datasets=params.get("datasets"), models=params.get("models")
    )
    return {}


@endpoint("runs/outputs", "POST")
def log_outputs(caller, params):
    store.log_outputs(_writable_run(caller, params), params.get("models"))
    return {}


@endpoint("runs/log-model", "POST")
def log_model(caller, params):
    run = _writable_run(caller, params)
    model_json = limits.text(params.get("model_json"), "model_json", 100_000)
    store.log_batch(run, tags=[{"key": "mlflow.log-model.history", "value": model_json[:8000]}])
    return {}


@endpoint("metrics/get-history", "GET")
def get_history(caller, params):
    run = lookups.run(caller, params)
    key = limits.key(params.get("metric_key"), "metric_key")
    size = limits.max_results(params.get("max_results"), 25000, limit=25000)
    offset = search.page_offset(params.get("page_token"))
    points = history.points(run.pk, key, offset=offset, limit=size + 1)
    result = {"metrics": [serialize.metric(p) for p in points[:size]]}
    if len(points) > size:
        result["next_page_token"] = search.next_token(offset + size)
    return result


@endpoint("metrics/get-history-bulk-interval", "GET")
def get_history_bulk_interval(caller, params):
    ids = params.many("run_ids")
    if not ids:
        raise invalid("Missing value for required parameter 'run_ids'.")
    if len(ids) > 100:
        raise invalid("'run_ids' may name at most 100 runs.")
    key = limits.key(params.get("metric_key"), "metric_key")
    size = limits.max_results(params.get("max_results"), 320, limit=2500)
    start = limits.integer(params.get("start_step"), "start_step", -(2**62))
    end = limits.integer(params.get("end_step"), "end_step", 2**62)
    if start > end:
        raise invalid("'start_step' must not be greater than 'end_step'.")
    runs = {
        r.pk: r.run_id
        for r in Run.objects.filter(
            workspace=caller.workspace, run_id__in=[str(i)[:64] for i in ids]
        )
    }
    out = []
    for pk, run_id in runs.items():
        for point in history.sampled_steps(pk, key, start, end, size):
            out.append({**serialize.metric(point), "run_id": run_id})
    return {"metrics": out}
