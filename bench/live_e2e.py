"""Live updates end to end, with every piece in its own process as deployed: how many pod
changes per second reach the database and the browsers' websockets, and how long one change
takes from kubesim to a frame at a client.

Run by hand (prints figures, asserts nothing; a full run takes a few minutes):

    .venv/bin/python bench/live_e2e.py                # embedded: SQLite, in-process layer
    .venv/bin/python bench/live_e2e.py --production   # PostgreSQL, Redis channel layer
    .venv/bin/python bench/live_e2e.py --only latency --rates 1000 --clients 1000  # one case

What runs where:

- **kubesim** (child process, ``multiprocessing`` spawn): ``KubeSim(controllers=False)`` on its
  own thread plus a small driver obeying this process over a Pipe: fill the cluster (one
  batch/v1 Job per portal job, ``--pods`` Running pods each, labelled as the portal labels
  them), change every pod's restartCount once as fast as it can (ingest), or change pods
  round robin at a steady rate in 10 ms ticks (latency). For each change it returns the
  ``time.monotonic()`` just after the store applied it; CLOCK_MONOTONIC is shared by all
  processes on Linux, so these compare with the clients' arrival times.
- **the portal**, as real server processes, both with ``--ws websockets-sansio`` and, as the
  README deploys them, without permessage-deflate (``--ws-deflate`` turns it on):
  embedded: one ``uvicorn portal.asgi:application --lifespan on`` process (SQLite in a temp
  PORTAL_DATA_DIR, in-process channel layer, PORTAL_SANDBOX=0, tasks on its thread pool);
  its lifespan starts the cluster watchers in the same process.
  production: one uvicorn process (a single worker) and one ``manage.py watch_clusters``
  process, PostgreSQL (database ``portal_bench_live``, dropped at the end) and Redis (db 12,
  flushed): the watcher's broadcasts travel through the Redis channel layer to the web
  process's consumers. PORTAL_TASKS=celery as deployed; no Celery worker or beat runs, and
  the measured path enqueues no task.
  In the embedded mode the periodic passes (cluster sync, log follow, job reconcile) are
  pushed out to once an hour so that both modes measure the same path; their first pass,
  2 s after start, is waited out (until kubesim sees no new request for 2 s).
- **the clients** (child process, spawn): websocket clients written out in this file on
  bare asyncio transports (handshake, frames, permessage-deflate offered as browsers do;
  pings answered at once) on
  ``/ws/live/?groups=jobs.job.<pk>,...`` with the user's session cookie and an Origin of the
  portal. Frames carrying ``id="job-<pk>-instances"`` are parsed; a frame delivers
  (job, pod index, value) when that restart count shows in that pod's row. The first
  arrival per client counts; values coalesced into a later frame have no sample. During a
  latency run a client only splits its reads into frames and keeps them, compressed, with
  their arrival time; they are inflated and parsed after the run. Browsers do not share the servers' cores; these
  clients do, and decoding 1,000 sockets' frames as they came took about half a core and
  delayed the very arrival times being measured.
- **this process** prepares the database before the portal starts (migrate, user, workspace
  membership, cluster with encrypted credentials to kubesim, target, Running jobs), makes a
  session cookie, drives the other processes and polls the database (Instance rows).

Figures:

(a) ingest: every one of ``--jobs`` x ``--pods`` pods changes once, as fast as kubesim can
    write, with 0, 1, 100 and 1,000 clients; client i asks for the jobs j with
    j % clients == i (at most 50 groups per socket, the consumer's limit; the single client
    thus asks for the first 50 jobs). Measured from the first change until the database shows
    every final value and every client has the final value of each pod of its jobs.
(b) latency: 100 and 1,000 changes/s for ``--seconds`` over all pods of the first 100 jobs
    (round robin over pod index, then job), with 1 client (asking for the first 50 of those
    jobs), 100 clients (one job each) and 1,000 clients (one job each, so 10 per job). Latency
    is from the change in kubesim to the first frame showing it at a subscribed client; the
    share is of (change, subscribed client) pairs that got such a frame. Each case runs
    ``--repeat`` times (3) on the same sockets and also prints the median of the runs' p50
    and p99: on this shared 2-core machine one run's p99 varies by a third or more.

What went wrong is printed, not hidden: a group the consumer refused (its notice) is not
counted as subscribed; a socket the server closed is left out of the figures; errors in the
servers' logs are summed up after each case; in the production mode, group memberships left
in Redis once every socket closed are counted and removed, so each case starts clean.
Every child process is stopped on exit, on Ctrl-C and on errors.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import math
import multiprocessing
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NS = "bench"
INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
PG_DATABASE = "portal_bench_live"
REDIS_DB = 12
LATENCY_JOBS = 100
MAX_GROUPS = 50  # portal.consumers.MAX_GROUPS
TICK = 0.01

# ---- frames ------------------------------------------------------------------------------

INSTANCES = re.compile(r'id="job-(\d+)-instances"(.*?)</table>', re.S)
# <tr><td>index</td><td>pod</td><td>node</td><td>phase</td><td>state</td><td>restarts</td></tr>
ROW = re.compile(r"<tr><td>(\d+)</td>(?:<td>[^<]*</td>){4}<td>(\d+)</td></tr>")
# The last line of a logged traceback ("redis.exceptions.TimeoutError: ...").
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception)\b")
# A warning of the portal's own code (logger and the message's first words, not its details).
OWN_WARNING = re.compile(r" WARNING ((?:portal|compute|jobs|kubesim)\.[\w.]+: [^:;(]{0,60})")
# The consumer's notice about a group it did not join.
REFUSED = re.compile(r"Live updates for jobs\.job\.(\d+) are not available")


def parse_frame(text: str) -> list[tuple[int, int, int]]:
    """Returns (job pk, pod index, restarts) for every instance row the frame shows."""
    return [
        (int(job), int(index), int(restarts))
        for job, table in INSTANCES.findall(text)
        for index, restarts in ROW.findall(table)
    ]


# ---- the kubesim process -------------------------------------------------------------------


def pod_status(restarts: int) -> dict:
    return {
        "phase": "Running",
        "containerStatuses": [
            {
                "name": "main",
                "ready": True,
                "restartCount": restarts,
                "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}},
            }
        ],
    }


class SimDriver:
    """Commands run in the kubesim process; store access happens on kubesim's loop."""

    def __init__(self, sim) -> None:
        self.sim = sim

    def _set(self, name: str, restarts: int) -> None:
        self.sim.store.patch(
            "pods", name, {"status": pod_status(restarts)}, namespace=NS, subresource="status"
        )

    def fill(self, jobs: list[tuple[int, str]], pods: int) -> float:
        """Creates the namespace, a Job per portal job and ``pods`` Running pods each."""
        from compute.kube.labels import JOB_ID, MANAGED_LABELS

        started = time.monotonic()
        store = self.sim.store
        self.sim.call(store.create, "namespaces", {"metadata": {"name": NS}})

        def create(pk: int, name: str) -> None:
            labels = {**MANAGED_LABELS, JOB_ID: str(pk)}
            store.create(
                "jobs.batch",
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "metadata": {"name": name, "labels": labels},
                    "spec": {"template": {"spec": {"containers": [{"name": "main"}]}}},
                },
                namespace=NS,
            )
            for index in range(pods):
                store.create(
                    "pods",
                    {
                        "metadata": {
                            "name": f"{name}-{index}",
                            "labels": labels,
                            "annotations": {INDEX_ANNOTATION: str(index)},
                        },
                        "spec": {"containers": [{"name": "main", "image": "busybox"}]},
                    },
                    namespace=NS,
                )
                self._set(f"{name}-{index}", 0)

        for pk, name in jobs:
            self.sim.call(create, pk, name)
        return time.monotonic() - started

    def _write(self, changes: list[tuple[int, str, int, int]]) -> list[tuple[tuple, float]]:
        done = []
        for pk, name, index, value in changes:
            self._set(f"{name}-{index}", value)
            done.append(((pk, index, value), time.monotonic()))
        return done

    def burst(self, pods: list[tuple[int, str, int]], value: int) -> dict[tuple, float]:
        """Sets every pod's restartCount to ``value`` as fast as possible (chunks of 500, so
        kubesim streams the first changes while it writes the rest)."""
        changed: dict[tuple, float] = {}
        for start in range(0, len(pods), 500):
            chunk = [(pk, name, index, value) for pk, name, index in pods[start : start + 500]]
            changed.update(self.sim.call(self._write, chunk))
        return changed

    def steady(
        self, pods: list[tuple[int, str, int]], rate: float, seconds: float, base: int
    ) -> dict[tuple, float]:
        """Changes ``rate`` pods per second, round robin, in 10 ms ticks; each change sets a
        new value (``base`` + its number), so every value names one change."""
        changed: dict[tuple, float] = {}
        made = 0
        started = time.monotonic()
        tick = 0
        while True:
            elapsed = time.monotonic() - started
            if elapsed >= seconds:
                break
            due = int(rate * elapsed) + 1
            batch = []
            while made < due:
                pk, name, index = pods[made % len(pods)]
                made += 1
                batch.append((pk, name, index, base + made))
            if batch:
                changed.update(self.sim.call(self._write, batch))
            tick += 1
            time.sleep(max(0.0, started + tick * TICK - time.monotonic()))
        return changed

    def stats(self) -> dict:
        return self.sim.stats()


