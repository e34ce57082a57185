"""The one view of the MLflow REST API: authenticates the caller for the workspace and
hands the request to the handler registered for its path."""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

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
        result = handler(caller, read_params(request, extra))
    except MlflowError as exc:
        return exc.response()
    return JsonResponse(result, json_dumps_params={"allow_nan": False})


def server_info(request: HttpRequest, slug: str) -> JsonResponse:
    """What the client asks before large uploads: this server has no multipart uploads."""
    return JsonResponse({"multipart_uploads_enabled": False, "multipart_downloads_enabled": False})
