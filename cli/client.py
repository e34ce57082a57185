"""A small HTTP client for the portal REST API (``/api/v1/``).

Each method returns decoded JSON (or text for logs) and raises :class:`ApiError` when the portal
refuses a request and :class:`UnreachableError` when it cannot be reached or fails (5xx). Both
carry the kp exit code and one line per problem.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

import requests

from cli.errors import (
    EXIT_AUTH,
    EXIT_NOT_FOUND,
    EXIT_REFUSED,
    EXIT_UNREACHABLE,
    CliError,
)

API_PREFIX = "/api/v1"
USER_AGENT = "kp/0.1"
TIMEOUT = (10.0, 60.0)  # (connect, read) seconds
UPLOAD_TIMEOUT = (10.0, 600.0)
PAGE_SIZE = 100
MAX_PAGES = 1000


class ApiError(CliError):
    """The portal answered with an HTTP error; ``errors`` holds field errors from a 400."""

    def __init__(
        self,
        exit_code: int,
        status: int,
        detail: str,
        errors: dict[str, list[str]] | None = None,
    ):
        self.status = status
        self.detail = detail
        self.errors = errors or {}
        lines = [detail] + [f"{path}: {msg}" if path else msg for path, msg in self.field_lines()]
        super().__init__(exit_code, lines)

    def field_lines(self) -> list[tuple[str, str]]:
        """Returns (field path, message) pairs, one per message."""
        return [(path, message) for path, messages in self.errors.items() for message in messages]


class UnreachableError(CliError):
    """The portal could not be reached, timed out or failed with a 5xx: exit code 5."""

    def __init__(self, message: str):
        super().__init__(EXIT_UNREACHABLE, message)


def _flatten_errors(value: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turns an ``errors`` value (nested dicts, lists or text) into path → messages."""
    result: dict[str, list[str]] = {}
    if isinstance(value, Mapping):
        for key, item in value.items():
            key = "" if key in ("non_field_errors", "__all__") else str(key)
            path = f"{prefix}.{key}" if prefix and key else (key or prefix)
            for sub, messages in _flatten_errors(item, path).items():
                result.setdefault(sub, []).extend(messages)
    elif isinstance(value, list | tuple):
        for item in value:
            if isinstance(item, Mapping | list | tuple):
                for sub, messages in _flatten_errors(item, prefix).items():
                    result.setdefault(sub, []).extend(messages)
            else:
                result.setdefault(prefix, []).append(str(item))
    elif value is not None:
        result.setdefault(prefix, []).append(str(value))
    return result


def _error_from_response(response: requests.Response) -> CliError:
    status = response.status_code
    body: Any = None
    try:
        body = response.json()
    except ValueError:
        body = None
    detail = ""
    errors: dict[str, list[str]] = {}
    if isinstance(body, Mapping):
        detail = str(body.get("detail") or body.get("message") or "").strip()
        errors = _flatten_errors(body.get("errors"))
        if not detail and not errors:  # a plain DRF serializer error: {"field": ["msg"]}
            errors = _flatten_errors(body)
    elif isinstance(body, list):
        errors = _flatten_errors(body)
    if not detail:
        text = " ".join(response.text.split())[:200] if body is None else ""
        detail = f"HTTP {status} {response.reason or ''}".strip() + (f": {text}" if text else "")
    else:
        detail = f"{detail} (HTTP {status})"
    if status >= 500:
        return UnreachableError(f"the portal failed: {detail}")
    if status == 401:
        return ApiError(EXIT_AUTH, status, f"{detail}; log in again with `kp login`", errors)
    if status == 403:
        return ApiError(EXIT_AUTH, status, detail, errors)
    if status == 404:
        return ApiError(EXIT_NOT_FOUND, status, detail, errors)
    return ApiError(EXIT_REFUSED, status, detail, errors)


