"""``experiments/*`` of the MLflow API."""

import re

from tracking import limits, search, serialize, store
from tracking.api import lookups
from tracking.api.base import endpoint
from tracking.errors import invalid, missing
from tracking.models import Experiment, Lifecycle

_NAME = re.compile(r"(^|\band\s+)name\b", re.IGNORECASE)
VIEW_TYPES = {
    "ACTIVE_ONLY": [Lifecycle.ACTIVE],
    "DELETED_ONLY": [Lifecycle.DELETED],
    "ALL": [Lifecycle.ACTIVE, Lifecycle.DELETED],
    "1": [Lifecycle.ACTIVE],
    "2": [Lifecycle.DELETED],
    "3": [Lifecycle.ACTIVE, Lifecycle.DELETED],
}


def view_type(value) -> list[str]:
    found = VIEW_TYPES.get(str(value or "ACTIVE_ONLY").upper())
    if found is None:
        raise invalid("'view_type' must be ACTIVE_ONLY, DELETED_ONLY or ALL.")
    return found


@endpoint("experiments/create", "POST")
def create(caller, params):
    caller.check_write()
    experiment = store.experiment_create(caller.workspace, params.get("name"), params.get("tags"))
    return {"experiment_id": experiment.experiment_id}


@endpoint("experiments/get", "GET")
def get(caller, params):
    return {
        "experiment": serialize.experiment(lookups.experiment(caller, params.get("experiment_id")))
    }


@endpoint("experiments/get-by-name", "GET")
def get_by_name(caller, params):
    name = params.get("experiment_name")
    if not name:
        raise invalid("Missing value for required parameter 'experiment_name'.")
    found = Experiment.objects.filter(workspace=caller.workspace, name=str(name)).first()
    if found is None:
        raise missing(f"Could not find experiment with name '{str(name)[:200]}'")
    return {"experiment": serialize.experiment(found)}


@endpoint("experiments/search", "POST", "GET")
def search_experiments(caller, params):
    size = limits.max_results(params.get("max_results"), 1000)
    offset = search.page_offset(params.get("page_token"))
    rows = Experiment.objects.filter(
        workspace=caller.workspace, lifecycle_stage__in=view_type(params.get("view_type"))
    )
    text = (params.get("filter") or "").strip()
    if text:
        rows = rows.filter(_experiment_filter(text))
    rows = list(rows.order_by("-last_update_time", "-id")[offset : offset + size + 1])
    result = {"experiments": [serialize.experiment(e) for e in rows[:size]]}
    if len(rows) > size:
        result["next_page_token"] = search.next_token(offset + size)
    return result


def _experiment_filter(text: str):
    """Experiment filters: ``name = 'x'`` / ``name LIKE 'x%'`` (the ones the client uses)."""
    from_q = search.parse_filter(_NAME.sub(r"\1attributes.run_name", text))
    # parse_filter builds run columns; the only experiment column we accept is the name.
    children = getattr(from_q, "children", [])
    mapped = from_q
    for child in children:
        if not isinstance(child, tuple) or not child[0].startswith("name"):
            raise invalid("Experiments filter by name only: name = 'x' or name LIKE 'x%'.")
    return mapped


@endpoint("experiments/delete", "POST")
def delete(caller, params):
    caller.check_write()
    store.experiment_lifecycle(
        lookups.experiment(caller, params.get("experiment_id")), Lifecycle.DELETED
    )
    return {}


@endpoint("experiments/restore", "POST")
def restore(caller, params):
    caller.check_write()
    store.experiment_lifecycle(
        lookups.experiment(caller, params.get("experiment_id")), Lifecycle.ACTIVE
    )
    return {}


@endpoint("experiments/update", "POST")
def update(caller, params):
    caller.check_write()
    store.experiment_rename(
        lookups.experiment(caller, params.get("experiment_id")), params.get("new_name")
    )
    return {}


@endpoint("experiments/set-experiment-tag", "POST")
def set_tag(caller, params):
    caller.check_write()
    experiment = lookups.experiment(caller, params.get("experiment_id"))
    store.experiment_tag(experiment, params.get("key"), params.get("value"))
    return {}
