"""exec, attach and port-forward over websockets, as the API server proxies them.

Remote commands speak the channel protocols ``v5.channel.k8s.io`` / ``v4.channel.k8s.io``:
every binary message starts with a channel byte (0 stdin, 1 stdout, 2 stderr, 3 the
final Status, 4 terminal resize; v5 adds 255, "close this channel"). Port-forward speaks
``v4.channel.k8s.io`` with two channels per requested port (data, error), each opened by
the server with the port number (two bytes, little endian). SPDY is not offered: a
request without a websocket upgrade gets 400, and clients fall back to websockets as
they do with current API servers. The commands run in a registered ``PodRuntime``; pods
no runtime owns are simulated and get a Status that says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import orjson
from aiohttp import WSMsgType, web

from kubesim import spdy
from kubesim.errors import ApiError, bad_request, not_found
from kubesim.podlogs import pick_container
from kubesim.runtime import PodRuntime, Process
from kubesim.store import Store

log = logging.getLogger(__name__)

EXEC_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
FORWARD_PROTOCOLS = ("v4.channel.k8s.io", "portforward.k8s.io")
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
SUCCESS = {"metadata": {}, "status": "Success"}


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("1", "true")


def exit_status(code: int) -> dict:
    """Return the Status the error channel carries for a command's exit code."""
    if code == 0:
        return SUCCESS
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"command terminated with non-zero exit code: exit status {code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def simulated(name: str, what: str) -> ApiError:
    """Return the error for exec/attach/port-forward into a pod that runs no processes."""
    return bad_request(
        f'pod "{name}" is simulated by kubesim: it runs no processes, so {what} has '
        "nothing to connect to (pods of the local runtime support it)"
    )


