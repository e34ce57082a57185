"""The ``pods/<name>/log`` endpoint: tail, since, timestamps, previous, follow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiohttp import web

from kubesim.errors import bad_request, not_found
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


async def serve_log(
    request: web.Request, store: Store, namespace: str, name: str
) -> web.StreamResponse:
    """Answer a pod log request; with ``follow`` stream lines until the container ends."""
    pod = store.peek("pods", name, namespace=namespace)
    if pod is None:
        raise not_found("pods", name)
    q = request.query
    spec = pod.get("spec") or {}
    names = [c.get("name", "") for c in spec.get("containers") or []]
    all_names = names + [c.get("name", "") for c in spec.get("initContainers") or []]
    container = q.get("container")
    if not container:
        if len(names) != 1:
            raise bad_request(
                f"a container name must be specified for pod {name}, choose one "
                f"of: [{' '.join(names)}]"
            )
        container = names[0]
    elif container not in all_names:
        raise bad_request(f"container {container} is not valid for pod {name}")
    logs = store.logs
    previous = q.get("previous", "").lower() in ("1", "true")
    state = _container_state(pod, container)
    if previous:
        if not logs.has_previous(namespace, name, container):
            raise bad_request(
                f'previous terminated container "{container}" in pod "{name}" not found'
            )
    elif (state is None and not logs.has(namespace, name, container)) or (
        state is not None and "waiting" in state
    ):
        reason = ((state or {}).get("waiting") or {}).get("reason") or "ContainerCreating"
        raise bad_request(f'container "{container}" in pod "{name}" is waiting to start: {reason}')
    lines = logs.lines(namespace, name, container, previous=previous)
    total = len(lines)
    since = _int_param(request, "sinceSeconds")
    if since is not None:
        cutoff = datetime.now(UTC) - timedelta(seconds=since)
        lines = [entry for entry in lines if entry[0] >= cutoff]
    if q.get("sinceTime"):
        try:
            cutoff = datetime.fromisoformat(q["sinceTime"].replace("Z", "+00:00"))
        except ValueError as exc:
            raise bad_request("sinceTime must be RFC 3339") from exc
        lines = [entry for entry in lines if entry[0] >= cutoff]
    tail = _int_param(request, "tailLines")
    if tail is not None and tail >= 0:
        lines = lines[-tail:] if tail else []
    stamps = q.get("timestamps", "").lower() in ("1", "true")
    limit = _int_param(request, "limitBytes")

    def render(chunk: list) -> bytes:
        if stamps:
            return "".join(f"{rfc3339_nano(ts)} {text}\n" for ts, text in chunk).encode()
        return "".join(f"{text}\n" for _, text in chunk).encode()

    follow = q.get("follow", "").lower() in ("1", "true") and not previous
    terminated = state is not None and "terminated" in state
    if not follow or terminated:
        data = render(lines)
        if limit is not None and limit >= 0:
            data = data[:limit]
        return web.Response(body=data, content_type="text/plain")
    resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    sent = 0

    async def send(data: bytes) -> bool:
        nonlocal sent
        if limit is not None and limit >= 0:
            data = data[: max(0, limit - sent)]
        if data:
            await resp.write(data)
            sent += len(data)
        return limit is None or sent < limit

    try:
        if await send(render(lines)):
            async for chunk in logs.follow(namespace, name, container, total):
                if not await send(render(chunk)):
                    break
        await resp.write_eof()
    except ConnectionError:
        pass
    return resp
