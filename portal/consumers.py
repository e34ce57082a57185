"""The one websocket per browser tab.

The page names the groups it wants in the ``groups`` query parameter (and may add
more later by sending ``{"subscribe": "<group>"}``). Each group is checked with
``live.can_join`` before joining; refusals are reported into the page's
``#live-notice`` element, never silently dropped. The consumer touches no gateway.

A socket has no channel of its own: the process's ``fanout.Hub`` is the layer member and
pushes fragments to the socket, which keeps them until its writer task sends them, joined
into one frame when several are waiting. A socket that stops reading (its transport paused)
holds up only its own writer; once its backlog passes ``BACKLOG_CAP`` characters the backlog
is dropped and the socket gets fresh snapshots of its groups instead.
"""

import asyncio
import logging
import weakref
from collections.abc import Callable
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncWebsocketConsumer
from django.utils.html import escape

from portal import display, fanout, jsonguard, live, metrics
from portal.db import off_loop
from portal.models import User

log = logging.getLogger(__name__)

OPEN = metrics.gauge("websockets_open", "Live websockets open in this process")

MAX_GROUPS = 50
BACKLOG_CAP = 2_000_000  # characters waiting for one socket before they give way to snapshots
# What a page may send: small JSON objects naming a group. Anything bigger, deeper or longer
# is refused with a notice that does not repeat it; past MAX_REFUSALS refusals (forged groups
# included) the socket is closed. The web server caps frames too (runportal, README).
MAX_FRAME = 4096  # characters of one incoming frame
MAX_FRAME_DEPTH = 4
MAX_GROUP_NAME = 100  # Channels' own limit for a group name
MAX_REFUSALS = 20
CLOSE_TOO_MANY_REFUSALS = 4429
SHOWN = 60  # characters of a refused group name repeated in a notice


def shown(group: str) -> str:
    """A refused group name as a notice may repeat it: cut to SHOWN characters."""
    return group if len(group) <= SHOWN else group[:SHOWN] + "…"


class Unusable(Exception):
    """A frame the socket cannot use; the message says why without repeating it."""