class PodStreams:
    """Serves the ``exec``, ``attach`` and ``portforward`` subresources of pods."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def serve(
        self, request: web.Request, namespace: str, name: str, sub: str
    ) -> web.StreamResponse:
        """Upgrade to a websocket and run the session; raise a Status error before that."""
        pod = self.store.peek("pods", name, namespace=namespace)
        if pod is None:
            raise not_found("pods", name)
        what = {"exec": "exec", "attach": "attach", "portforward": "port-forward"}[sub]
        runtime = self.store.runtimes.for_pod(pod)
        if runtime is None:
            raise simulated(name, what)
        if (pod.get("status") or {}).get("phase") != "Running":
            raise bad_request(
                f"unable to upgrade connection: pod {name} is not running "
                f"(phase {(pod.get('status') or {}).get('phase')})"
            )
        if request.headers.get("Upgrade", "").lower() != "websocket":
            raise bad_request("Upgrade request required")
        if sub == "portforward":
            offered = request.headers.get("Sec-WebSocket-Protocol", "")
            if spdy.PROTOCOL in (p.strip() for p in offered.split(",")):
                ws = web.WebSocketResponse(protocols=(spdy.PROTOCOL,), max_msg_size=0)
                await ws.prepare(request)
                await spdy.SpdyForwarder(ws, runtime, pod).run()
                return ws
            return await self._forward(request, runtime, pod)
        return await self._exec(request, runtime, pod, name, sub)

    async def _exec(
        self, request: web.Request, runtime: PodRuntime, pod: dict, name: str, sub: str
    ) -> web.StreamResponse:
        container = pick_container(pod, name, request.query.get("container"))
        command = request.query.getall("command", [])
        if sub == "exec" and not command:
            raise bad_request("you must specify at least 1 command")
        tty, stdin = _flag(request, "tty"), _flag(request, "stdin")
        if sub == "attach":
            spec = next(c for c in pod["spec"]["containers"] if c.get("name") == container)
            command = list(spec.get("command") or []) + list(spec.get("args") or [])
        ws = web.WebSocketResponse(protocols=EXEC_PROTOCOLS, max_msg_size=0)
        await ws.prepare(request)
        try:
            if sub == "attach" and hasattr(runtime, "attach"):
                proc = await runtime.attach(pod, container, stdin=stdin, tty=tty)
            else:
                proc = await runtime.exec(pod, container, command, stdin=stdin, tty=tty)
        except Exception as exc:
            status = {"metadata": {}, "status": "Failure", "message": str(exc)}
            await ws.send_bytes(bytes([ERROR]) + orjson.dumps(status))
            await ws.close()
            return ws
        session = _ExecSession(ws, runtime, proc)
        await session.run()
        return ws

    async def _forward(
        self, request: web.Request, runtime: PodRuntime, pod: dict
    ) -> web.StreamResponse:
        try:
            ports = [int(p) for p in request.query.getall("ports", [])]
        except ValueError as exc:
            raise bad_request("ports must be integers") from exc
        if not ports:
            raise bad_request("at least one port must be specified")
        ws = web.WebSocketResponse(protocols=FORWARD_PROTOCOLS, max_msg_size=0)
        await ws.prepare(request)
        await _Forwarder(ws, runtime, pod, ports).run()
        return ws


class _ExecSession:
    """Copies between one websocket and one process, then reports its exit status."""

    def __init__(self, ws: web.WebSocketResponse, runtime: PodRuntime, proc: Process) -> None:
        self.ws, self.runtime, self.proc = ws, runtime, proc

    async def run(self) -> None:
        pumps = [
            asyncio.ensure_future(self._pump(stream, channel))
            for stream, channel in ((self.proc.stdout, STDOUT), (self.proc.stderr, STDERR))
            if stream is not None
        ]
        reader = asyncio.ensure_future(self._read_client())
        try:
            await asyncio.gather(*pumps)
            code = await self.proc.wait()
            await self.ws.send_bytes(bytes([ERROR]) + orjson.dumps(exit_status(code)))
        except ConnectionError:
            pass
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
            await self.ws.close()

    async def _pump(self, stream: asyncio.StreamReader, channel: int) -> None:
        while chunk := await stream.read(32768):
            await self.ws.send_bytes(bytes([channel]) + chunk)

    async def _read_client(self) -> None:
        async for msg in self.ws:
            if msg.type == WSMsgType.TEXT:
                data = msg.data.encode()
            elif msg.type == WSMsgType.BINARY:
                data = msg.data
            else:
                break
            if data:
                await self._on_client(data[0], data[1:])
        await self._close_stdin()

    async def _on_client(self, channel: int, data: bytes) -> None:
        stdin = self.proc.stdin
        if channel == STDIN and stdin is not None and data:
            stdin.write(data)
            await stdin.drain()
        elif channel == RESIZE:
            size = orjson.loads(data)
            self.runtime.resize(self.proc, int(size.get("Width", 0)), int(size.get("Height", 0)))
        elif channel == CLOSE and data[:1] == bytes([STDIN]):
            await self._close_stdin()

    async def _close_stdin(self) -> None:
        stdin = self.proc.stdin
        if stdin is not None and not stdin.is_closing():
            stdin.close()


class _Forwarder:
    """One websocket carrying connections to several ports of a pod."""

    def __init__(
        self, ws: web.WebSocketResponse, runtime: PodRuntime, pod: dict, ports: list[int]
    ) -> None:
        self.ws, self.runtime, self.pod, self.ports = ws, runtime, pod, ports
        self.writers: dict[int, asyncio.StreamWriter] = {}

    async def run(self) -> None:
        pumps = []
        for i, port in enumerate(self.ports):
            prefix = port.to_bytes(2, "little")
            await self.ws.send_bytes(bytes([2 * i]) + prefix)
            await self.ws.send_bytes(bytes([2 * i + 1]) + prefix)
            try:
                reader, writer = await self.runtime.connect(self.pod, port)
            except OSError as exc:
                message = f"error forwarding port {port} to pod: {exc}"
                await self.ws.send_bytes(bytes([2 * i + 1]) + message.encode())
                continue
            self.writers[i] = writer
            pumps.append(asyncio.ensure_future(self._pump(reader, 2 * i)))
        try:
            async for msg in self.ws:
                if msg.type != WSMsgType.BINARY or not msg.data:
                    break
                channel, data = msg.data[0], msg.data[1:]
                writer = self.writers.get(channel // 2)
                if channel % 2 == 0 and writer is not None and data:
                    writer.write(data)
                    await writer.drain()
        finally:
            for task in pumps:
                task.cancel()
            for writer in self.writers.values():
                writer.close()
            await self.ws.close()

    async def _pump(self, reader: asyncio.StreamReader, channel: int) -> None:
        with contextlib.suppress(ConnectionError):
            while chunk := await reader.read(32768):
                await self.ws.send_bytes(bytes([channel]) + chunk)
        await self.ws.close()
