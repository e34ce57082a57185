"""Live updates: group names, who may join a group, and the one ``broadcast()``.

A group is ``<app>.<kind>.<id>`` (``portal.workspace.3``, ``jobs.job.42``). Apps
register, per kind, a function answering "may this user read object <id>?";
the websocket consumer asks it before joining. Messages are rendered HTML
fragments carrying ``id`` and ``hx-swap-oob`` so htmx swaps them in by id.
"""

import logging
import queue
import re
import threading
from collections.abc import Callable

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

log = logging.getLogger(__name__)

GROUP_RE = re.compile(r"^(?P<kind>[a-z]+\.[a-z_]+)\.(?P<pk>\d{1,18})$")

# kind ("portal.workspace") -> can_read(user, pk) -> bool
_READERS: dict[str, Callable[[object, int], bool]] = {}


def register(kind: str, can_read: Callable[[object, int], bool]) -> None:
    """Declares a group kind and the access check guarding its groups."""
    _READERS[kind] = can_read


def group_name(kind: str, pk: int) -> str:
    """Returns the Channels group for one object, e.g. ``group_name("jobs.job", 42)``."""
    if kind not in _READERS:
        raise ValueError(f"unknown live group kind {kind!r}")
    return f"{kind}.{int(pk)}"


def user_group(user_id: int) -> str:
    """The private group of one user (notices about their own work)."""
    return f"portal.user.{int(user_id)}"


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
    reader = _READERS.get(kind)
    return bool(reader and reader(user, pk))


def broadcast(group: str, html: str | Callable[[], str]) -> None:
    """Sends an HTML fragment to ``group`` once the current transaction commits.

    ``html`` may be a callable, rendered after the commit so the fragment shows what
    was saved. Rendering and sending happen on one background thread per process, in
    commit order, so a request or a watcher never waits for them. Never raises: a
    failed send is logged, the database write stands.
    """
    if settings.LIVE_SEND_IN_BACKGROUND:
        transaction.on_commit(lambda: _outbox().put((group, html)))
    else:
        transaction.on_commit(lambda: _send_now(group, html))


def _send_now(group: str, html: str | Callable[[], str]) -> None:
    from asgiref.sync import async_to_sync

    try:
        body = html() if callable(html) else html
        async_to_sync(get_channel_layer().group_send)(group, {"type": "live.html", "html": body})
    except Exception:
        log.exception("broadcast to %s failed", group)


_outbox_queue: "queue.Queue[tuple[str, object]] | None" = None
_outbox_lock = threading.Lock()


def _outbox() -> "queue.Queue[tuple[str, object]]":
    global _outbox_queue
    with _outbox_lock:
        if _outbox_queue is None:
            _outbox_queue = queue.Queue()
            threading.Thread(
                target=_sender, args=(_outbox_queue,), name="live-broadcast", daemon=True
            ).start()
        return _outbox_queue


def _sender(outbox: "queue.Queue[tuple[str, object]]") -> None:
    """Renders and sends queued fragments in order, on one long-lived event loop (so a
    Redis channel layer keeps its connections)."""
    import asyncio

    from django.db import close_old_connections

    loop = asyncio.new_event_loop()
    while True:
        group, html = outbox.get()
        try:
            body = html() if callable(html) else html
            message = {"type": "live.html", "html": body}
            loop.run_until_complete(get_channel_layer().group_send(group, message))
        except Exception:
            log.exception("broadcast to %s failed", group)
        finally:
            close_old_connections()
            outbox.task_done()


def flush() -> None:
    """Blocks until every broadcast queued so far has been sent (tests, benchmarks)."""
    if _outbox_queue is not None:
        _outbox_queue.join()