class LiveConsumer(AsyncWebsocketConsumer):
    # No layer channel per socket (an alias that names no layer): the hub is the member.
    channel_layer_alias = "live sockets use portal.fanout"

    hub: fanout.Hub | None = None
    _writer: asyncio.Task | None = None  # set once connected (a refused socket has none)
    _rechecking: asyncio.Task | None = None
    refusals = 0

    async def __call__(self, scope, receive, send) -> None:
        """Runs the socket; however it ends (a close, an error in a handler, the server
        cancelling it), it leaves its groups and the hub forgets it."""
        OPEN.inc()
        try:
            await super().__call__(scope, receive, send)
        finally:
            OPEN.dec()
            await self._leave_all()

    async def send(self, text_data=None, bytes_data=None, close=False) -> None:
        """Sends as Channels does, every fragment with its bidirectional controls made
        visible (``portal.display``), as pages show them."""
        if text_data:
            text_data = display.neutralise(text_data)
        await super().send(text_data=text_data, bytes_data=bytes_data, close=close)

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.joined: set[str] = set()
        self._pending: list[str] = []
        self._backlog = 0
        self._resync = False
        self._holds = 0
        self._wake = asyncio.Event()
        self._writer: asyncio.Task | None = None
        self.hub = fanout.hub()
        self.hub.register(self)
        query = parse_qs(self.scope.get("query_string", b"").decode())
        requested = [g for raw in query.get("groups", []) for g in raw.split(",") if g]
        try:
            # Join before accepting: once the page sees the socket open, every message sent
            # to its groups from then on reaches it; what arrives meanwhile waits for the
            # snapshots to go first.
            await self._join(live.user_group(user.pk))
            refused, over, snapshots = await self._join_allowed(requested)
            await self.accept()
            await self._report(refused, over)
            if self.hub is None:
                return  # closed: too many refused groups
            for html in snapshots:
                await self.send(text_data=html)
        except BaseException:
            await self._leave_all()
            raise
        self._writer = asyncio.create_task(self._write(), name="live-socket-writer")

    async def disconnect(self, code: int) -> None:
        await self._leave_all()

    async def _leave_all(self) -> None:
        """Leaves every group: out of the hub's groups at once (nothing is handed to this
        socket any more, even if what follows is cut short), then the layer memberships
        nobody else in this process needs are given up. Safe to call twice."""
        if self._writer is not None:
            self._writer.cancel()
            self._writer = None
        hub, self.hub = self.hub, None
        if hub is None:
            return
        if self.refusals > 1:
            log.info(
                "live socket of user %s: %d requests refused in all",
                self.scope["user"].pk,
                self.refusals,
            )
        groups = sorted(self.joined)
        self.joined.clear()
        hub.unregister(self)
        for group in groups:
            try:  # one failed discard must not keep the others
                await hub.leave(group, self)
            except Exception:
                log.warning("could not leave live group %s", shown(group), exc_info=True)

    def push(self, html: str) -> None:
        """Called by the hub for every fragment of a joined group; never blocks."""
        self._pending.append(html)
        self._backlog += len(html)
        if self._backlog > BACKLOG_CAP:
            self._pending, self._backlog, self._resync = [], 0, True
        self._wake.set()

    def recheck(self) -> None:
        """Called by the hub when the user's access shrank: checks the joined groups again."""
        if self._rechecking is None or self._rechecking.done():
            self._rechecking = asyncio.create_task(self._recheck(), name="live-socket-recheck")

    async def _recheck(self) -> None:
        own = live.user_group(self.scope["user"].pk)
        groups = sorted(self.joined - {own})
        try:
            user, allowed = await off_loop(_recheck_groups)(self.scope["user"].pk, groups)
            if user is None:  # deactivated or deleted: nothing more for this socket
                await self.close(code=4401)
                return
            self.scope["user"] = user  # later subscriptions see the new rights too
            await self._leave_refused(groups, allowed)
        except Exception:  # the socket may be closing meanwhile
            log.warning("live socket: could not check its groups again", exc_info=True)

    async def _leave_refused(self, groups: list[str], allowed: set[str]) -> None:
        """Leaves those of ``groups`` not in ``allowed`` and tells the page which."""
        refused = [g for g in groups if g not in allowed]
        for group in refused:
            self.joined.discard(group)
            try:  # one failed discard must not keep the others
                await self.hub.leave(group, self)
            except Exception:
                log.warning("could not leave live group %s", group, exc_info=True)
        await self._report(refused, [])

    async def _write(self) -> None:
        """Sends what was pushed, all that waits as one frame, for as long as the socket
        lives; stands aside while a subscription sends its snapshot."""
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                if self._holds:
                    continue  # the subscription wakes us when it is done
                if self._resync:
                    self._resync = False
                    await self._send_fresh_snapshots()
                if self._pending:
                    body, self._pending, self._backlog = "".join(self._pending), [], 0
                    await self.send(text_data=body)
        except asyncio.CancelledError:
            raise
        except Exception:  # the client went away mid-send: disconnect() cleans up
            log.debug("live socket writer stopped", exc_info=True)

    async def _send_fresh_snapshots(self) -> None:
        """After a dropped backlog: the current state of every joined group (access checked
        again; a group no longer readable is left and reported)."""
        groups = sorted(self.joined)
        allowed, snapshots = await off_loop(_check_and_render)(self.scope["user"], groups)
        await self._leave_refused(groups, allowed)
        await self.notice("This page fell behind; it was brought up to date.")
        if snapshots:
            await self.send(text_data="".join(snapshots))

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            group = subscription(text_data, bytes_data)
        except Unusable as why:
            await self._refuse(str(why))
            return
        if group is not None:
            await self.subscribe(group)

    async def _refuse(self, why: str) -> None:
        """Tells the page why a request was refused; past MAX_REFUSALS closes the socket.
        The first refusal of a socket is logged, the rest are counted (logged at the end)."""
        if self.hub is None:
            return  # closed already
        self.refusals += 1
        if self.refusals == 1:
            log.info("live socket of user %s refused a request: %s", self.scope["user"].pk, why)
        if self.refusals > MAX_REFUSALS:
            await self.notice(
                f"More than {MAX_REFUSALS} requests of this page were refused; live updates "
                "stopped. Reload the page."
            )
            await self.close(code=CLOSE_TOO_MANY_REFUSALS)
            await self._leave_all()
            return
        await self.notice(why)

    async def subscribe(self, group: str) -> None:
        if self.hub is None:
            return  # closed meanwhile
        # Hold the writer: fragments of the new group pushed from the join on must follow
        # its snapshot.
        self._holds += 1
        try:
            refused, over, snapshots = await self._join_allowed([group])
            await self._report(refused, over)
            if self.hub is None:
                return  # closed: too many refusals
            for html in snapshots:
                await self.send(text_data=html)
        finally:
            self._holds -= 1
            self._wake.set()

    async def _join_allowed(self, groups: list[str]) -> tuple[list[str], list[str], list[str]]:
        """Joins those of ``groups`` (not joined yet) the user may read, up to MAX_GROUPS per
        socket, then renders their snapshots: joined first, so a change committed while the
        snapshot renders reaches the socket after it (a snapshot taken before joining could
        miss a change sent in between, for good). Returns (refused, over the cap, snapshots
        of the joined). The checks and renders of sockets connecting at the same time go to
        the database together (``Coalescer``)."""
        wanted = [g for g in dict.fromkeys(groups) if g not in self.joined]
        too_long = [g for g in wanted if len(g) > MAX_GROUP_NAME]
        wanted = [g for g in wanted if len(g) <= MAX_GROUP_NAME]
        room = max(0, MAX_GROUPS + 1 - len(self.joined))  # the user's own group is free
        wanted, over = wanted[:room], wanted[room:]
        allowed = await _coalesced(_check_many)((self.scope["user"], wanted))
        refused = too_long + [g for g in wanted if g not in allowed]
        joined = [g for g in wanted if g in allowed]
        for group in joined:
            await self._join(group)
        snapshots = await _coalesced(_render_many)(joined) if joined else []
        return refused, over, snapshots

    async def _report(self, refused: list[str], over: list[str]) -> None:
        for group in refused:
            if self.hub is None:
                return  # closed for too many refusals
            await self._refuse(f"Live updates for {shown(group)} are not available to you.")
        if over and self.hub is not None:
            await self.notice(
                f"A page follows at most {MAX_GROUPS} live groups; {len(over)} more were "
                "not joined."
            )

    async def _join(self, group: str) -> None:
        await self.hub.join(group, self)
        self.joined.add(group)

    async def notice(self, text: str) -> None:
        await self.send(
            text_data=f'<div id="live-notice" hx-swap-oob="innerHTML">{escape(text)}</div>'
        )