class PortalClient:
    """Talks to one portal with one token."""

    def __init__(self, url: str, token: str, *, session: requests.Session | None = None):
        self.url = url.rstrip("/")
        self.session = session or requests.Session()
        self.session.headers.update(
            {
                "Authorization": f"Bearer {token}",
                "User-Agent": USER_AGENT,
                "Accept": "application/json",
            }
        )

    # ------------------------------------------------------------------ plumbing

    def api_url(self, path: str) -> str:
        """Returns the absolute URL of ``path`` (relative to ``/api/v1/``, or already absolute)."""
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.url}{API_PREFIX}/{path.lstrip('/')}"

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        json_body: Any = None,
        data: bytes | Mapping[str, str] | None = None,
        files: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: tuple[float, float] = TIMEOUT,
        stream: bool = False,
    ) -> requests.Response:
        """Sends one request; returns the response when 2xx, raises ApiError/UnreachableError."""
        url = self.api_url(path)
        try:
            response = self.session.request(
                method,
                url,
                params=params,
                json=json_body,
                data=data,
                files=files,
                headers=dict(headers or {}),
                timeout=timeout,
                stream=stream,
            )
        except requests.Timeout:
            raise UnreachableError(f"the portal at {self.url} did not answer in time") from None
        except requests.ConnectionError as exc:
            reason = _short_reason(exc)
            raise UnreachableError(f"cannot reach the portal at {self.url}: {reason}") from None
        except requests.RequestException as exc:
            raise UnreachableError(f"request to {url} failed: {exc}") from None
        if response.status_code >= 400:
            raise _error_from_response(response)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """Sends one request and returns its decoded JSON body (None for an empty body)."""
        response = self.request(method, path, **kwargs)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise UnreachableError(
                f"the portal sent a response that is not JSON for {method} {path}"
            ) from None

    def paginate(
        self, path: str, params: Mapping[str, Any] | None = None, *, limit: int | None = None
    ) -> Iterator[dict]:
        """Yields the items of a list endpoint, following ``next`` links, at most ``limit``."""
        query: dict[str, Any] = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        query["limit"] = min(limit, PAGE_SIZE) if limit else PAGE_SIZE
        url: str | None = path
        sent = 0
        for _ in range(MAX_PAGES):
            if url is None:
                return
            page = self.json("GET", url, params=query)
            query = {}  # the next link carries the query
            items = page.get("results", []) if isinstance(page, Mapping) else page
            for item in items or []:
                yield item
                sent += 1
                if limit and sent >= limit:
                    return
            url = page.get("next") if isinstance(page, Mapping) else None

    # ------------------------------------------------------------------ endpoints

    def me(self) -> dict:
        """GET /me/: the user behind the token and their workspaces."""
        return self.json("GET", "me/")

    def workspaces(self) -> list[dict]:
        """The workspaces the user belongs to."""
        return list(self.paginate("workspaces/"))

    def compute_targets(self, workspace: str) -> list[dict]:
        """The compute targets of ``workspace``."""
        return list(self.paginate("compute-targets/", {"workspace": workspace}))

    def instance_types(self, workspace: str, compute: str | None = None) -> list[dict]:
        """The instance types usable in ``workspace`` (on one compute target)."""
        return list(self.paginate("instance-types/", {"workspace": workspace, "compute": compute}))

    def environments(self, workspace: str) -> list[dict]:
        """The registered environments of ``workspace``."""
        return list(self.paginate(f"workspaces/{_seg(workspace)}/environments/"))

    def create_environment(self, workspace: str, fields: Mapping[str, Any]) -> dict:
        """Registers an environment (name, version, image, description)."""
        return self.json(
            "POST", f"workspaces/{_seg(workspace)}/environments/", json_body=dict(fields)
        )

    def models(self, workspace: str, params: Mapping[str, Any]) -> list[dict]:
        """Model versions of ``workspace`` (``name``, ``latest``, ``include_archived``)."""
        return list(self.paginate(f"workspaces/{_seg(workspace)}/models/", params))

    def create_model(
        self, workspace: str, fields: Mapping[str, Any], upload: tuple[str, str, Any] | None
    ) -> dict:
        """Creates a model version: JSON ``fields`` with a ``path``, or multipart with
        ``upload`` = (field "archive" or "file", file name, bytes or a file)."""
        path = f"workspaces/{_seg(workspace)}/models/"
        if upload is None:
            return self.json("POST", path, json_body=dict(fields), timeout=UPLOAD_TIMEOUT)
        form = {k: (v if isinstance(v, str) else json.dumps(v)) for k, v in fields.items()}
        field, name, body = upload
        return self.json(
            "POST", path, data=form, files={field: (name, body)}, timeout=UPLOAD_TIMEOUT
        )

    def model(self, workspace: str, name: str, version: str) -> dict:
        """One model version (``version`` "@latest": the newest not archived)."""
        return self.json("GET", _model_path(workspace, name, version))

    def model_action(self, workspace: str, name: str, version: str, action: str) -> dict:
        """``archive`` or ``restore`` one version."""
        return self.json("POST", _model_path(workspace, name, version) + f"{action}/")

    def model_file(self, workspace: str, name: str, version: str, path: str) -> requests.Response:
        """A streamed download of one of a version's files."""
        url = _model_path(workspace, name, version) + "files/" + quote(path)
        return self.request("GET", url, headers={"Accept": "*/*"}, stream=True)

    def upload_code(self, workspace: str, archive: bytes) -> dict:
        """Uploads a .tar.gz code archive; returns ``{"ref", "sha256", "size", "files"}``."""
        return self.json(
            "POST",
            f"workspaces/{_seg(workspace)}/code/",
            data=archive,
            headers={"Content-Type": "application/gzip"},
            timeout=UPLOAD_TIMEOUT,
        )

    def create_job(
        self, workspace: str, yaml_text: str, overrides: Mapping[str, str] | None = None
    ) -> dict:
        """Submits a job from its YAML text with ``--set`` overrides."""
        body = {"yaml": yaml_text, "overrides": dict(overrides or {})}
        return self.json("POST", f"workspaces/{_seg(workspace)}/jobs/", json_body=body)

    def jobs(
        self,
        workspace: str,
        params: Mapping[str, Any] | list[tuple[str, Any]],
        *,
        limit: int | None = None,
    ) -> list[dict]:
        """Lists jobs, newest first, filtered by ``params`` (a repeated key may come as pairs)."""
        pairs = list(params.items()) if isinstance(params, Mapping) else list(params)
        merged: dict[str, Any] = {}
        for key, value in pairs:
            if value in (None, "", []):
                continue
            if key in merged:
                previous = merged[key]
                merged[key] = (previous if isinstance(previous, list) else [previous]) + [value]
            else:
                merged[key] = value
        merged.setdefault("ordering", "-created_at")
        return list(self.paginate(f"workspaces/{_seg(workspace)}/jobs/", merged, limit=limit))

    def job(self, workspace: str, name: str) -> dict:
        """One job with its spec, transitions and instances."""
        return self.json("GET", _job_path(workspace, name))

    def tracking_url(self, workspace: str, path: str) -> str:
        """The URL of ``path`` under the workspace's MLflow API (``mlflow/...`` or
        ``mlflow-artifacts/...``)."""
        return f"{self.url}/mlflow/{workspace}/api/2.0/{path}"

    def metric_history(self, workspace: str, run_id: str, key: str) -> list[dict]:
        """Every point of one metric of a run, in step order."""
        points: list[dict] = []
        token = None
        for _ in range(MAX_PAGES):
            params = {"run_id": run_id, "metric_key": key, "max_results": 25000}
            if token:
                params["page_token"] = token
            page = self.json(
                "GET", self.tracking_url(workspace, "mlflow/metrics/get-history"), params=params
            )
            points += page.get("metrics", [])
            token = page.get("next_page_token")
            if not token:
                break
        return points

    def artifact_files(self, workspace: str, root: str) -> list[dict]:
        """One folder of the artifact store (``root`` in the proxy's path space)."""
        page = self.json(
            "GET", self.tracking_url(workspace, "mlflow-artifacts/artifacts"), params={"path": root}
        )
        return page.get("files", []) if isinstance(page, Mapping) else []

    def artifact(self, workspace: str, path: str) -> requests.Response:
        """A streamed download of one artifact file."""
        url = self.tracking_url(workspace, "mlflow-artifacts/artifacts/" + quote(path))
        try:
            response = self.session.get(url, stream=True, timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise UnreachableError(f"cannot download {path}: {_short_reason(exc)}") from None
        if response.status_code >= 400:
            raise _error_from_response(response)
        return response

    def cancel_job(self, workspace: str, name: str) -> dict:
        """Asks the portal to cancel a job."""
        return self.json("POST", _job_path(workspace, name) + "cancel/")

    def clone_job(
        self, workspace: str, name: str, overrides: Mapping[str, str] | None = None
    ) -> dict:
        """Submits a new job with the spec of ``name`` and ``overrides``."""
        body = {"overrides": dict(overrides or {})}
        return self.json("POST", _job_path(workspace, name) + "clone/", json_body=body)

    def job_logs(
        self, workspace: str, name: str, *, instance: int = 0, since_line: int = 0
    ) -> tuple[str, int | None]:
        """Returns (the log text from ``since_line`` on, the ``X-Next-Line`` header if any)."""
        response = self.request(
            "GET",
            _job_path(workspace, name) + "logs/",
            params={"instance": instance, "since_line": since_line},
            headers={"Accept": "text/plain"},
        )
        header = response.headers.get("X-Next-Line")
        next_line = int(header) if header and header.strip().isdigit() else None
        response.encoding = response.encoding or "utf-8"
        return response.text, next_line


def _seg(value: str) -> str:
    """Quotes one path segment."""
    return quote(value, safe="")


def _model_path(workspace: str, name: str, version: str) -> str:
    return f"workspaces/{_seg(workspace)}/models/{_seg(name)}/{_seg(version)}/"


def _job_path(workspace: str, name: str) -> str:
    return f"workspaces/{_seg(workspace)}/jobs/{_seg(name)}/"


def _short_reason(exc: Exception) -> str:
    """A one-line reason for a connection error, without urllib3's nested reprs."""
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "nodename nor servname",
                   "No route to host", "timed out", "CERTIFICATE_VERIFY_FAILED",
                   "Temporary failure in name resolution", "Network is unreachable"):  # fmt: skip
        if marker in text:
            return (
                marker.lower()
                if marker != "CERTIFICATE_VERIFY_FAILED"
                else ("TLS certificate verification failed")
            )
    return text.splitlines()[0][:200] if text else exc.__class__.__name__
