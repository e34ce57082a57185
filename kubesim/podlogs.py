"""The ``pods/<name>/log`` endpoint: tail, since, timestamps, previous, follow."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from aiohttp import web

from kubesim.errors import bad_request, not_found
from kubesim.logs import LogBook
from kubesim.store import Store


def rfc3339_nano(ts: datetime) -> str:
    """Return ``ts`` as RFC 3339 with nanosecond precision, as kubelet timestamps logs."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


def _int_param(request: web.Request, name: str) -> int | None:
    value = request.query.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise bad_request(f"{name} must be an integer") from exc


def _container_state(pod: dict, container: str) -> dict | None:
    status = pod.get("status") or {}
    for cs in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or []):
        if cs.get("name") == container:
            return cs.get("state") or {}
    return None


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("1", "true")


def pick_container(pod: dict, name: str, wanted: str | None) -> str:
    """Return the container a log request reads; raise 400 if it is ambiguous or unknown."""
    spec = pod.get("spec") or {}
    names = [c.get("name", "") for c in spec.get("containers") or []]
    all_names = names + [c.get("name", "") for c in spec.get("initContainers") or []]
    if not wanted:
        if len(names) != 1:
            raise bad_request(
                f"a container name must be specified for pod {name}, choose one "
                f"of: [{' '.join(names)}]"
            )
        return names[0]
    if wanted not in all_names:
        raise bad_request(f"container {wanted} is not valid for pod {name}")
    return wanted


def _check_readable(
    logs: LogBook, namespace: str, name: str, container: str, state: dict | None, previous: bool
) -> None:
    """Raise 400 when there is no log to read yet (waiting, or no previous container)."""
    if previous:
        if not logs.has_previous(namespace, name, container):
            raise bad_request(
                f'previous terminated container "{container}" in pod "{name}" not found'
            )
        return
    if (state is None and not logs.has(namespace, name, container)) or (
        state is not None and "waiting" in state
    ):
        reason = ((state or {}).get("waiting") or {}).get("reason") or "ContainerCreating"
        raise bad_request(f'container "{container}" in pod "{name}" is waiting to start: {reason}')


def _since_cutoff(request: web.Request) -> datetime | None:
    """Return the earliest line time asked for with sinceSeconds or sinceTime, or None."""
    cutoff = None
    since = _int_param(request, "sinceSeconds")
    if since is not None:
        cutoff = datetime.now(UTC) - timedelta(seconds=since)
    if request.query.get("sinceTime"):
        try:
            cutoff = datetime.fromisoformat(request.query["sinceTime"].replace("Z", "+00:00"))
        except ValueError as exc:
            raise bad_request("sinceTime must be RFC 3339") from exc
    return cutoff


def _select(request: web.Request, lines: list) -> list:
    """Return the lines a request keeps after its since and tailLines filters."""
    cutoff = _since_cutoff(request)
    if cutoff is not None:
        lines = [entry for entry in lines if entry[0] >= cutoff]
    tail = _int_param(request, "tailLines")
    if tail is not None and tail >= 0:
        lines = lines[-tail:] if tail else []
    return lines


class _Renderer:
    """Turns (time, text) lines into the response bytes, honouring limitBytes."""

    def __init__(self, stamps: bool, limit: int | None) -> None:
        self.stamps = stamps
        self.limit = limit if limit is not None and limit >= 0 else None
        self.sent = 0

    def render(self, chunk: list) -> bytes:
        if self.stamps:
            return "".join(f"{rfc3339_nano(ts)} {text}\n" for ts, text in chunk).encode()
        return "".join(f"{text}\n" for _, text in chunk).encode()

    def take(self, chunk: list) -> bytes:
        """Return the bytes of ``chunk`` still within the limit, counting them as sent."""
        data = self.render(chunk)
        if self.limit is not None:
            data = data[: max(0, self.limit - self.sent)]
        self.sent += len(data)
        return data

    @property
    def full(self) -> bool:
        return self.limit is not None and self.sent >= self.limit


async def serve_log(
    request: web.Request, store: Store, namespace: str, name: str
) -> web.StreamResponse:
    """Answer a pod log request; with ``follow`` stream lines until the container ends."""
    pod = store.peek("pods", name, namespace=namespace)
    if pod is None:
        raise not_found("pods", name)
    container = pick_container(pod, name, request.query.get("container"))
    logs = store.logs
    previous = _flag(request, "previous")
    state = _container_state(pod, container)
    _check_readable(logs, namespace, name, container, state, previous)
    lines = logs.lines(namespace, name, container, previous=previous)
    total = len(lines)
    out = _Renderer(_flag(request, "timestamps"), _int_param(request, "limitBytes"))
    lines = _select(request, lines)
    follow = _flag(request, "follow") and not previous
    if not follow or (state is not None and "terminated" in state):
        return web.Response(body=out.take(lines), content_type="text/plain")
    resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    try:
        await _follow(resp, out, lines, logs.follow(namespace, name, container, total))
        await resp.write_eof()
    except ConnectionError:
        pass
    return resp


async def _follow(
    resp: web.StreamResponse, out: _Renderer, lines: list, more: AsyncIterator[list]
) -> None:
    """Write ``lines`` then each chunk of ``more`` until it ends or the byte limit is hit."""
    data = out.take(lines)
    if data:
        await resp.write(data)
    if out.full:
        return
    async for chunk in more:
        data = out.take(chunk)
        if data:
            await resp.write(data)
        if out.full:
            return
