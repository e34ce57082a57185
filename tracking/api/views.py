"""The one view of the MLflow REST API: authenticates the caller for the workspace and
hands the request to the handler registered for its path."""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from portal import audit
from tracking.api import experiments, models, runs  # noqa: F401  (they register handlers)
from tracking.api.base import ENDPOINTS, read_params
from tracking.auth import caller_for
from tracking.errors import MlflowError


@csrf_exempt
def dispatch(request: HttpRequest, slug: str, path: str, **extra) -> JsonResponse:
    found = ENDPOINTS.get(path)
    try:
        if found is None:
            raise MlflowError("ENDPOINT_NOT_FOUND", f"No tracking endpoint {path!r} here.")
        handler = found.get(request.method)
        if handler is None:
            allowed = ", ".join(found)
            response = JsonResponse(
                {"error_code": "BAD_REQUEST", "message": f"Use {allowed} for {path}."}, status=405
            )
            response["Allow"] = allowed
            return response
        caller = caller_for(request, slug)
        params = read_params(request, extra)
        result = handler(caller, params)
        if (path, request.method) in AUDITED:
            _audit(caller, path, request.method, params, result)
    except MlflowError as exc:
        return exc.response()
    return JsonResponse(result, json_dumps_params={"allow_nan": False})


# The lifecycle writes that go into the audit log; logging metrics, params and tags does
# not (a training loop makes one call per metric).
AUDITED = {
    ("experiments/create", "POST"): ("create", "experiment"),
    ("experiments/update", "POST"): ("update", "experiment"),
    ("experiments/delete", "POST"): ("delete", "experiment"),
    ("experiments/restore", "POST"): ("restore", "experiment"),
    ("runs/create", "POST"): ("create", "run"),
    ("runs/delete", "POST"): ("delete", "run"),
    ("runs/restore", "POST"): ("restore", "run"),
    ("logged-models", "POST"): ("create", "logged_model"),
    ("logged-models/id", "DELETE"): ("delete", "logged_model"),
}


def _audit(caller, path: str, method: str, params: dict, result: dict) -> None:
    action, kind = AUDITED[(path, method)]
    found = result.get("run", {}).get("info", {}) if kind == "run" else {}
    object_id = (
        params.get("experiment_id")
        or params.get("run_id")
        or params.get("model_id")
        or result.get("experiment_id")
        or found.get("run_id")
        or ""
    )
    name = params.get("name") or params.get("new_name") or found.get("run_name") or ""
    audit.record(
        action=action,
        object_type=kind,
        object_id=str(object_id)[:40],
        object_name=str(name)[:200],
        workspace=caller.workspace,
        summary=f"MLflow {path}",
        actor=caller.user or (caller.run.created_by if caller.run else None),
        via="token",
    )


def server_info(request: HttpRequest, slug: str) -> JsonResponse:
    """What the client asks before large uploads: this server has no multipart uploads."""
    return JsonResponse({"multipart_uploads_enabled": False, "multipart_downloads_enabled": False})
