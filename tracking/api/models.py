"""``logged-models/*`` of the MLflow API: what MLflow 3's ``log_model`` and ``load_model``
call. A logged model's files are artifacts under its experiment
(``<experiment>/models/<model id>/artifacts``)."""

from django.db.models import Q

from tracking import limits, search, serialize, store
from tracking.api import lookups
from tracking.api.base import endpoint
from tracking.errors import invalid
from tracking.models import Lifecycle, LoggedModel, Run

STATUSES = {
    "LOGGED_MODEL_PENDING": "LOGGED_MODEL_PENDING",
    "LOGGED_MODEL_READY": "LOGGED_MODEL_READY",
    "LOGGED_MODEL_UPLOAD_FAILED": "LOGGED_MODEL_UPLOAD_FAILED",
    "PENDING": "LOGGED_MODEL_PENDING",
    "READY": "LOGGED_MODEL_READY",
    "FAILED": "LOGGED_MODEL_UPLOAD_FAILED",
}


def _writable(caller, model: LoggedModel) -> None:
    if caller.run is not None:
        caller.check_write(model.source_run)
    else:
        caller.check_write()


@endpoint("logged-models", "POST")
def create(caller, params):
    experiment = lookups.experiment(caller, params.get("experiment_id"))
    source = None
    if params.get("source_run_id"):
        source = lookups.run(caller, {"run_id": params.get("source_run_id")})
    if caller.run is not None:
        caller.check_write(source)
    else:
        caller.check_write()
    model = store.model_create(
        experiment=experiment,
        name=params.get("name"),
        source_run=source,
        model_type=params.get("model_type"),
        tags=params.get("tags"),
        params=params.get("params"),
        user_id=caller.user_id,
    )
    return {"model": serialize.logged_model(model)}


@endpoint("logged-models/id", "GET")
def get(caller, params):
    return {"model": serialize.logged_model(lookups.logged_model(caller, params.get("model_id")))}


@endpoint("logged-models/id", "PATCH")
def finalize(caller, params):
    model = lookups.logged_model(caller, params.get("model_id"))
    _writable(caller, model)
    status = STATUSES.get(str(params.get("status") or ""))
    if status is None:
        raise invalid("'status' must be LOGGED_MODEL_READY or LOGGED_MODEL_UPLOAD_FAILED.")
    store.model_update(model, status=status)
    return {"model": serialize.logged_model(model)}


@endpoint("logged-models/id", "DELETE")
def delete(caller, params):
    model = lookups.logged_model(caller, params.get("model_id"))
    _writable(caller, model)
    store.model_update(model, lifecycle_stage=Lifecycle.DELETED)
    return {}


@endpoint("logged-models/id/tags", "PATCH")
def set_tags(caller, params):
    model = lookups.logged_model(caller, params.get("model_id"))
    _writable(caller, model)
    store.model_update(model, tags={**model.tags, **store.tag_map(params.get("tags"))})
    return {}


@endpoint("logged-models/id/tags/key", "DELETE")
def delete_tag(caller, params):
    model = lookups.logged_model(caller, params.get("model_id"))
    _writable(caller, model)
    tags = dict(model.tags)
    tags.pop(str(params.get("tag_key")), None)
    store.model_update(model, tags=tags)
    return {}


@endpoint("logged-models/id/params", "POST")
def log_params(caller, params):
    model = lookups.logged_model(caller, params.get("model_id"))
    _writable(caller, model)
    store.model_update(
        model, params={**model.params, **store.tag_map(params.get("params"), "params")}
    )
    return {}


@endpoint("logged-models/search", "POST")
def search_models(caller, params):
    size = limits.max_results(params.get("max_results"), 100)
    offset = search.page_offset(params.get("page_token"))
    ids = [int(i) for i in params.many("experiment_ids") if str(i).isdigit() and len(str(i)) < 19]
    rows = LoggedModel.objects.filter(workspace=caller.workspace, lifecycle_stage=Lifecycle.ACTIVE)
    if ids:
        rows = rows.filter(experiment_id__in=ids)
    text = (params.get("filter") or "").strip()
    if text:
        rows = rows.filter(_model_filter(text))
    found = list(rows.select_related("source_run")[offset : offset + size + 1])
    result = {"models": [serialize.logged_model(m) for m in found[:size]]}
    if len(found) > size:
        result["next_page_token"] = search.next_token(offset + size)
    return result


def _model_filter(text: str):
    """The filters the client sends when resolving ``runs:/<run>/<name>``: the source run and
    the name (``source_run_id = 'x' AND name = 'y'``)."""
    q = Q()
    for clause in [c.strip() for c in text.replace(" and ", " AND ").split(" AND ") if c.strip()]:
        field, _, value = clause.partition("=")
        field, value = field.strip().removeprefix("attributes."), value.strip().strip("'\"")
        if field == "source_run_id":
            q &= Q(source_run__in=Run.objects.filter(run_id=value))
        elif field == "name":
            q &= Q(name=value)
        else:
            raise invalid(f"Logged models filter by source_run_id and name only, not {field}.")
    return q
