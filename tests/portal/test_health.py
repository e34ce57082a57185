"""/healthz, /readyz and /metrics: no sign-in, nothing revealed, the metrics behind a token;
the same on the probe port of worker, beat and watcher processes; log lines that carry their
request and say refusals at INFO."""

import json
import logging
import socket
import urllib.error
import urllib.request

import pytest
from django.test import Client

from portal import health, logs

pytestmark = pytest.mark.django_db


def test_healthz_and_readyz_answer_anyone_at_any_address():
    client = Client()
    # A probe names the pod's address, which is in no allowed host list.
    alive = client.get("/healthz", HTTP_HOST="10.244.1.7:8000")
    assert alive.status_code == 200 and alive.content == b"ok\n"
    ready = client.get("/readyz", HTTP_HOST="10.244.1.7:8000")
    assert ready.status_code == 200 and ready.content == b"ready\n"
    assert ready["Cache-Control"] == "no-store"


def test_readyz_says_not_ready_and_only_logs_what_failed(monkeypatch, caplog):
    monkeypatch.setattr(health.cache, "get", lambda key: None)  # the cache lost what it stored
    with caplog.at_level(logging.WARNING, logger="portal.health"):
        answer = Client().get("/readyz")
    assert answer.status_code == 503 and answer.content == b"not ready\n"
    assert any("cache" in r.getMessage() for r in caplog.records)


def test_metrics_need_the_token_on_the_web(settings):
    client = Client()
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404  # no token set: not served
    settings.METRICS_TOKEN = "scrape-secret"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    client.get("/login/")
    answer = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret")
    assert answer.status_code == 200 and answer["Content-Type"].startswith("text/plain")
    text = answer.content.decode()
    assert 'portal_http_requests_total{method="GET",status="200",view="login"}' in text
    assert 'portal_http_request_seconds_bucket{le="0.005",view="login"}' in text


def test_requests_are_counted_by_view_not_by_path(client_for, personas):
    from prometheus_client import REGISTRY

    def count(view: str, status: str) -> float:
        labels = {"view": view, "method": "GET", "status": status}
        return REGISTRY.get_sample_value("portal_http_requests_total", labels) or 0

    before = count("unmatched", "404"), count("workspace-detail", "404")
    client = client_for("outsider")
    client.get("/no/such/page/1")
    client.get("/no/such/page/2")
    client.get("/workspaces/team-a/")  # not theirs: 404
    assert count("unmatched", "404") - before[0] == 2
    assert count("workspace-detail", "404") - before[1] == 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fetch(url: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


@pytest.mark.django_db(transaction=True)
def test_the_probe_port_serves_the_three_paths_with_the_process_checks(settings, monkeypatch):
    settings.PROBE_ADDRESS = "127.0.0.1"
    settings.METRICS_TOKEN = ""
    monkeypatch.setattr(health, "_extra", {})
    server = health.serve_probes(free_port())
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        assert fetch(base + "/healthz") == (200, b"ok\n")
        assert fetch(base + "/readyz") == (200, b"ready\n")
        status, body = fetch(base + "/metrics")  # a port of its own: open without a token
        assert status == 200 and b"portal_" in body
        assert fetch(base + "/other")[0] == 404
        leases_pass = [True]
        health.add_check("watch leases", lambda: leases_pass[0])
        leases_pass[0] = False  # e.g. the lease loop stopped
        assert fetch(base + "/readyz") == (503, b"not ready\n")
        settings.METRICS_TOKEN = "scrape-secret"  # a token, once set, is asked there too
        assert fetch(base + "/metrics")[0] == 401
        assert fetch(base + "/metrics", "scrape-secret")[0] == 200
    finally:
        server.shutdown()
        server.server_close()


def test_every_log_line_of_a_request_carries_its_id(client_for, personas, caplog):
    client = client_for("reader")
    with caplog.at_level(logging.INFO):
        answer = client.get("/no/such/page", HTTP_X_REQUEST_ID="trace-42")
    assert answer["X-Request-ID"] == "trace-42"
    line = next(r for r in caplog.records if r.name == "django.request")
    handler_filter = logs.ContextFilter()
    handler_filter.filter(line)
    assert line.context == "req=trace-42"
    # An id that could forge log lines is replaced by one of the portal's own.
    answer = client.get("/no/such/page", HTTP_X_REQUEST_ID="bad id\nINFO forged")
    assert "\n" not in answer["X-Request-ID"] and answer["X-Request-ID"] != "bad id"


def test_a_refusal_is_logged_at_info_without_a_traceback(client_for, personas, caplog):
    with caplog.at_level(logging.INFO, logger="django.request"):
        # Raised as PermissionDenied and Http404, which Django logs with the exception.
        forbidden = client_for("reader").post("/workspaces/team-a/members", {"username": "x"})
        hidden = client_for("outsider").get("/workspaces/team-a/")
    assert forbidden.status_code == 403 and hidden.status_code == 404
    refusals = [r for r in caplog.records if r.name == "django.request"]
    assert len(refusals) == 2 and all(
        r.levelno == logging.INFO and r.exc_info is None for r in refusals
    )


def test_json_lines_hold_time_level_context_and_message():
    formatter = logs.JsonFormatter()
    record = logging.LogRecord("jobs", logging.WARNING, __file__, 1, "job %s waits", ("a",), None)
    with logs.bound("task=job_start:1234abcd"):
        logs.ContextFilter().filter(record)
    line = json.loads(formatter.format(record))
    assert line["level"] == "WARNING" and line["logger"] == "jobs"
    assert line["context"] == "task=job_start:1234abcd" and line["message"] == "job a waits"
    assert line["time"].endswith("+00:00")
