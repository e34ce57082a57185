"""What every request leaves behind: its id on each log line it causes (``X-Request-ID``
back on the response), and its count and latency in the metrics, by view and status."""

import time

from portal import logs, metrics

REQUESTS = metrics.counter(
    "http_requests",
    "HTTP requests answered, by view, method and status",
    ("view", "method", "status"),
)
LATENCY = metrics.histogram("http_request_seconds", "Time to answer an HTTP request", ("view",))


def view_label(request) -> str:
    """The URL pattern's name (``jobs:job-detail``), ``static`` or ``unmatched``: bounded, so
    the metrics never get a label value per path."""
    match = getattr(request, "resolver_match", None)
    if match is not None:
        return match.view_name or match._func_path
    if request.path.startswith("/static/"):
        return "static"
    return "unmatched"


class RequestMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.id = logs.request_id(request.headers.get("X-Request-ID"))
        # Not reset on the way out: Django logs the refusal or error line of a request after
        # the middleware returns, and it must carry the id too. Under ASGI each request runs
        # in a context of its own; the next request binds its own id.
        logs.bind(f"req={request.id}")
        started = time.perf_counter()
        response = self.get_response(request)
        view = view_label(request)
        REQUESTS.labels(view, request.method, str(response.status_code)).inc()
        LATENCY.labels(view).observe(time.perf_counter() - started)
        response["X-Request-ID"] = request.id
        return response
