"""The web process's side of live updates: one channel-layer member per process, not one per
socket.

A ``Hub`` (one per event loop, so one per web process) joins each live group once, on behalf
of every socket of the process that follows it, receives on its one channel and hands each
fragment to those sockets. Compared with a layer channel per socket, a broadcast to a group
followed by a thousand tabs costs the sender (and Redis) one message per web process instead
of a thousand, and the web process one receive instead of a thousand.

Each socket (``portal.consumers.LiveConsumer``) keeps what the hub pushed to it until its
writer sends it, as one frame: a socket that falls behind gets fewer, larger frames, and a
socket that stops reading (its transport paused) holds up nobody but itself. Its backlog is
capped; past the cap it is dropped and the socket is sent fresh snapshots instead.

The hub exists while sockets use it: the first socket starts it, the last one stops it.
Memberships are re-added every ``REFRESH_EVERY`` seconds, well within the layers' group
expiry (a day), so a tab left open for days keeps its updates, and after the layer failed
(a Redis restart forgets them).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Protocol

from channels.layers import get_channel_layer

from portal import live

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "livehub"
REFRESH_EVERY = 3600.0
# Layer calls (joins, leaves, renewals) in flight at once. A thousand tabs closing together
# asked the Redis layer's pool for two thousand connections; past its limit it raised, and
# those memberships stayed in Redis for a day, each still sent every fragment of its group.
LAYER_CALLS = 32


class Socket(Protocol):
    def push(self, html: str) -> None:
        """Takes a fragment to send; must not block or await."""

    def recheck(self) -> None:
        """Checks the groups followed again (soon); must not block or await."""


class Hub:
    def __init__(self, layer) -> None:
        self.layer = layer
        self.sockets: set[Socket] = set()
        self.members: dict[str, set[Socket]] = {}
        self.joined: set[str] = set()  # groups whose layer membership is (believed) held
        self._locks: dict[str, asyncio.Lock] = {}
        self._calls = asyncio.Semaphore(LAYER_CALLS)
        self.channel: str | None = None
        self._tasks: list[asyncio.Task] = []
        self._started: asyncio.Future | None = None

    # ---- sockets -------------------------------------------------------------------------

    def register(self, socket: Socket) -> None:
        self.sockets.add(socket)

    def unregister(self, socket: Socket) -> None:
        """Forgets ``socket`` (after it left its groups); the last one stops the hub."""
        self.sockets.discard(socket)
        for group in [g for g, members in self.members.items() if socket in members]:
            self.members[group].discard(socket)  # groups it could not leave cleanly
        if not self.sockets:
            self.stop()

    async def join(self, group: str, socket: Socket) -> None:
        """Makes ``socket`` receive ``group``'s fragments from now on (the layer membership is
        in place when this returns)."""
        await self._start()
        self.members.setdefault(group, set()).add(socket)
        try:
            await self._sync(group)
        except BaseException:
            self.members[group].discard(socket)
            raise

    async def leave(self, group: str, socket: Socket) -> None:
        """Stops ``socket`` receiving ``group``; raises when the layer refuses the discard
        (the socket is out of the group either way)."""
        members = self.members.get(group)
        if members is not None:
            members.discard(socket)
        await self._sync(group)

    async def _sync(self, group: str) -> None:
        """Brings the layer membership of ``group`` in line with its local members; one
        change at a time per group, each looking at the state once it holds the lock."""
        lock = self._locks.setdefault(group, asyncio.Lock())
        async with lock:
            wanted = bool(self.members.get(group))
            if wanted and group not in self.joined:
                async with self._calls:
                    await self.layer.group_add(group, self.channel)
                self.joined.add(group)
            elif not wanted and group in self.joined:
                self.joined.discard(group)  # a failed discard expires in the layer
                self.members.pop(group, None)
                async with self._calls:
                    await self.layer.group_discard(group, self.channel)
        if not lock.locked() and not self.members.get(group):
            self._locks.pop(group, None)

    # ---- the hub's own tasks --------------------------------------------------------------

    async def _start(self) -> None:
        if self._started is None:
            self._started = asyncio.get_running_loop().create_future()
            try:
                self.channel = await self.layer.new_channel(CHANNEL_PREFIX)
            except BaseException as error:
                self._started.set_exception(error)
                self._started.exception()  # retrieved: waiters see it, the log does not
                self._started = None
                raise
            self._tasks = [
                asyncio.create_task(self._receive(), name="live-hub-receive"),
                asyncio.create_task(self._refresh(), name="live-hub-refresh"),
            ]
            self._started.set_result(None)
        await asyncio.shield(self._started)

    def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks = []
        loop = _running_loop()
        if loop is not None and _hubs.get(loop) is self:
            del _hubs[loop]

    async def _receive(self) -> None:
        many = getattr(self.layer, "receive_many", None)
        backoff = 0.5
        while True:
            try:
                if many is not None:  # a backlog in one go (portal.layers)
                    messages = await many(self.channel)
                else:
                    messages = [await self.layer.receive(self.channel)]
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("live hub: receive failed; retrying in %.1fs", backoff, exc_info=True)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                # A restarted Redis has forgotten the memberships: take them again.
                await self._renew()
                continue
            backoff = 0.5
            for message in messages:
                self.deliver(message)

    def deliver(self, message: dict) -> None:
        html = message.get("html")
        if not html:
            return
        recheck = live.RECHECK in html
        if recheck:
            html = html.replace(live.RECHECK, "")
        for socket in list(self.members.get(message.get("group", ""), ())):
            try:
                if recheck:
                    socket.recheck()
                if html:
                    socket.push(html)
            except Exception:
                log.exception("live hub: a socket refused a fragment")

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_EVERY)
            await self._renew()

    async def _renew(self) -> None:
        """Adds every joined group again (idempotent; renews the layer's expiry)."""
        for group in list(self.joined):
            try:
                async with self._calls:
                    await self.layer.group_add(group, self.channel)
            except Exception:
                log.warning("live hub: could not renew %s", group, exc_info=True)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def hub() -> Hub:
    """The running loop's hub (created on first use)."""
    loop = asyncio.get_running_loop()
    found = _hubs.get(loop)
    if found is None:
        found = _hubs[loop] = Hub(get_channel_layer())
    return found
