"""Kubernetes-style API errors carrying a ``Status`` object."""

from __future__ import annotations

from typing import Any

#: Status reasons keyed by HTTP code, used when a caller does not name one.
_DEFAULT_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
}


class ApiError(Exception):
    """An error answered to API clients as a ``Status`` with ``code`` and ``reason``."""

    def __init__(self, code: int, reason: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.code = code
        self.reason = reason or _DEFAULT_REASONS.get(code, "Unknown")
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        """Return the ``Status`` object (``kind: Status``) describing this failure.

        Its fields come in the API server's order; empty ``details`` members are left out,
        as Go's ``omitempty`` leaves them (no ``group`` for the core group).
        """
        out: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        if self.details is not None:
            out["details"] = {k: v for k, v in self.details.items() if v not in ("", None, [])}
        out["code"] = self.code
        return out

    def __repr__(self) -> str:
        return f"ApiError({self.code}, {self.reason!r}, {self.message!r})"


def not_found(resource: str, name: str, group: str = "") -> ApiError:
    """Return the 404 error Kubernetes gives for a missing object (``pods "x" not found``)."""
    kind = resource if not group else f"{resource}.{group}"
    return ApiError(
        404,
        "NotFound",
        f'{kind} "{name}" not found',
        {"name": name, "group": group, "kind": resource},
    )


def bad_request(message: str) -> ApiError:
    """Return a 400 BadRequest error with ``message``."""
    return ApiError(400, "BadRequest", message)


def invalid(kind: str, name: str, group: str, causes: list[dict]) -> ApiError:
    """Return a 422 Invalid error listing field ``causes`` like the API server does.

    Unlike the other errors its ``details.kind`` is the kind (``Deployment``), and the
    message names it qualified by group (``Deployment.apps "x" is invalid: ...``), with
    several causes in brackets.
    """
    errors = [f"{c['field']}: {c.get('message', '')}" for c in causes]
    detail = errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"
    qualified = kind if not group else f"{kind}.{group}"
    return ApiError(
        422,
        "Invalid",
        f'{qualified} "{name}" is invalid: {detail}',
        {"name": name, "group": group, "kind": kind, "causes": causes},
    )
