"""Live updates: group names, who may join a group, and the one ``broadcast()``.

A group is ``<app>.<kind>.<id>`` (``portal.workspace.3``, ``jobs.job.42``). Apps add,
per kind, a ``LiveKind`` to the registry answering "may this user read object <id>?";
the websocket consumer asks it before joining. Messages are rendered HTML
fragments carrying ``id`` and ``hx-swap-oob`` so htmx swaps them in by id.
"""

import asyncio
import contextlib
import logging
import multiprocessing
import os
import queue
import re
import signal
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import NamedTuple

import django
from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.db import connections, transaction

from portal import gcpolicy, metrics
from portal.db import close_stale_connections
from portal.registry import registry

log = logging.getLogger(__name__)

SENT = metrics.counter("broadcasts", "Live fragments sent to groups someone follows")
DELAY = metrics.histogram(
    "broadcast_delay_seconds",
    "From a broadcast's commit to its batch being sent (the oldest of each batch)",
)

GROUP_RE = re.compile(r"^(?P<kind>[a-z]+\.[a-z_]+)\.(?P<pk>\d{1,18})$")


@dataclass(frozen=True)
class LiveKind:
    """A group kind ("jobs.job"), added to the registry by its app: ``can_read(user, pk)``
    guards its groups; ``snapshot(pk)`` renders the object's current fragments for a page
    that just joined (so nothing that changed between rendering the page and subscribing is
    missed); ``readable(user, pks)`` and ``snapshot_many(pks)`` do the same for many objects
    in a few queries (a page following many jobs, a thousand tabs reconnecting at once)."""

    kind: str
    can_read: Callable[[object, int], bool]
    snapshot: Callable[[int], str] | None = None
    readable: Callable[[object, list[int]], set[int]] | None = None
    snapshot_many: Callable[[list[int]], dict[int, str]] | None = None

    @property
    def key(self) -> str:
        return self.kind


def _kind(name: str) -> LiveKind | None:
    return registry.get(LiveKind, name)


def snapshot(group: str) -> str:
    """The current fragments of ``group``'s object ("" when its kind has none)."""
    match = GROUP_RE.match(group)
    kind = _kind(match["kind"]) if match else None
    return kind.snapshot(int(match["pk"])) if kind and kind.snapshot else ""


def _by_kind(groups: list[str]) -> dict[str, dict[int, str]]:
    """``{kind: {pk: group}}`` of the well-formed ``groups``."""
    found: dict[str, dict[int, str]] = {}
    for group in groups:
        if match := GROUP_RE.match(group):
            found.setdefault(match["kind"], {})[int(match["pk"])] = group
    return found


def joinable(user, groups: list[str]) -> set[str]:
    """Those of ``groups`` ``user`` may join: ``can_join`` for each, with one query per kind
    where the kind registered ``readable``."""
    if user is None or not user.is_authenticated:
        return set()
    allowed = set()
    for kind, groups_of in _by_kind(groups).items():
        many = getattr(_kind(kind), "readable", None)
        if many is not None and kind != "portal.user":
            allowed |= {groups_of[pk] for pk in many(user, list(groups_of)) if pk in groups_of}
        else:
            allowed |= {group for group in groups_of.values() if can_join(user, group)}
    return allowed


def snapshots(groups: list[str]) -> list[str]:
    """The snapshots of ``groups``, in their order (none for kinds without one), rendered
    together per kind where the kind registered ``snapshot_many``."""
    rendered = snapshot_map(groups)
    return [html for group in groups if (html := rendered.get(group))]


def snapshot_map(groups: list[str]) -> dict[str, str]:
    """``{group: snapshot}`` of the well-formed ``groups`` (a kind without snapshots gives
    none), rendered together per kind where the kind registered ``snapshot_many``."""
    rendered: dict[str, str] = {}
    for kind, groups_of in _by_kind(groups).items():
        many = getattr(_kind(kind), "snapshot_many", None)
        if many is not None:
            for pk, html in many(list(groups_of)).items():
                rendered[groups_of[pk]] = html
        else:
            rendered |= {group: snapshot(group) for group in groups_of.values()}
    return rendered