def subscription(text_data: str | None, bytes_data: bytes | None) -> str | None:
    """The group a frame asks to join (``{"subscribe": "<group>"}``), or None for a frame
    that asks for nothing; raises Unusable for a frame too large, too deep, not JSON, or
    naming a group that is not a short string."""
    if bytes_data is not None and text_data is None:
        raise Unusable("Ignored a binary message; this socket takes JSON text.")
    text = text_data or "{}"
    if len(text) > MAX_FRAME:
        raise Unusable(f"Ignored a message of more than {MAX_FRAME} characters.")
    try:
        message = jsonguard.loads(text, max_depth=MAX_FRAME_DEPTH)
    except ValueError:
        raise Unusable("Ignored a message that is not JSON, or nested too deeply.") from None
    group = message.get("subscribe") if isinstance(message, dict) else None
    if group is None:
        return None
    if not isinstance(group, str) or not group:
        raise Unusable("Ignored a subscription that does not name a group.")
    return group


def _recheck_groups(user_id: int, groups: list[str]):
    """The user as stored now (None when gone or inactive) and which ``groups`` they may
    still follow."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    return user, (live.joinable(user, groups) if user is not None else set())


def _check_and_render(user, groups: list[str]) -> tuple[set[str], list[str]]:
    """The ``groups`` the user may join, and the snapshots of those, in one trip to the
    database thread (and a few queries per kind, not per group)."""
    allowed = live.joinable(user, groups)
    return allowed, live.snapshots([group for group in groups if group in allowed])


def _check_many(requests: list[tuple[object, list[str]]]) -> list[set[str]]:
    """For each (user, groups) of sockets joining at the same time, the groups that user may
    join: one check per user and kind, however many sockets a user opened."""
    by_user: dict[object, tuple[object, set[str]]] = {}
    for user, groups in requests:
        by_user.setdefault(user.pk, (user, set()))[1].update(groups)
    allowed = {pk: live.joinable(user, sorted(groups)) for pk, (user, groups) in by_user.items()}
    return [allowed[user.pk] & set(groups) for user, groups in requests]


def _render_many(requests: list[list[str]]) -> list[list[str]]:
    """The snapshots of each list of groups (checked already), rendered together."""
    rendered = live.snapshot_map(list(dict.fromkeys(g for groups in requests for g in groups)))
    return [[html for g in groups if (html := rendered.get(g))] for groups in requests]


class Coalescer:
    """Runs the calls made while one is running as a single call, on a worker thread.

    ``many(args)`` takes a list of arguments and returns the results in the same order. The
    first caller starts a call with its own argument; whoever calls meanwhile waits and goes
    in the next call, with everyone else who came in the meantime. When a thousand tabs
    reconnect at once, their checks and snapshots then cost a few queries per round rather
    than a few per tab. One per event loop and function (``_coalesced``).
    """

    def __init__(self, many: Callable[[list], list]) -> None:
        self.many = off_loop(many)
        self.waiting: list[tuple[object, asyncio.Future]] = []
        self.task: asyncio.Task | None = None

    async def __call__(self, arg):
        future = asyncio.get_running_loop().create_future()
        self.waiting.append((arg, future))
        if self.task is None:
            self.task = asyncio.create_task(self._drain(), name="live-coalescer")
        return await future

    async def _drain(self) -> None:
        batch: list[tuple[object, asyncio.Future]] = []
        try:
            while self.waiting:
                batch, self.waiting = self.waiting, []
                try:
                    results = await self.many([arg for arg, _future in batch])
                    if len(results) != len(batch):
                        raise RuntimeError(f"{len(results)} results for {len(batch)} calls")
                except Exception as error:  # every caller of this round sees it
                    results = [error] * len(batch)
                for (_arg, future), result in zip(batch, results, strict=True):
                    if future.done():  # its caller went away
                        continue
                    if isinstance(result, Exception):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
                batch = []
        finally:
            self.task = None
            for _arg, future in batch + self.waiting:  # only when cancelled (loop closing)
                future.cancel()
            self.waiting = []


_coalescers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Callable, Coalescer]] = (
    weakref.WeakKeyDictionary()
)


def _coalesced(many: Callable[[list], list]) -> Coalescer:
    """The running loop's coalescer of ``many``."""
    per_loop = _coalescers.setdefault(asyncio.get_running_loop(), {})
    found = per_loop.get(many)
    if found is None:
        found = per_loop[many] = Coalescer(many)
    return found