def kubesim_process(conn) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the bench process stops it
    from kubesim.server import KubeSim, quiet_collector

    quiet_collector()  # as python -m kubesim does
    sim = KubeSim(controllers=False, history_size=100_000, watch_queue=200_000).start()
    conn.send((sim.url, sim.token))
    driver = SimDriver(sim)
    try:
        while True:
            try:
                command, *args = conn.recv()
            except EOFError:
                break
            if command == "exit":
                break
            conn.send(getattr(driver, command)(*args))
    finally:
        sim.stop()


# ---- the clients process -------------------------------------------------------------------


class Fleet:
    """The websocket clients, in their own process; commands arrive over a Pipe."""

    def __init__(self, conn) -> None:
        self.conn = conn
        self.sockets: list[Client | None] = []
        self.groups: list[list[int]] = []
        self.snapshots: list[int] = []
        self.refused = 0
        self.dropped: set[int] = set()  # clients whose socket the server closed
        self.closing = False
        self._disarm()

    def _disarm(self) -> None:
        self.armed = False
        self.records: dict[tuple[int, int, int, int], float] = {}
        self.frames = 0
        self.last_frame = 0.0
        self.final: int | None = None
        # Final values expected and seen, per client and summed over the open sockets.
        self.need_per = [0] * len(self.sockets)
        self.have_per = [0] * len(self.sockets)
        self.need = self.have = 0
        self.complete_at: float | None = None

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        inbox: asyncio.Queue = asyncio.Queue()

        def pump() -> None:  # blocking Pipe reads, off the event loop
            while True:
                try:
                    message = self.conn.recv()
                except EOFError:
                    message = ("exit",)
                loop.call_soon_threadsafe(inbox.put_nowait, message)
                if message[0] == "exit":
                    return

        threading.Thread(target=pump, daemon=True).start()
        while True:
            command, *args = await inbox.get()
            if command == "exit":
                await self.close()
                return
            self.conn.send(await getattr(self, command)(*args))

    async def connect(
        self, urls: list[str], cookie: str, origin: str, groups: list[list[int]]
    ) -> dict:
        """Opens one socket per entry of ``groups`` (the jobs that client asks for), spread
        round robin over ``urls`` (as a load balancer would), then waits for the snapshot
        each joined group sends."""
        await self.close()
        self.closing = False
        self.groups = [list(jobs) for jobs in groups]
        self.sockets = [None] * len(groups)
        self.snapshots = [0] * len(groups)
        self.refused = 0
        self.dropped = set()
        gate = asyncio.Semaphore(64)
        started = time.monotonic()
        loop = asyncio.get_running_loop()

        async def open_one(i: int, jobs: list[int]) -> None:
            query = ",".join(f"jobs.job.{pk}" for pk in jobs)
            url = f"{urls[i % len(urls)]}?groups={query}"
            async with gate:
                client = Client(self, i, url, origin, cookie)
                host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
                await loop.create_connection(lambda: client, host, int(port))
                await asyncio.wait_for(client.opened, 120)
            self.sockets[i] = client

        results = await asyncio.gather(
            *(open_one(i, jobs) for i, jobs in enumerate(groups)), return_exceptions=True
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        opened = time.monotonic()
        deadline = opened + 120
        while time.monotonic() < deadline and any(
            ws is not None and i not in self.dropped and self.snapshots[i] < len(self.groups[i])
            for i, ws in enumerate(self.sockets)
        ):
            await asyncio.sleep(0.05)
        return {
            "opened": sum(ws is not None for ws in self.sockets),
            "failed": len(failures),
            "error": repr(failures[0])[:300] if failures else "",
            "open_seconds": opened - started,
            "snapshot_seconds": time.monotonic() - started,
            "snapshots": sum(self.snapshots),
            "refused": self.refused,
            "dropped": len(self.dropped),
            "groups": self.groups,
        }

    def on_message(self, i: int, now: float, text: str) -> None:
        """A whole text message of client ``i``, arrived at ``now``."""
        if not self.armed:
            refused = REFUSED.search(text)
            if refused:  # not subscribed after all: expect nothing of that job
                self.refused += 1
                self.groups[i] = [pk for pk in self.groups[i] if pk != int(refused[1])]
            elif 'id="live-notice"' not in text:
                self.snapshots[i] += 1
            return
        self.frames += 1
        for job, index, value in parse_frame(text):
            key = (i, job, index, value)
            if key in self.records:
                continue
            self.records[key] = now
            if value == self.final:
                self.have_per[i] += 1
                self.have += 1
                self._complete(now)

    def on_closed(self, i: int) -> None:
        if self.closing:
            return
        self.dropped.add(i)  # the server closed it: expect nothing more of this client
        if self.armed and self.final is not None:
            self.need -= self.need_per[i]
            self.have -= self.have_per[i]
            self.need_per[i] = self.have_per[i] = 0
            self._complete(time.monotonic())

    def _complete(self, now: float) -> None:
        if self.complete_at is None and self.have >= self.need:
            self.complete_at = now

    async def arm(self, final: int | None, pods: int) -> bool:
        """Starts recording; with ``final``, notes when every pod of every subscribed job
        showed it."""
        self._disarm()
        self.final = final
        if final is not None:
            for i, jobs in enumerate(self.groups):
                if self.sockets[i] is not None and i not in self.dropped:
                    self.need_per[i] = len(jobs) * pods
            self.need = sum(self.need_per)
            self._complete(time.monotonic())
        self.armed = True
        return True

    async def status(self) -> dict:
        return {
            "frames": self.frames,
            "last_frame": self.last_frame,
            "complete_at": self.complete_at,
            "have": self.have,
            "need": self.need,
            "dropped": len(self.dropped),
        }

    async def collect(self) -> dict:
        """Stops recording; returns the frame count and the first arrival of each value."""
        for client in self.sockets:  # latency runs: parse what was kept, in arrival order
            if client is not None:
                client.replay()
        out = {"frames": self.frames, "records": self.records, "dropped": sorted(self.dropped)}
        self._disarm()
        return out

    async def close(self) -> bool:
        self.closing = True
        clients = [c for c in self.sockets if c is not None]
        for client in clients:
            client.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(not c.closed.done() for c in clients):
            await asyncio.sleep(0.05)
        for client in clients:
            client.abort()
        self.sockets = []
        return True


class Client(asyncio.Protocol):
    """One websocket client (RFC 6455 and 7692 as a browser speaks them, written out here so
    that the benchmark controls what a read costs): it offers permessage-deflate and reads
    the server's frames itself. While a latency run records, a read only splits its frames
    and keeps data frames, still compressed, with their arrival time; pings are answered at
    once. They are inflated and parsed after the run, in order."""

    def __init__(self, fleet: Fleet, i: int, url: str, origin: str, cookie: str) -> None:
        self.fleet, self.i = fleet, i
        rest = url.split("//", 1)[1]
        host, path = rest.split("/", 1)
        key = base64.b64encode(os.urandom(16)).decode()
        self.accept_key = base64.b64encode(
            hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
        )
        self.request = (
            f"GET /{path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
            f"Origin: {origin}\r\nCookie: {cookie}\r\n\r\n"
        ).encode()
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future = loop.create_future()
        self.closed: asyncio.Future = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.inflate = zlib.decompressobj(-15)  # any server window up to 15 bits
        self.kept: list[tuple[float, int, bytes]] = []  # (arrival, first byte, payload)
        self.message: list[bytes] = []  # a fragmented message's payloads so far
        self.compressed = False
        self.close_sent = False

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        self.buffer += data
        if not self.opened.done() and not self._handshake():
            return
        buffer, pos = self.buffer, 0
        while True:
            available = len(buffer) - pos
            if available < 2:
                break
            first, length = buffer[pos], buffer[pos + 1] & 0x7F
            head = 2
            if length == 126:
                if available < 4:
                    break
                length, head = int.from_bytes(buffer[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                if available < 10:
                    break
                length, head = int.from_bytes(buffer[pos + 2 : pos + 10], "big"), 10
            if available < head + length:
                break
            payload = bytes(buffer[pos + head : pos + head + length])
            pos += head + length
            self._frame(now, first, payload)
        del buffer[:pos]

    def _handshake(self) -> bool:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        del self.buffer[: end + 4]
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:])}
        if " 101 " not in head[0] + " " or headers.get("sec-websocket-accept") != (
            self.accept_key.decode()
        ):
            self.opened.set_exception(RuntimeError(f"handshake refused: {head[0]}"))
            self.transport.close()
            return False
        self.opened.set_result(None)
        return True

    def _frame(self, now: float, first: int, payload: bytes) -> None:
        opcode = first & 0x0F
        if opcode == 0x9:  # ping: answered at once, as a browser does
            self._send(0xA, payload)
        elif opcode == 0x8:  # close
            if not self.close_sent:
                self._send(0x8, payload[:2])
                self.close_sent = True
            self.transport.close()
        elif opcode in (0x0, 0x1, 0x2):
            fleet = self.fleet
            if fleet.armed and fleet.final is None:
                self.kept.append((now, first, payload))
                fleet.last_frame = now
            else:
                self._data(now, first, payload)

    def _data(self, now: float, first: int, payload: bytes) -> None:
        if first & 0x0F:  # the message's first frame
            self.message, self.compressed = [], bool(first & 0x40)
        self.message.append(payload)
        if first & 0x80:  # its last
            body = b"".join(self.message)
            if self.compressed:
                body = self.inflate.decompress(body + b"\x00\x00\xff\xff")
            self.fleet.last_frame = now
            self.fleet.on_message(self.i, now, body.decode())

    def replay(self) -> None:
        kept, self.kept = self.kept, []
        for now, first, payload in kept:
            self._data(now, first, payload)

    def _send(self, opcode: int, payload: bytes) -> None:
        """A client frame: short payloads only (control frames), masked as RFC 6455 asks."""
        mask = os.urandom(4)
        masked = bytes(b ^ mask[k % 4] for k, b in enumerate(payload))
        self.transport.write(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)

    def close(self) -> None:
        if self.transport is None or self.closed.done():
            return
        self.replay()
        if not self.close_sent:
            self._send(0x8, (1000).to_bytes(2, "big"))
            self.close_sent = True

    def abort(self) -> None:
        if self.transport is not None and not self.closed.done():
            self.transport.abort()

    def connection_lost(self, exc) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"closed before the handshake: {exc}"))
        if not self.closed.done():
            self.closed.set_result(None)
        self.fleet.on_closed(self.i)