def group_name(kind: str, pk: int) -> str:
    """Returns the Channels group for one object, e.g. ``group_name("jobs.job", 42)``."""
    if _kind(kind) is None:
        raise ValueError(f"unknown live group kind {kind!r}")
    return f"{kind}.{int(pk)}"


def user_group(user_id: int) -> str:
    """The private group of one user (notices about their own work)."""
    return f"portal.user.{int(user_id)}"


# Carried in a user's group: their open sockets check their groups again (access shrank).
RECHECK = "<!--live:recheck-->"


def recheck_user(user_id: int) -> None:
    """After the commit, makes ``user_id``'s open pages check every group they follow again
    and leave those no longer readable (e.g. they were removed from a workspace)."""
    broadcast(user_group(user_id), RECHECK)


def can_join(user, group: str) -> bool:
    """True when ``user`` may receive the messages of ``group``; False for any malformed name."""
    if user is None or not user.is_authenticated:
        return False
    match = GROUP_RE.match(group)
    if not match:
        return False
    kind, pk = match["kind"], int(match["pk"])
    if kind == "portal.user":
        return pk == user.pk
    found = _kind(kind)
    return bool(found and found.can_read(user, pk))


class Fragment(NamedTuple):
    """A fragment to render after the commit by a function that renders many at once.

    ``render_many`` takes a list of ``arg`` values and returns ``{arg: html}``; the sender
    calls it once per batch with every pending ``arg`` of that function, so a burst of
    changes to a hundred jobs costs a few queries rather than a few per job.
    """

    render_many: Callable[[list], dict]
    arg: Hashable


Html = str | Callable[[], str] | Fragment


def broadcast(group: str, html: Html, *, key: str | None = None) -> None:
    """Sends an HTML fragment to ``group`` once the current transaction commits.

    ``html`` may be a callable or a ``Fragment``, rendered after the commit so the fragment
    shows what was saved. Rendering and sending happen on one background thread per process, in
    commit order, so a request or a watcher never waits for them. Fragments queued
    with the same ``key`` for the same group while the sender is busy are rendered
    once (the render reads the latest state), and a group nobody listens to is not
    rendered for at all. Never raises: a failed send is logged, the write stands.
    """
    pending = getattr(_inline, "pending", None)
    if pending is not None:
        transaction.on_commit(lambda: _collect(pending, group, html, key))
    elif settings.LIVE_SEND_IN_BACKGROUND:
        transaction.on_commit(lambda: _enqueue(group, html, key))
    else:
        transaction.on_commit(lambda: _send_now(group, html))


def message(group: str, html: str) -> dict:
    """The channel-layer message carrying ``html`` to ``group``'s sockets (``portal.fanout``
    delivers by the group it names)."""
    return {"type": "live.html", "group": group, "html": html}


def _render(html: Html) -> str:
    if isinstance(html, Fragment):
        return html.render_many([html.arg]).get(html.arg, "")
    return html() if callable(html) else html


def _send_now(group: str, html: Html) -> None:
    try:
        body = _render(html)
        async_to_sync(get_channel_layer().group_send)(group, message(group, body))
        SENT.inc()
    except Exception:
        log.exception("broadcast to %s failed", group)


_server_loop = None


def use_server_loop(loop) -> None:
    """Sends through the web server's event loop: the in-process channel layer is not
    thread-safe, so its messages must be put on the loop the consumers run on."""
    global _server_loop
    _server_loop = loop


def _run(loop, coro):
    if _server_loop is not None and _server_loop.is_running():
        return asyncio.run_coroutine_threadsafe(coro, _server_loop).result(timeout=10)
    return loop.run_until_complete(coro)


_outbox_queue: "queue.Queue[tuple[str, Html, str | None]] | None" = None
_outbox_lock = threading.Lock()
MAX_DRAIN = 500
IDLE_CLOSE = 0.2  # seconds without broadcasts before the sender gives its connection back

_in_process = False  # use_sender_process() was called
_sender_child = None  # that process, once started


def use_sender_process() -> bool:
    """Renders and sends this process's broadcasts from a child process instead of a thread
    (``manage.py watch_clusters``): the watchers then have this process's GIL to themselves.
    Needs a channel layer the child reaches (Redis); with the in-process layer it keeps the
    thread and returns False."""
    global _in_process
    layer = get_channel_layer()
    if layer is None or isinstance(layer, InMemoryChannelLayer):
        log.info("live broadcasts stay on a thread: the channel layer is in-process")
        return False
    _in_process = True
    return True


