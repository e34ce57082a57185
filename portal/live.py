"""Live updates: group names, who may join a group, and the one ``broadcast()``.

A group is ``<app>.<kind>.<id>`` (``portal.workspace.3``, ``jobs.job.42``). Apps
register, per kind, a function answering "may this user read object <id>?";
the websocket consumer asks it before joining. Messages are rendered HTML
fragments carrying ``id`` and ``hx-swap-oob`` so htmx swaps them in by id.
"""

import logging
import re
from collections.abc import Callable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
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

    ``html`` may be a callable, rendered at commit time so the fragment shows what
    was saved. Outside a transaction it is sent at once. Never raises: a failed
    send is logged, the database write stands.
    """

    def send() -> None:
        try:
            body = html() if callable(html) else html
            async_to_sync(get_channel_layer().group_send)(
                group, {"type": "live.html", "html": body}
            )
        except Exception:
            log.exception("broadcast to %s failed", group)

    transaction.on_commit(send)
