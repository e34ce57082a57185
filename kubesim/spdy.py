"""Port-forward as kubectl 1.32 speaks it: SPDY/3.1 frames tunnelled through a websocket.

kubectl's port-forward asks for the websocket subprotocol ``SPDY/3.1+portforward.k8s.io``
(the PortForwardWebsockets feature) and then runs a SPDY/3.1 session over the websocket's
binary messages, as it would over an upgraded connection to the kubelet. For each
connection to a local port it opens two streams with the headers ``streamType`` (``error``
or ``data``), ``port`` and ``requestID``; the server replies to each, connects to the pod's
port once both streams of a request are there, copies bytes between the data stream and
the connection, writes a failure as text on the error stream, and ends both streams when
the connection closes. Only what that exchange uses is implemented: SYN_STREAM,
SYN_REPLY, DATA, RST_STREAM, PING and GOAWAY; SETTINGS, HEADERS and WINDOW_UPDATE are
read and ignored (the client does not enforce flow-control windows).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import zlib
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web

from kubesim.runtime import PodRuntime

PROTOCOL = "SPDY/3.1+portforward.k8s.io"
SYN_STREAM, SYN_REPLY, RST_STREAM, PING, GOAWAY = 1, 2, 3, 6, 7
FIN = 0x01
_WORDS = (
    "options head post put delete trace accept accept-charset accept-encoding "
    "accept-language accept-ranges age allow authorization cache-control connection "
    "content-base content-encoding content-language content-length content-location "
    "content-md5 content-range content-type date etag expect expires from host if-match "
    "if-modified-since if-none-match if-range if-unmodified-since last-modified location "
    "max-forwards pragma proxy-authenticate proxy-authorization range referer retry-after "
    "server te trailer transfer-encoding upgrade user-agent vary via warning "
    "www-authenticate method get status"
).split() + ["200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive", "origin"]
_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 "
    "Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 "
    "Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, "
    "Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
    "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
    "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)
#: The header-compression dictionary of SPDY/3 (draft 3, section 2.6.10.1).
DICTIONARY = b"".join(struct.pack(">I", len(w)) + w.encode() for w in _WORDS) + _TAIL.encode()


def control_frame(kind: int, payload: bytes, flags: int = 0) -> bytes:
    """Return a SPDY/3 control frame of ``kind`` carrying ``payload``."""
    return struct.pack(">HHI", 0x8000 | 3, kind, flags << 24 | len(payload)) + payload


def data_frame(stream: int, data: bytes, flags: int = 0) -> bytes:
    """Return a DATA frame for ``stream``."""
    return struct.pack(">II", stream & 0x7FFFFFFF, flags << 24 | len(data)) + data


def parse_headers(block: bytes) -> dict[str, str]:
    """Return the (decompressed) header block's names, lower-cased, and values."""
    (count,), pos, out = struct.unpack_from(">I", block), 4, {}
    for _ in range(count):
        (size,) = struct.unpack_from(">I", block, pos)
        name = block[pos + 4 : pos + 4 + size].decode().lower()
        pos += 4 + size
        (size,) = struct.unpack_from(">I", block, pos)
        out[name] = block[pos + 4 : pos + 4 + size].decode()
        pos += 4 + size
    return out


@dataclass
class _Request:
    """The two streams of one forwarded connection."""

    port: int
    error: int = 0
    data: int = 0
    writer: asyncio.StreamWriter | None = None
    pending: list[bytes] = field(default_factory=list)
    client_done: bool = False


