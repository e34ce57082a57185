"""Finding the caller's workspace's objects by the ids the client sends (never another
workspace's: every lookup is scoped to ``caller.workspace``)."""

from tracking.auth import Caller
from tracking.errors import invalid, missing
from tracking.models import Experiment, LoggedModel, Run


def experiment(caller: Caller, experiment_id) -> Experiment:
    text = str(experiment_id or "").strip()
    if not text:
        raise invalid("Missing value for required parameter 'experiment_id'.")
    found = None
    if text.isdigit() and len(text) < 19:
        found = Experiment.objects.filter(workspace=caller.workspace, pk=int(text)).first()
    if found is None:
        raise missing(f"No experiment with id={text} in workspace {caller.workspace.slug}.")
    return found


def run(caller: Caller, params: dict) -> Run:
    run_id = params.get("run_id") or params.get("run_uuid")
    if not isinstance(run_id, str) or not run_id:
        raise invalid("Missing value for required parameter 'run_id'.")
    found = (
        Run.objects.filter(workspace=caller.workspace, run_id=run_id[:64])
        .select_related("experiment")
        .first()
    )
    if found is None:
        raise missing(f"Run with id={run_id[:64]} not found in workspace {caller.workspace.slug}.")
    return found


def logged_model(caller: Caller, model_id) -> LoggedModel:
    found = (
        LoggedModel.objects.filter(workspace=caller.workspace, model_id=str(model_id or "")[:64])
        .select_related("source_run")
        .first()
    )
    if found is None:
        raise missing(
            f"Logged model '{str(model_id)[:64]}' not found in workspace {caller.workspace.slug}."
        )
    return found