def _crosses(html: Html) -> bool:
    """True when ``html`` can be handed to the sender process as it is (pickled by name)."""
    if isinstance(html, Fragment):
        return "<" not in html.render_many.__qualname__  # not a lambda or a closure
    return isinstance(html, str)


def _enqueue(group: str, html: Html, key: str | None) -> None:
    if _in_process and not _crosses(html):
        try:  # a closure cannot reach the sender process: rendered here, after the commit
            html = _render(html)
        except Exception:
            log.exception("rendering a broadcast to %s failed", group)
            return
    _outbox().put((group, html, key, time.time()))


def _outbox() -> "queue.Queue[tuple[str, Html, str | None]]":
    global _outbox_queue, _sender_child
    with _outbox_lock:
        if _in_process:
            if _sender_child is None or not _sender_child.is_alive():
                if _sender_child is not None:
                    log.error(
                        "the live sender process ended (%s); starting another",
                        _sender_child.exitcode,
                    )
                context = multiprocessing.get_context("spawn")
                _outbox_queue = context.JoinableQueue()
                _sender_child = context.Process(
                    target=_sender_main, args=(_outbox_queue,), name="live-sender", daemon=True
                )
                _sender_child.start()
        elif _outbox_queue is None:
            _outbox_queue = queue.Queue()
            threading.Thread(
                target=_sender, args=(_outbox_queue,), name="live-broadcast", daemon=True
            ).start()
        return _outbox_queue


