"""The MLflow REST API's plumbing under ``/mlflow/<workspace>/api/2.0/mlflow/``: one view that
authenticates the caller for the workspace, reads the request (query string for GET, JSON
body otherwise) and hands it to the handler registered for the path."""

import json
from collections.abc import Callable

from django.http import HttpRequest

from portal.jsonguard import MAX_DEPTH, depth_over
from tracking.auth import Caller
from tracking.errors import invalid

MAX_BODY = 2 * 1024 * 1024  # log-batch allows 1 MB of payload; leave room for JSON


Handler = Callable[[Caller, dict], dict]
# path → method → handler
ENDPOINTS: dict[str, dict[str, Handler]] = {}


def endpoint(path: str, *methods: str):
    def register(handler: Handler) -> Handler:
        for method in methods:
            ENDPOINTS.setdefault(path, {})[method] = handler
        return handler

    return register


class Params(dict):
    """The request's fields; ``many(name)`` for repeated query parameters (``run_ids``)."""

    def __init__(self, data: dict, lists: dict | None = None) -> None:
        super().__init__(data)
        self.lists = lists or {}

    def many(self, name: str) -> list:
        if name in self.lists:
            return self.lists[name]
        value = self.get(name)
        if value is None:
            return []
        return value if isinstance(value, list) else [value]


def read_params(request: HttpRequest, extra: dict) -> Params:
    if request.method == "GET" or request.method == "DELETE" and not request.body:
        return Params(
            {**{k: request.GET.get(k) for k in request.GET}, **extra}, dict(request.GET.lists())
        )
    if len(request.body) > MAX_BODY:
        raise invalid(f"The request body is over {MAX_BODY} bytes; send smaller batches.")
    try:
        body = json.loads(request.body or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise invalid("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.")
    if depth_over(body, MAX_DEPTH):
        raise invalid("The request body is nested too deeply.")
    return Params({**body, **extra}, {k: v for k, v in request.GET.lists()})
