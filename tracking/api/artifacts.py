"""The artifact proxy, ``mlflow-artifacts/artifacts/<path>``: PUT a file, GET a file, GET
the folder listing (``?path=``), DELETE. The first parts of a path name what it belongs
to: ``<experiment id>/<run id>/artifacts/...`` for a run, ``<experiment id>/models/<model
id>/artifacts/...`` for a logged model; the caller must be able to read it (GET) or write
it (PUT, DELETE)."""

from django.http import FileResponse, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from tracking import artifacts
from tracking.auth import Caller, caller_for
from tracking.errors import MlflowError, missing
from tracking.models import LoggedModel, Run
from tracking.store import check_writable


def _owner(caller: Caller, path: str, *, write: bool) -> None:
    """Checks that ``path`` belongs to a run or model of the caller's workspace (and, for a
    write, one the caller may write)."""
    parts = path.split("/")
    if len(parts) < 2 or not parts[0].isdigit():
        if write:
            raise missing(f"Artifact path '{path[:100]}' names no run of this workspace.")
        return
    if parts[1] == "models" and len(parts) >= 3:
        model = (
            LoggedModel.objects.filter(
                workspace=caller.workspace, experiment_id=int(parts[0][:18]), model_id=parts[2][:64]
            )
            .select_related("source_run")
            .first()
        )
        if model is None:
            raise missing(f"No logged model {parts[2][:64]} in workspace {caller.workspace.slug}.")
        if write:
            caller.check_write(model.source_run) if caller.run else caller.check_write()
        return
    run = Run.objects.filter(
        workspace=caller.workspace, experiment_id=int(parts[0][:18]), run_id=parts[1][:64]
    ).first()
    if run is None:
        raise missing(f"No run {parts[1][:64]} in workspace {caller.workspace.slug}.")
    if write:
        caller.check_write(run)
        check_writable(run)


def _listing(caller: Caller, request: HttpRequest) -> JsonResponse:
    path = artifacts.clean(request.GET.get("path", ""))
    if not path:
        return JsonResponse({"files": []})
    _owner(caller, path, write=False)
    files = []
    for entry in artifacts.listing(caller.workspace.pk, path):
        item = {"path": entry.path, "is_dir": entry.is_dir}
        if entry.size is not None:
            item["file_size"] = entry.size
        files.append(item)
    return JsonResponse({"files": files})


@csrf_exempt
def proxy(request: HttpRequest, slug: str, path: str = ""):
    try:
        caller = caller_for(request, slug)
        if not path and request.method == "GET":
            return _listing(caller, request)
        path = artifacts.clean(path)
        if request.method == "GET":
            _owner(caller, path, write=False)
            handle = artifacts.open_file(caller.workspace.pk, path)
            if handle is None:
                raise missing(f"No artifact at '{path[:200]}'.")
            return FileResponse(
                handle, as_attachment=False, content_type="application/octet-stream"
            )
        if request.method == "PUT":
            _owner(caller, path, write=True)
            length = request.headers.get("Content-Length")
            size = artifacts.save(
                caller.workspace.pk,
                path,
                request,
                int(length) if length and length.isdigit() else None,
            )
            return JsonResponse({"size": size})
        if request.method == "DELETE":
            _owner(caller, path, write=True)
            artifacts.delete(caller.workspace.pk, path)
            return JsonResponse({})
        return JsonResponse(
            {"error_code": "BAD_REQUEST", "message": "Use GET, PUT or DELETE on artifacts."},
            status=405,
        )
    except MlflowError as exc:
        return exc.response()
