"""Small helpers shared by test modules (fixtures live in conftest.py)."""

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float = 15.0, what: str = "condition") -> T:
    """Polls ``predicate`` until it returns something truthy and returns that; fails the test
    after ``timeout`` seconds. Tests wait for state, never assert how long it took."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what}; last value {value!r}"
            )
        time.sleep(0.03)


def make_jobs(target, count: int, *, created_by, prefix: str = "bulk", start: int = 0, **fields):
    """``count`` Job rows on compute ``target`` in one insert (no cluster objects), named
    ``<prefix>-<n>``; ``fields`` override the defaults (spec, status, ...)."""
    from jobs.models import Job

    defaults = {
        "instance_type": "defaultinstancetype",
        "spec_yaml": "{}",
        "spec": {},
        "image": "busybox",
    }
    return Job.objects.bulk_create(
        Job(
            workspace=target.workspace,
            compute=target,
            name=f"{prefix}-{i}",
            created_by=created_by,
            **{**defaults, **fields},
        )
        for i in range(start, start + count)
    )


def submit_job(client, text: str, name: str, **overrides):
    """Submits the job spec ``text`` to team-a through the API as ``name`` (``overrides``
    as the API takes them); asserts it was accepted and returns its row."""
    from jobs.models import Job

    response = client.post(
        "/api/v1/workspaces/team-a/jobs/",
        {"yaml": text, "overrides": {"name": name, **overrides}},
        content_type="application/json",
    )
    assert response.status_code == 202, response.content
    return Job.objects.get(name=name)


def run_until_terminal(job_id: int, timeout: float = 20.0, every: float = 0.1):
    """Runs the job's repair pass (``tasks.job_sync``) until the job ends; returns its row."""
    from jobs import tasks
    from jobs.models import Job

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tasks.job_sync(job_id)
        job = Job.objects.get(pk=job_id)
        if job.is_terminal:
            return job
        time.sleep(every)
    raise AssertionError(f"job {job_id} still {Job.objects.get(pk=job_id).status}")


class Reconciler(threading.Thread):
    """Stands in for the periodic reconcile pass of the embedded mode while the test runs."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stopping = threading.Event()

    def run(self):
        from django.db import close_old_connections

        from jobs import tasks

        while not self.stopping.wait(0.3):
            try:
                tasks.reconcile_jobs()
            finally:
                close_old_connections()


@contextmanager
def kp_logged_in(portal_url: str, user, config_dir, monkeypatch) -> Iterator[str]:
    """``kp`` logged in to the portal at ``portal_url`` as ``user`` (workspace team-a), with
    the reconcile pass running; yields the token."""
    from cli.main import main as kp
    from portal import services as portal_services

    _token, raw = portal_services.token_create(user=user, name="cli")
    monkeypatch.setenv("KP_CONFIG", str(config_dir / "kp.json"))
    for name in ("KP_URL", "KP_TOKEN", "KP_WORKSPACE"):
        monkeypatch.delenv(name, raising=False)
    assert kp(["login", "--url", portal_url, "--token", raw, "--workspace", "team-a"]) == 0
    reconciler = Reconciler()
    reconciler.start()
    try:
        yield raw
    finally:
        reconciler.stopping.set()
        reconciler.join(timeout=5)


@contextmanager
def recording_server() -> Iterator[tuple[str, list[dict]]]:
    """An HTTP server on 127.0.0.1 that answers 200 ``{}`` to everything and records each
    request's method, path and headers; yields (its URL, the records)."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self):
            seen.append({"method": self.command, "path": self.path, "headers": dict(self.headers)})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
