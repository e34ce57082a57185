"""One error shape for the API: ``{"detail": ..., "errors": {field: [messages]}}``."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework.views import exception_handler as drf_handler

from portal.errors import Conflict


class ConflictError(exceptions.APIException):
    """409: the request clashes with the current state (``portal.errors.Conflict``)."""

    status_code = 409
    default_detail = "Conflict."


class TooLarge(exceptions.APIException):
    status_code = 413
    default_detail = "Too large."


def exception_handler(exc, context):
    if isinstance(exc, Conflict):
        exc = ConflictError(str(exc))
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    response = drf_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(exc, exceptions.ValidationError):
        errors = data if isinstance(data, dict) else {"non_field_errors": data}
        fields = ", ".join(sorted(errors))
        response.data = {"detail": f"Invalid input in: {fields}.", "errors": errors}
    elif isinstance(data, dict) and "detail" in data:
        response.data = {"detail": str(data["detail"])}
    return response
