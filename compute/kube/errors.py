"""The portal's error for a failed cluster call, and the translation of client failures."""

import json
from enum import StrEnum

import urllib3
from kubernetes.client.rest import ApiException


class ErrorKind(StrEnum):
    """What went wrong, coarse enough to decide on (a str: ``err.kind == "conflict"`` works)."""

    UNREACHABLE = "unreachable"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    INVALID = "invalid"
    REFUSED = "refused"  # a quota or an admission webhook said no
    ERROR = "error"


class ClusterError(Exception):
    """A cluster call failed; ``message`` says what happened and what to do about it."""

    def __init__(
        self, kind: str, message: str, status: int | None = None, retry_after: float | None = None
    ):
        super().__init__(message)
        self.kind = ErrorKind(kind)
        self.message = message
        self.status = status
        # Seconds the server asked us to wait (429's Retry-After), when it said.
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        """True for failures that may pass on their own (unreachable, overloaded, 5xx)."""
        return self.kind == ErrorKind.UNREACHABLE


MAX_RETRY_AFTER = 300.0  # seconds: a longer Retry-After is taken as this


def retry_after(headers) -> float | None:
    """The Retry-After of an answer, in seconds (capped), when it gives a number."""
    try:
        value = float((headers or {}).get("Retry-After", ""))
    except (TypeError, ValueError):
        return None
    return min(max(value, 0.0), MAX_RETRY_AFTER)


# Statuses worth retrying: the server is overloaded or restarting.
_TRANSIENT = frozenset({429, 500, 502, 503, 504})


def _server_message(exc: ApiException) -> str:
    """The ``message`` of the Status object the API server answered with, if any."""
    body = exc.body
    if isinstance(body, bytes):
        body = body.decode(errors="replace")
    try:
        return json.loads(body or "{}").get("message", "") or ""
    except (ValueError, AttributeError):
        return body[:300] if isinstance(body, str) else ""


def _from_status(status: int, message: str, doing: str) -> ClusterError:
    if status == 401:
        return ClusterError(
            ErrorKind.UNAUTHORIZED,
            f"The cluster rejected the credentials while {doing}: the token is invalid or "
            "expired. Attach again with a valid token.",
            status,
        )
    if status == 403 and "exceeded quota" in message:
        return ClusterError(
            ErrorKind.REFUSED, f"The namespace quota refused it while {doing}: {message}", status
        )
    if status == 403:
        return ClusterError(
            ErrorKind.FORBIDDEN,
            f"The portal's credentials may not do this while {doing}: {message or 'forbidden'}. "
            "Grant the missing permission to the portal's account.",
            status,
        )
    if status == 404:
        return ClusterError(
            ErrorKind.NOT_FOUND,
            f"Not found while {doing}: {message or 'the object does not exist'}.",
            status,
        )
    if status == 409:
        return ClusterError(ErrorKind.CONFLICT, f"Conflict while {doing}: {message}", status)
    if status == 422:
        return ClusterError(
            ErrorKind.INVALID, f"The cluster refused the object while {doing}: {message}", status
        )
    if status == 429:
        return ClusterError(
            ErrorKind.UNREACHABLE,
            f"The API server is overloaded (429) while {doing}; the portal waits as it asks.",
            status,
        )
    if status in _TRANSIENT:
        return ClusterError(
            ErrorKind.UNREACHABLE,
            f"The API server answered {status} while {doing}; it will be retried.",
            status,
        )
    return ClusterError(
        ErrorKind.ERROR, f"The API server answered {status} while {doing}: {message}", status
    )


def translate(exc: Exception, doing: str) -> ClusterError:
    """Turns a client failure into a ClusterError that says what went wrong and what to do."""
    if isinstance(exc, ClusterError):
        return exc
    if isinstance(exc, ApiException):
        error = _from_status(exc.status, _server_message(exc), doing)
        if exc.status == 429:
            error.retry_after = retry_after(exc.headers) or 1.0
        return error
    if isinstance(exc, urllib3.exceptions.HTTPError | OSError | TimeoutError):
        return ClusterError(
            ErrorKind.UNREACHABLE,
            f"Could not reach the API server while {doing}: {type(exc).__name__}. "
            "Check the URL and that the cluster is up.",
        )
    return ClusterError(ErrorKind.ERROR, f"Unexpected error while {doing}: {exc}")