def clients_process(conn) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the bench process stops it
    asyncio.run(Fleet(conn).serve())


# ---- processes -----------------------------------------------------------------------------


class Child:
    """A spawned Python child obeying commands sent over a Pipe."""

    def __init__(self, target, name: str) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, theirs = context.Pipe()
        self.process = context.Process(target=target, args=(theirs,), name=name, daemon=True)
        self.process.start()
        theirs.close()

    def ask(self, command: str, *args, timeout: float = 600):
        self.conn.send((command, *args))
        return self.answer(timeout)

    def answer(self, timeout: float = 600):
        if not self.conn.poll(timeout):
            raise TimeoutError(f"{self.process.name} gave no answer in {timeout:.0f}s")
        return self.conn.recv()

    def stop(self) -> None:
        if self.process.is_alive():
            try:
                self.conn.send(("exit",))
            except OSError:
                pass
            self.process.join(15)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)


class Server:
    """A portal server process (uvicorn or the watcher), logging to a file."""

    def __init__(self, name: str, argv: list[str], env: dict, log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._read_to = 0
        self._log = open(self.log_path, "wb")  # closed in stop()
        # A new session: Ctrl-C reaches only this process, which stops the servers in order.
        self.process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def check(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited ({self.process.returncode}):\n{self.tail()}")

    def problems(self) -> str:
        """Sums up the errors, and the portal's own warnings, logged since the previous call
        ("" when none)."""
        with open(self.log_path, "rb") as f:
            f.seek(self._read_to)
            text = f.read().decode(errors="replace")
            self._read_to = f.tell()
        lines = text.splitlines()
        warned: dict[str, int] = {}
        for line in lines:
            found = OWN_WARNING.search(line)
            if found:
                what = re.sub(r"\d+", "N", found[1].strip())
                warned[what] = warned.get(what, 0) + 1
        warnings = "; ".join(
            f"{n}x {what}" for what, n in sorted(warned.items(), key=lambda kv: -kv[1])[:2]
        )
        if warnings:
            warnings = f"{self.name} logged {sum(warned.values())} warnings: {warnings}"
        errors = sum(1 for line in lines if line.startswith("ERROR") or " ERROR " in line)
        if not errors:
            return warnings
        kinds: dict[str, int] = {}  # the last exception line of each error's traceback
        last = ""
        for line in [*lines, "ERROR"]:
            if line.startswith("ERROR") or " ERROR " in line:
                if last:
                    kinds[last] = kinds.get(last, 0) + 1
                last = ""
            elif EXCEPTION_LINE.match(line):
                last = line[:120]
        top = sorted(kinds.items(), key=lambda kv: -kv[1])[:2]
        summary = f"{self.name} logged {errors} errors: " + "; ".join(f"{n}x {k}" for k, n in top)
        return f"{summary}\n    {warnings}" if warnings else summary

    def tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tcp_connections(pid: int) -> list[tuple[int, int, str]]:
    """(local port, remote port, state) of the process's TCP sockets ("01" = established)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                parts = line.split()
                if parts[9] in inodes:
                    local, remote = parts[1], parts[2]
                    found.append(
                        (
                            int(local.rsplit(":", 1)[1], 16),
                            int(remote.rsplit(":", 1)[1], 16),
                            parts[3],
                        )
                    )
    return found


def established(pid: int, *, local: int | None = None, remote: int | None = None) -> int:
    return sum(
        1
        for lport, rport, state in tcp_connections(pid)
        if state == "01"
        and (local is None or lport == local)
        and (remote is None or rport == remote)
    )


def cpu_seconds(pid: int, children: bool = False) -> float:
    """User + system CPU time the process (and, with ``children``, its live children, such
    as watch_clusters' sender process) has used so far."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat") if children else [Path(f"/proc/{pid}/stat")]:
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if stat.parent.name == str(pid) or fields[1] == str(pid):  # itself or a child
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def wait_for(predicate, timeout: float, interval: float = 0.1, what: str = "") -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    if what:
        print(f"    warning: timed out after {timeout:.0f}s waiting for {what}")
    return False


# ---- the portal's configuration and data ---------------------------------------------------


def configure(production: bool, data_dir: Path) -> None:
    """The environment this process and the portal processes share."""
    os.environ["PORTAL_DATA_DIR"] = str(data_dir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    os.environ["PORTAL_SANDBOX"] = "0"
    os.environ["PORTAL_LOG_LEVEL"] = "WARNING"
    if production:
        from cryptography.fernet import Fernet

        psql(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
        psql(f"CREATE DATABASE {PG_DATABASE}")
        subprocess.run(
            ["redis-cli", "-n", str(REDIS_DB), "flushdb"], check=True, capture_output=True
        )
        os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{PG_DATABASE}"
        os.environ["REDIS_URL"] = f"redis://127.0.0.1:6379/{REDIS_DB}"
        os.environ["PORTAL_SECRET_KEY"] = "bench-" + "x" * 60
        os.environ["PORTAL_ENCRYPTION_KEYS"] = Fernet.generate_key().decode()
        os.environ["PORTAL_SECURE_SSL_REDIRECT"] = "0"
        os.environ["PORTAL_TASKS"] = "celery"
    else:
        for name in ("DATABASE_URL", "REDIS_URL", "PORTAL_ENCRYPTION_KEYS"):
            os.environ.pop(name, None)
        os.environ["PORTAL_TASKS"] = "thread"
        for name in (
            "PORTAL_SYNC_SECONDS",
            "PORTAL_LOG_FOLLOW_SECONDS",
            "PORTAL_RECONCILE_SECONDS",
        ):
            os.environ[name] = "3600"


def psql(sql: str) -> None:
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-c", sql], check=True, capture_output=True
    )


def prepare(sim_url: str, sim_token: str, jobs: int) -> tuple[list[tuple[int, str]], str]:
    """Creates the portal's rows before any portal process starts; returns (pk, object name)
    of every job and the session cookie header of the bench user."""
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client

    from compute import credentials
    from compute.models import Cluster, ClusterStatus, ComputeTarget
    from jobs.models import Job, Status
    from portal.models import Membership, Role, User, Workspace

    call_command("migrate", verbosity=0)
    user = User.objects.create_user("bench", password="bench-password-1")
    workspace = Workspace.objects.create(slug="bench", name="Bench")
    Membership.objects.create(workspace=workspace, user=user, role=Role.DATA_SCIENTIST)
    cluster = Cluster.objects.create(
        name="bench",
        server=sim_url,
        credentials=credentials.seal(sim_url, {"token": sim_token}),
        status=ClusterStatus.CONNECTED,
    )
    target = ComputeTarget.objects.create(
        workspace=workspace, cluster=cluster, name="bench", namespace=NS, status="Succeeded"
    )
    Job.objects.bulk_create(
        Job(
            workspace=workspace,
            name=f"job-{i}",
            compute=target,
            instance_type="defaultinstancetype",
            spec_yaml="{}",
            spec={},
            image="busybox",
            status=Status.RUNNING,
            created_by=user,
        )
        for i in range(jobs)
    )
    rows = [(job.pk, job.object_name) for job in Job.objects.order_by("pk")]
    client = Client()
    client.force_login(user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    return rows, cookie


def instances_with(value: int | None = None) -> int:
    """Instance rows (with ``restarts == value``); autocommit, so always the latest commit."""
    from jobs.models import Instance

    rows = Instance.objects.all()
    return (rows.filter(restarts=value) if value is not None else rows).count()


def start_portal(
    production: bool,
    ports: list[int],
    log_dir: Path,
    sender: str = "process",
    ws_deflate: bool = False,
) -> list[Server]:
    """One uvicorn process per port (first in the list), then the watcher in production;
    permessage-deflate only with ``ws_deflate`` (off as the README deploys it)."""
    env = os.environ.copy()
    servers = []
    for number, port in enumerate(ports, 1):
        web = [
            sys.executable,
            "-m",
            "uvicorn",
            "portal.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--lifespan",
            "on",
            "--ws",
            "websockets-sansio",
            "--log-level",
            "warning",
            "--ws-per-message-deflate",
            "true" if ws_deflate else "false",
        ]
        name = "uvicorn" if len(ports) == 1 else f"uvicorn{number}"
        servers.append(Server(name, web, env, log_dir))
    if production:
        watcher = [sys.executable, "manage.py", "watch_clusters", "--sender", sender]
        servers.append(Server("watch_clusters", watcher, env, log_dir))
    return servers


def http_up(port: int) -> bool:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/", timeout=5)
    except urllib.error.HTTPError:
        return True  # any answer: the server is up
    except OSError:
        return False
    return True


# ---- measuring -----------------------------------------------------------------------------


def assign(jobs: list[int], clients: int) -> list[list[int]]:
    """Client i follows the jobs j with j % clients == i (at most MAX_GROUPS); with more
    clients than jobs, client i follows job i % len(jobs)."""
    if clients <= len(jobs):
        return [jobs[i::clients][:MAX_GROUPS] for i in range(clients)]
    return [[jobs[i % len(jobs)]] for i in range(clients)]


def percentile(ordered: list[float], share: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


class Bench:
    """The cases, run from this process against the running kubesim, portal and clients."""

    def __init__(
        self,
        args,
        sim: Child,
        fleet: Child,
        servers: list[Server],
        ports: list[int],
        jobs: list[tuple[int, str]],
        cookie: str,
    ) -> None:
        self.args = args
        self.sim = sim
        self.fleet = fleet
        self.servers = servers
        self.ports = ports  # one per web process; clients are spread over them
        self.jobs = jobs  # (pk, object name), in pk order
        self.cookie = cookie
        self.case = 0  # numbers the cases, so each one writes values never written before
        self.pids = {s.name: s.pid for s in servers}
        self.with_children = set(self.pids)
        self.pids |= {
            "kubesim": sim.process.pid,
            "clients": fleet.process.pid,
            "bench": os.getpid(),
        }
        self._cpu: tuple[float, dict[str, float]] = (0.0, {})

    def cpu_start(self) -> None:
        self._cpu = (time.monotonic(), {n: self._cpu_of(n) for n in self.pids})

    def _cpu_of(self, name: str) -> float:
        return cpu_seconds(self.pids[name], children=name in self.with_children)

    def cpu_used(self) -> str:
        """CPU seconds each process used since ``cpu_start``, over the wall time."""
        started, before = self._cpu
        used = ", ".join(f"{name} {self._cpu_of(name) - before[name]:.1f}" for name in self.pids)
        return f"CPU seconds in the {time.monotonic() - started:.1f}s measured: {used}"

    def held(self) -> int:
        """Established websocket connections held by all the web processes."""
        return sum(
            established(server.pid, local=port)
            for server, port in zip(self.servers, self.ports, strict=False)
        )

    def connect(self, groups: list[list[int]]) -> list[list[int]]:
        """Opens the clients; returns the groups each one really joined."""
        result = self.fleet.ask(
            "connect",
            [f"ws://127.0.0.1:{port}/ws/live/" for port in self.ports],
            self.cookie,
            f"http://127.0.0.1:{self.ports[0]}",
            groups,
        )
        server_side = self.held()
        joined = result["groups"]
        subscriptions = sum(len(g) for g in joined)
        line = (
            f"    {len(groups)} clients: {result['opened']} sockets open after "
            f"{result['open_seconds']:.1f}s (the web processes hold {server_side} established "
            f"connections); {result['snapshots']}/{subscriptions} snapshots "
            f"after {result['snapshot_seconds']:.1f}s"
        )
        if self.args.production:
            line += f"; Redis jobs.job.* group members: {redis_members()} (joined {subscriptions})"
        if result["refused"]:
            line += f"; {result['refused']} groups REFUSED (not counted as subscribed)"
        if result["failed"]:
            line += f"; {result['failed']} sockets FAILED to open: {result['error']}"
        if result["dropped"]:
            line += f"; {result['dropped']} DROPPED by the server before the case began"
        print(line, flush=True)
        return joined

    def disconnect(self) -> None:
        """Closes the clients and waits until the web process let go of them (and, in the
        production mode, for its consumers to leave their Redis groups)."""
        self.fleet.ask("close")
        wait_for(lambda: self.held() == 0, 30, what="the close")
        time.sleep(1.0)
        if self.args.production:  # a thousand closes leave their groups over a few seconds
            started = time.monotonic()
            left = wait_for(lambda: redis_members() == 0, 15)
            waited = time.monotonic() - started
            if not left or waited > 0.5:
                print(
                    f"    Redis jobs.job.* group members {waited + 1.0:.1f}s after the last "
                    f"socket closed: {redis_members()}",
                    flush=True,
                )

    def report(self, line: str, cpu: str = "") -> None:
        """Prints a case's figures, then what went wrong meanwhile: errors in the servers' logs
        and, in the production mode, group memberships that closed sockets left in Redis
        (removed, so that the next case starts clean)."""
        print(line, flush=True)
        if cpu:
            print(f"    {cpu}", flush=True)
        for server in self.servers:
            summary = server.problems()
            if summary:
                print(f"    {summary}", flush=True)
        if self.args.production:
            stale = redis_clear_groups()
            if stale:
                print(
                    f"    {stale} Redis group memberships outlived their closed sockets "
                    "(removed before the next case)",
                    flush=True,
                )

    def ingest(self, clients: int) -> None:
        self.case += 1
        value = 1000 + self.case
        pods = self.args.pods
        targets = [(pk, name, i) for pk, name in self.jobs for i in range(pods)]
        groups = assign([pk for pk, _ in self.jobs], clients)
        if clients:
            groups = self.connect(groups)
            self.fleet.ask("arm", value, pods)
        self.cpu_start()
        self.sim.conn.send(("burst", targets, value))
        db_at = None
        clients_at = None if clients else 0.0
        deadline = time.monotonic() + 120
        status: dict = {}
        while time.monotonic() < deadline and (db_at is None or clients_at is None):
            for server in self.servers:
                server.check()
            if db_at is None:
                asked = time.monotonic()
                if instances_with(value) == len(targets):
                    db_at = asked
            if clients:
                status = self.fleet.ask("status")
                clients_at = status["complete_at"]
            time.sleep(0.02)
        changed = self.sim.answer()
        collected = self.fleet.ask("collect") if clients else {}
        cpu = self.cpu_used()
        if clients:
            self.disconnect()
        first, written = min(changed.values()), max(changed.values())
        n = len(changed)
        parts = [
            f"(a) ingest, {clients:>4} clients ({sum(len(g) for g in groups)} subscriptions): "
            f"{n:,} changes, written by kubesim in {written - first:.2f}s"
        ]
        parts.append(
            f"database complete after {db_at - first:.2f}s ({n / (db_at - first):,.0f} changes/s)"
            if db_at
            else f"database TIMED OUT ({instances_with(value):,}/{n:,} rows)"
        )
        if clients:
            parts.append(
                f"clients complete after {clients_at - first:.2f}s"
                if clients_at
                else f"clients TIMED OUT ({status.get('have', 0):,}/{status.get('need', 0):,})"
            )
            parts.append(f"{collected['frames']:,} frames")
            if collected["dropped"]:
                parts.append(
                    f"{len(collected['dropped'])} sockets DROPPED by the server (their values "
                    "no longer expected)"
                )
        if db_at and clients_at is not None:
            end = max(db_at, clients_at)
            parts.append(f"all done after {end - first:.2f}s: {n / (end - first):,.0f} changes/s")
        self.report("; ".join(parts), cpu)

    def latency(self, rate: int, clients: int) -> None:
        subset = self.jobs[:LATENCY_JOBS]
        pods = [(pk, name, i) for i in range(self.args.pods) for pk, name in subset]
        groups = self.connect(assign([pk for pk, _ in subset], clients))
        lines, runs = [], []
        for run in range(self.args.repeat):
            self.case += 1
            self.fleet.ask("arm", None, self.args.pods)
            self.cpu_start()
            changed = self.sim.ask("steady", pods, rate, self.args.seconds, self.case * 1_000_000)
            # Let the last frames arrive: until nothing came for a second (at most 15 s).
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                status = self.fleet.ask("status")
                if time.monotonic() - max(status["last_frame"], max(changed.values())) > 1.0:
                    break
                time.sleep(0.1)
            collected = self.fleet.ask("collect")
            line, figures = self._latency_figures(rate, clients, groups, changed, collected)
            if self.args.repeat > 1:
                line = line.replace("(b)", f"(b) run {run + 1}/{self.args.repeat}:", 1)
            lines.append(line)
            lines.append(f"    {self.cpu_used()}")
            runs.append(figures)
        self.disconnect()
        if len(runs) > 1 and all(runs):
            p50s = sorted(r[0] for r in runs)
            p99s = sorted(r[1] for r in runs)
            lines.append(
                f"(b) {rate:>5} changes/s, {clients:>4} clients, median of {len(runs)} runs: "
                f"p50 {p50s[len(p50s) // 2]:,.0f} ms, p99 {p99s[len(p99s) // 2]:,.0f} ms "
                f"(p99 from {p99s[0]:,.0f} to {p99s[-1]:,.0f} ms); lowest share delivered "
                f"{min(r[2] for r in runs):.0%}"
            )
        self.report("\n".join(lines))

    @staticmethod
    def _latency_figures(rate, clients, groups, changed, collected) -> tuple[str, tuple | None]:
        dropped = set(collected["dropped"])
        followers: dict[int, int] = {}
        for client, jobs in enumerate(groups):
            for pk in jobs:
                if client not in dropped:
                    followers[pk] = followers.get(pk, 0) + 1
        pairs = sum(followers.get(pk, 0) for pk, _i, _v in changed)
        samples = []
        negative = 0
        for (client, job, index, value), arrived in collected["records"].items():
            at = changed.get((job, index, value))
            if at is not None and client not in dropped:
                samples.append((arrived - at) * 1000)
                negative += arrived < at
        samples.sort()
        share = len(samples) / max(1, pairs)
        line = (
            f"(b) {rate:>5} changes/s, {clients:>4} clients: {len(changed):,} changes, "
            f"{collected['frames']:,} frames received, {len(samples):,}/{pairs:,} "
            f"(change, subscriber) pairs got a frame ({share:.0%})"
        )
        figures = None
        if samples:
            figures = (percentile(samples, 0.5), percentile(samples, 0.99), share)
            line += (
                f"; p50 {figures[0]:,.0f} ms, p99 {figures[1]:,.0f} ms, max {samples[-1]:,.0f} ms"
            )
        if negative:
            line += f"; {negative} NEGATIVE latencies (bug in the bench)"
        if dropped:
            line += f"; {len(dropped)} sockets DROPPED by the server (left out of the figures)"
        return line, figures


def redis_members() -> int:
    """Members of the Redis channel layer's ``jobs.job.*`` groups (as the web process's
    consumers joined them)."""
    import redis

    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    return sum(client.zcard(key) for key in client.scan_iter("asgi:group:jobs.job.*"))


def redis_clear_groups() -> int:
    """Deletes every channel-layer group; returns how many members they had. Called when no
    client is connected, so every member found is one a consumer failed to remove."""
    import redis

    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    keys = list(client.scan_iter("asgi:group:*"))
    members = sum(client.zcard(key) for key in keys)
    if members:
        print("    groups with members:", ", ".join(sorted(k.decode() for k in keys))[:300])
    if keys:
        client.delete(*keys)
    return members


def settle(sim: Child, quiet: float = 2.0, timeout: float = 300) -> float:
    """Waits until kubesim got no new request for ``quiet`` seconds; returns the wait."""
    started = time.monotonic()
    last = sim.ask("stats")["requests"]
    still_since = time.monotonic()
    while time.monotonic() - started < timeout:
        time.sleep(0.5)
        now = sim.ask("stats")["requests"]
        if now != last:
            last, still_since = now, time.monotonic()
        elif time.monotonic() - still_since >= quiet:
            break
    return time.monotonic() - started


def numbers(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--production", action="store_true", help="PostgreSQL, Redis, watcher")
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--pods", type=int, default=5, help="pods per job")
    parser.add_argument("--seconds", type=float, default=8.0, help="per latency run")
    parser.add_argument(
        "--repeat", type=int, default=3, help="latency: runs per case (the machine is noisy)"
    )
    parser.add_argument(
        "--sender",
        choices=["process", "thread"],
        default="process",
        help="production: watch_clusters renders and sends from a child process or a thread",
    )
    parser.add_argument(
        "--ws-deflate",
        action="store_true",
        help="websockets with permessage-deflate (PORTAL_WS_DEFLATE=1; off by default)",
    )
    parser.add_argument("--only", choices=["ingest", "latency"])
    parser.add_argument("--rates", default="100,1000", help="latency: changes/s, comma list")
    parser.add_argument("--clients", help="comma list (default: 0,1,100,1000 / 1,100,1000)")
    parser.add_argument(
        "--web-workers",
        type=int,
        default=1,
        help="production: uvicorn processes on their own ports, clients spread over them",
    )
    return parser.parse_args()


def main() -> None:
    args = arguments()
    began = time.monotonic()
    data_dir = Path(tempfile.mkdtemp(prefix="bench-live-"))
    children: list[Child] = []
    servers: list[Server] = []

    def on_signal(signum, frame) -> None:
        raise KeyboardInterrupt

    # Also when started with SIGINT ignored (as shells start background jobs).
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        configure(args.production, data_dir)
        sim = Child(kubesim_process, "kubesim")
        children.append(sim)
        sim_url, sim_token = sim.answer(60)

        import django

        django.setup()
        jobs, cookie = prepare(sim_url, sim_token, args.jobs)
        fill = sim.ask("fill", jobs, args.pods)
        print(
            f"kubesim (pid {sim.process.pid}): {args.jobs:,} Jobs and "
            f"{args.jobs * args.pods:,} Running pods created in {fill:.1f}s",
            flush=True,
        )
        fleet = Child(clients_process, "clients")
        children.append(fleet)

        ports = [free_port() for _ in range(args.web_workers if args.production else 1)]
        servers = start_portal(args.production, ports, data_dir, args.sender, args.ws_deflate)
        for port, server in zip(ports, servers, strict=False):
            if not wait_for(
                lambda port=port, server=server: http_up(port) or server.process.poll() is not None,
                60,
            ):
                raise RuntimeError(f"uvicorn did not come up:\n{server.tail()}")
            server.check()
        total = args.jobs * args.pods
        wait_for(lambda: instances_with() >= total, 300, 0.5, "the watcher's first list")
        for server in servers:
            server.check()
        waited = settle(sim)
        sim_port = int(sim_url.rsplit(":", 1)[1])
        watches = ", ".join(
            f"{s.name} (pid {s.pid}) {established(s.pid, remote=sim_port)}" for s in servers
        )
        mode = (
            f"production: PostgreSQL, Redis channel layer, {len(ports)} uvicorn process(es) "
            "+ watch_clusters"
            if args.production
            else "embedded: SQLite, in-process channel layer, watchers inside uvicorn"
        )
        bench = Bench(args, sim, fleet, servers, ports, jobs, cookie)
        bench.report(
            f"{mode}; {os.cpu_count()} CPUs; {instances_with():,} instances in the database; "
            f"startup work settled {waited:.1f}s after that; connections to kubesim: {watches}"
        )
        run_cases(bench, args)
        print(f"total run time {time.monotonic() - began:.0f}s", flush=True)
    except KeyboardInterrupt:
        print("interrupted; stopping the child processes", file=sys.stderr)
    finally:
        for server in reversed(servers):
            server.stop()
        for child in reversed(children):
            child.stop()
        if args.production:
            drop_production_data()
        shutil.rmtree(data_dir, ignore_errors=True)


def run_cases(bench: Bench, args: argparse.Namespace) -> None:
    """The ingest and latency cases the arguments ask for."""
    chosen = numbers(args.clients) if args.clients else None
    if args.only in (None, "ingest"):
        for clients in chosen if chosen is not None else [0, 1, 100, 1000]:
            bench.ingest(clients)
    if args.only in (None, "latency"):
        for rate in numbers(args.rates):
            for clients in chosen if chosen is not None else [1, 100, 1000]:
                if clients:
                    bench.latency(rate, clients)


def drop_production_data() -> None:
    """Drops the benchmark's PostgreSQL database and empties its Redis database."""
    try:
        from django.db import connections

        connections.close_all()
    except Exception:  # noqa: BLE001 - Django may not be set up yet
        pass
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-c",
         f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)"],
        capture_output=True,
    )  # fmt: skip
    subprocess.run(["redis-cli", "-n", str(REDIS_DB), "flushdb"], capture_output=True)


if __name__ == "__main__":
    main()
