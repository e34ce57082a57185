"""MLflow's error replies: ``{"error_code": ..., "message": ...}`` with the HTTP status MLflow
gives each code, so the client's retries and messages behave as against an MLflow server."""

from django.http import JsonResponse

STATUS = {
    "INVALID_PARAMETER_VALUE": 400,
    "BAD_REQUEST": 400,
    "INVALID_STATE": 400,
    "RESOURCE_ALREADY_EXISTS": 400,
    "RESOURCE_DOES_NOT_EXIST": 404,
    "ENDPOINT_NOT_FOUND": 404,
    "PERMISSION_DENIED": 403,
    "UNAUTHENTICATED": 401,
    "REQUEST_LIMIT_EXCEEDED": 429,
}


class MlflowError(Exception):
    def __init__(self, code: str, message: str, *, wait: int | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.wait = code, message, wait

    @property
    def status(self) -> int:
        return STATUS.get(self.code, 400)

    def response(self) -> JsonResponse:
        response = JsonResponse(
            {"error_code": self.code, "message": self.message}, status=self.status
        )
        if self.wait is not None:
            response["Retry-After"] = str(self.wait)
        return response


def invalid(message: str) -> MlflowError:
    return MlflowError("INVALID_PARAMETER_VALUE", message)


def missing(message: str) -> MlflowError:
    return MlflowError("RESOURCE_DOES_NOT_EXIST", message)


def denied(message: str) -> MlflowError:
    return MlflowError("PERMISSION_DENIED", message)