class SpdyForwarder:
    """One kubectl port-forward session: a SPDY session inside a websocket."""

    def __init__(self, ws: web.WebSocketResponse, runtime: PodRuntime, pod: dict) -> None:
        self.ws, self.runtime, self.pod = ws, runtime, pod
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)
        self._deflate = zlib.compressobj(zlib.Z_BEST_COMPRESSION, zdict=DICTIONARY)
        self._requests: dict[str, _Request] = {}
        self._by_stream: dict[int, _Request] = {}
        self._tasks: set[asyncio.Task] = set()
        self._lock = asyncio.Lock()

    async def _send(self, frame: bytes) -> None:
        async with self._lock:
            if not self.ws.closed:
                await self.ws.send_bytes(frame)

    async def run(self) -> None:
        """Serve frames until the client goes away; close every connection then."""
        buffer = b""
        try:
            async for msg in self.ws:
                if msg.type != WSMsgType.BINARY:
                    break
                buffer += msg.data
                while len(buffer) >= 8:
                    (length,) = struct.unpack_from(">I", buffer, 4)
                    size = 8 + (length & 0xFFFFFF)
                    if len(buffer) < size:
                        break
                    frame, buffer = buffer[:size], buffer[size:]
                    if not await self._on_frame(frame):
                        return
        finally:
            for task in self._tasks:
                task.cancel()
            for request in self._requests.values():
                if request.writer is not None:
                    request.writer.close()
            await self.ws.close()

    async def _on_frame(self, frame: bytes) -> bool:
        """Handle one frame; return False when the session is over (GOAWAY)."""
        flags, payload = frame[4], frame[8:]
        if not frame[0] & 0x80:
            (stream,) = struct.unpack_from(">I", frame)
            await self._on_data(stream & 0x7FFFFFFF, payload, flags)
            return True
        (kind,) = struct.unpack_from(">H", frame, 2)
        if kind == SYN_STREAM:
            await self._on_syn(payload, flags)
        elif kind == RST_STREAM:
            request = self._by_stream.get(struct.unpack_from(">I", payload)[0] & 0x7FFFFFFF)
            if request is not None and request.writer is not None:
                request.writer.close()
        elif kind == PING:
            await self._send(control_frame(PING, payload[:4]))
        elif kind == GOAWAY:
            return False
        return True

    async def _on_syn(self, payload: bytes, flags: int) -> None:
        stream = struct.unpack_from(">I", payload)[0] & 0x7FFFFFFF
        headers = parse_headers(self._inflate.decompress(payload[10:]))
        block = self._deflate.compress(struct.pack(">I", 0)) + self._deflate.flush(
            zlib.Z_SYNC_FLUSH
        )
        await self._send(control_frame(SYN_REPLY, struct.pack(">I", stream) + block))
        key = headers.get("requestid") or headers.get("port", "")
        try:
            port = int(headers.get("port", ""))
        except ValueError:
            await self._send(data_frame(stream, b"invalid port header", FIN))
            return
        request = self._requests.setdefault(key, _Request(port))
        self._by_stream[stream] = request
        if headers.get("streamtype") == "error":
            request.error = stream
        else:
            request.data = stream
            request.client_done = bool(flags & FIN)
        if request.error and request.data and request.writer is None:
            task = asyncio.ensure_future(self._forward(request))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _on_data(self, stream: int, data: bytes, flags: int) -> None:
        request = self._by_stream.get(stream)
        if request is None or stream != request.data:
            return
        if request.writer is None:
            request.pending.append(data)
        elif data:
            request.writer.write(data)
            await request.writer.drain()
        if flags & FIN:
            request.client_done = True
            if request.writer is not None and request.writer.can_write_eof():
                request.writer.write_eof()

    async def _forward(self, request: _Request) -> None:
        """Connect to the pod's port and copy the connection's bytes to the data stream."""
        try:
            reader, writer = await self.runtime.connect(self.pod, request.port)
        except OSError as exc:
            name = self.pod["metadata"]["name"]
            message = f"error forwarding port {request.port} to pod {name}: {exc}"
            await self._send(data_frame(request.error, message.encode(), FIN))
            await self._send(data_frame(request.data, b"", FIN))
            return
        request.writer = writer
        for chunk in request.pending:
            writer.write(chunk)
        request.pending.clear()
        if request.client_done and writer.can_write_eof():
            writer.write_eof()
        with contextlib.suppress(ConnectionError):
            while chunk := await reader.read(32768):
                await self._send(data_frame(request.data, chunk))
        writer.close()
        await self._send(data_frame(request.data, b"", FIN))
        await self._send(data_frame(request.error, b"", FIN))