def _sender_main(outbox) -> None:
    """The sender process: Django set up from the environment it inherited, then the same
    loop as the thread; it ends when its parent does."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the parent stops, then ends us
    django.setup()
    gcpolicy.install()
    parent = os.getppid()

    def orphaned() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=orphaned, name="live-sender-parent", daemon=True).start()
    _sender(outbox)


async def _listened(layer, groups: list[str]) -> tuple[dict[str, bool], dict | None]:
    """Which of ``groups`` have a member (True where the layer cannot tell; saves renders), and
    the members themselves when the layer reads them (``group_members_many``), to be handed to
    ``group_send_many`` rather than read twice.

    Read before rendering is early enough: whoever joins later renders its snapshot after
    joining, so after every commit of this batch."""
    members = getattr(layer, "groups", None)
    if isinstance(members, dict):  # the in-process layer
        return {group: bool(members.get(group)) for group in groups}, None
    many = getattr(layer, "group_members_many", None)
    if many is not None:
        try:  # Redis: one script per server beats rendering for nobody
            found = await many(groups)
            return {group: bool(found.get(group)) for group in groups}, found
        except Exception:
            log.warning("could not read the members of live groups", exc_info=True)
    return dict.fromkeys(groups, True), None


# Group sends in flight at once (each is a few round trips to Redis).
SEND_CONCURRENCY = 16


async def _send_all(layer, messages: list[tuple[str, str]], members: dict | None = None) -> None:
    """Sends one message per group (its fragments joined, in order): all in one call when
    the layer can (``group_send_many``, given the ``members`` ``_listened`` read), else many
    groups at once; a failure is logged."""
    joined: dict[str, list[str]] = {}
    for group, body in messages:
        joined.setdefault(group, []).append(body)
    outgoing = [(g, message(g, "".join(b))) for g, b in joined.items()]
    many = getattr(layer, "group_send_many", None)
    if many is not None:
        try:
            await many(outgoing, members)
        except Exception:
            log.exception("broadcast to %s groups failed", len(outgoing))
        return
    limit = asyncio.Semaphore(SEND_CONCURRENCY)

    async def send(group: str, message: dict) -> None:
        async with limit:
            try:
                await layer.group_send(group, message)
            except Exception:
                log.exception("broadcast to %s failed", group)

    await asyncio.gather(*(send(group, message) for group, message in outgoing))


def _render_batch(items: list[tuple[str, Html]]) -> list[tuple[str, str]]:
    """Renders ``items`` in order; ``Fragment``s of one function are rendered in one call."""
    wanted: dict[Callable, list] = {}
    for _group, html in items:
        if isinstance(html, Fragment):
            wanted.setdefault(html.render_many, []).append(html.arg)
    rendered: dict[Callable, dict] = {}
    for render_many, args in wanted.items():
        try:
            rendered[render_many] = render_many(list(dict.fromkeys(args)))
        except Exception:
            log.exception("rendering live fragments with %s failed", render_many)
            rendered[render_many] = {}
    messages = []
    for group, html in items:
        try:
            if isinstance(html, Fragment):
                body = rendered[html.render_many].get(html.arg, "")
            else:
                body = html() if callable(html) else html
        except Exception:
            log.exception("rendering a broadcast to %s failed", group)
            continue
        if body:
            messages.append((group, body))
    return messages


def _deliver(loop, batch: list[tuple]) -> None:
    """Sends one batch of ``(group, html, key, ...)`` items: drops superseded keyed fragments,
    skips groups with no listener, renders the rest (batched per ``Fragment`` function) and
    sends them in order with one hop to ``loop``. Never raises."""
    latest = {(item[0], item[2]): i for i, item in enumerate(batch) if item[2] is not None}
    try:
        layer = get_channel_layer()
        wanted = [
            (item[0], item[1])
            for index, item in enumerate(batch)
            if item[2] is None or latest[(item[0], item[2])] == index
        ]
        groups = list(dict.fromkeys(g for g, _ in wanted))
        listened, members = _run(loop, _listened(layer, groups))
        messages = _render_batch([(g, h) for g, h in wanted if listened[g]])
        if messages:
            _run(loop, _send_all(layer, messages, members))
            SENT.inc(len(messages))
            queued = [item[3] for item in batch if len(item) > 3]
            if queued:
                DELAY.observe(max(0.0, time.time() - min(queued)))
    except Exception:
        log.exception("live broadcast batch failed")


def _sender(outbox: "queue.Queue[tuple[str, Html, str | None]]") -> None:
    """Drains the outbox in batches and delivers each (``_deliver``) through a long-lived
    event loop, so a Redis channel layer keeps its connections."""
    loop = asyncio.new_event_loop()
    while True:
        try:  # the connection is kept while busy, given back once idle (tests drop databases)
            first = outbox.get(timeout=IDLE_CLOSE)
        except queue.Empty:
            connections.close_all()
            first = outbox.get()
        close_stale_connections()
        batch = [first]
        while len(batch) < MAX_DRAIN:
            try:
                batch.append(outbox.get_nowait())
            except queue.Empty:
                break
        try:
            _deliver(loop, batch)
        finally:
            for _ in batch:
                outbox.task_done()


# ---- sending inline: a Celery worker's tasks ----

_inline = threading.local()
_inline_loop: tuple[int, asyncio.AbstractEventLoop] | None = None


@contextlib.contextmanager
def sending_inline():
    """Within the block, this thread's broadcasts are not handed to the background sender:
    they are collected as their transactions commit and rendered and sent, as one batch, in
    this thread before the block ends.

    For tasks run by a Celery worker (``portal.worker.PortalTask``): Celery closes the
    process's database pool around every task in a prefork worker, so a sender thread
    rendering while the next task starts would find the pool closed under it. Inline, the
    rendering is over before the task returns and Celery's clean-up runs."""
    pending: list[tuple] = []
    outer = getattr(_inline, "pending", None)
    _inline.pending = pending
    try:
        yield
    finally:
        _inline.pending = outer
        if outer is not None:
            outer.extend(pending)
        elif pending:
            _deliver(_process_loop(), pending)


def _collect(pending: list, group: str, html: Html, key: str | None) -> None:
    if getattr(_inline, "pending", None) is pending:
        pending.append((group, html, key, time.time()))
    else:  # committed after its block ended (it should not): the background path
        _enqueue(group, html, key)


def _process_loop() -> asyncio.AbstractEventLoop:
    """This process's event loop for inline sends (a forked child makes its own), kept so a
    Redis channel layer keeps its connections between tasks."""
    global _inline_loop
    if _inline_loop is None or _inline_loop[0] != os.getpid():
        _inline_loop = (os.getpid(), asyncio.new_event_loop())
    return _inline_loop[1]


def flush() -> None:
    """Blocks until every broadcast queued so far has been sent (tests, benchmarks)."""
    if _outbox_queue is not None:
        _outbox_queue.join()
