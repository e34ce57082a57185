"""A stub portal for the kp unit tests: the REST API contract, minimally, in a thread."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

TOKEN = "good-token"
WORKSPACE = "team-a"
CODE_SHA = "ab" * 32


@dataclass
class Seen:
    """One request the stub received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class StubPortal:
    """State of the stub; tests tweak it before running kp."""

    url: str = ""
    seen: list[Seen] = field(default_factory=list)
    jobs: dict[str, dict] = field(default_factory=dict)
    # name -> [(status, reason, number of log lines available)], one step per GET of the job
    scripts: dict[str, list[tuple[str, str | None, int]]] = field(default_factory=dict)
    logs: dict[str, list[str]] = field(default_factory=dict)
    # (method, path) -> (status, JSON body): forced answers
    forced: dict[tuple[str, str], tuple[int, Any]] = field(default_factory=dict)
    created: int = 0

    def requests_to(self, method: str, suffix: str) -> list[Seen]:
        return [s for s in self.seen if s.method == method and s.path.endswith(suffix)]

    def job(self, name: str, status: str = "Queued", **extra: Any) -> dict:
        job = {
            "name": name,
            "display_name": name,
            "status": status,
            "status_reason": None,
            "experiment_name": "Default",
            "compute": "gpu-pool",
            "instance_type": "small",
            "created_by": "scientist",
            "created_at": "2024-05-01T10:00:00Z",
            "url": f"/workspaces/{WORKSPACE}/jobs/{name}/",
            "api_url": f"/api/v1/workspaces/{WORKSPACE}/jobs/{name}/",
            "tags": {},
        }
        job.update(extra)
        self.jobs[name] = job
        return job


def _handler(portal: StubPortal) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            pass

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_DELETE(self) -> None:
            self._handle("DELETE")

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            if isinstance(body, str):
                data, kind = body.encode(), "text/plain; charset=utf-8"
            else:
                data, kind = json.dumps(body).encode(), "application/json"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _handle(self, method: str) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            seen = Seen(method, parts.path, parse_qs(parts.query), dict(self.headers), body)
            portal.seen.append(seen)
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._send(401, {"detail": "Invalid token."})
                return
            if (method, parts.path) in portal.forced:
                self._send(*portal.forced[(method, parts.path)])
                return
            answer = route(portal, method, parts.path.removeprefix("/api/v1/"), seen)
            self._send(*answer)

    return Handler


def _page(items: list[dict]) -> dict:
    return {"count": len(items), "next": None, "previous": None, "results": items}


def route(portal: StubPortal, method: str, path: str, seen: Seen) -> tuple:
    """The stub's endpoints; returns (status, body[, headers])."""
    ws = f"workspaces/{WORKSPACE}/"
    if (method, path) == ("GET", "me/"):
        workspaces = [{"slug": WORKSPACE, "name": "Team A", "role": "data_scientist"},
                      {"slug": "team-b", "name": "Team B", "role": "reader"}]  # fmt: skip
        return 200, {"id": 1, "username": "scientist", "is_itops": False, "workspaces": workspaces}
    if (method, path) == ("GET", "workspaces/"):
        return 200, _page(
            [{"slug": WORKSPACE, "name": "Team A", "description": "", "role": "admin"}]
        )
    if (method, path) == ("GET", "compute-targets/"):
        target = {"id": 1, "name": "gpu-pool", "workspace": WORKSPACE, "cluster": "lab",
                  "namespace": "team-a", "status": "Ready", "status_reason": "",
                  "quota": [{"resource": "cpu", "used": "4", "hard": "16", "percent": 25}],
                  "instance_types": [{"name": "small"}]}  # fmt: skip
        return 200, _page([target])
    if (method, path) == ("GET", "instance-types/"):
        small = {"id": 1, "name": "small", "cluster": "lab", "node_selector": {},
                 "requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"cpu": "2"},
                 "free_slots": 3, "capacity_slots": 4, "fitting_nodes": 2,
                 "fits": True}  # fmt: skip
        return 200, _page([small])
    if path == ws + "environments/":
        if method == "POST":
            return 201, {**seen.json(), "created_at": "2024-05-01T10:00:00Z"}
        return 200, _page([])
    if (method, path) == ("POST", ws + "code/"):
        return 201, {"ref": f"portal:code/{CODE_SHA}", "sha256": CODE_SHA,
                     "size": len(seen.body), "files": 2}  # fmt: skip
    if path == ws + "jobs/":
        if method == "POST":
            portal.created += 1
            return 202, portal.job(f"job-{portal.created}")
        return 200, _page(list(portal.jobs.values()))
    if not path.startswith(ws + "jobs/"):
        return 404, {"detail": "Not found."}
    return _job_route(portal, method, path.removeprefix(ws + "jobs/"), seen)


def _job_route(portal: StubPortal, method: str, rest: str, seen: Seen) -> tuple:
    """The stub's endpoints of one job (``rest``: "<name>/<action>")."""
    name, _, action = rest.partition("/")
    job = portal.jobs.get(name)
    if job is None:
        return 404, {"detail": f"No job named {name} in this workspace."}
    if (method, action) == ("GET", ""):
        script = portal.scripts.get(name)
        if script:
            job["status"], job["status_reason"], job["_lines"] = script.pop(0)
        return 200, {k: v for k, v in job.items() if not k.startswith("_")}
    if (method, action) == ("GET", "logs/"):
        lines = portal.logs.get(name, [])[: job.get("_lines", 10**6)]
        since = int(seen.query.get("since_line", ["0"])[0])
        text = "".join(line + "\n" for line in lines[since:])
        return 200, text, {"X-Next-Line": str(len(lines))}
    if (method, action) == ("POST", "cancel/"):
        job["status"] = "Canceled"
        return 202, job
    if (method, action) == ("POST", "clone/"):
        portal.created += 1
        return 202, portal.job(f"job-{portal.created}")
    return 404, {"detail": "Not found."}


@pytest.fixture
def stub_portal() -> Iterator[StubPortal]:
    """A running stub portal on 127.0.0.1 (random port)."""
    portal = StubPortal()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(portal))
    server.daemon_threads = True
    portal.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield portal
    finally:
        server.shutdown()
        server.server_close()
