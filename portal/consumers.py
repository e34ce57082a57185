"""The one websocket per browser tab.

The page names the groups it wants in the ``groups`` query parameter (and may add
more later by sending ``{"subscribe": "<group>"}``). Each group is checked with
``live.can_join`` before joining; refusals are reported into the page's
``#live-notice`` element, never silently dropped. The consumer touches no gateway.
"""

import json
import logging
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.utils.html import escape

from portal import live

log = logging.getLogger(__name__)

MAX_GROUPS = 50


class LiveConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.joined: set[str] = set()
        query = parse_qs(self.scope.get("query_string", b"").decode())
        requested = [g for raw in query.get("groups", []) for g in raw.split(",") if g]
        requested = list(dict.fromkeys(requested))
        dropped = requested[MAX_GROUPS:]
        requested = requested[:MAX_GROUPS]
        # One trip to the database thread for every check and snapshot of the page.
        allowed, snapshots = await database_sync_to_async(_check_and_render)(user, requested)
        # Join before accepting: once the page sees the socket open, every message sent
        # to its groups from then on reaches it.
        await self._join(live.user_group(user.pk))
        for group in requested:
            if group in allowed:
                await self._join(group)
            else:
                log.warning("user %s refused group %r", user.pk, group)
        await self.accept()
        for group in requested:
            if group not in allowed:
                await self.notice(f"Live updates for {group} are not available to you.")
        if dropped:
            await self.notice(
                f"A page follows at most {MAX_GROUPS} live groups; {len(dropped)} more were "
                "not joined. Reload after closing other views, or narrow the list."
            )
        for html in snapshots:
            await self.send(text_data=html)

    async def send_snapshot(self, group: str) -> None:
        html = await database_sync_to_async(live.snapshot)(group)
        if html:
            await self.send(text_data=html)

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "joined", set()):
            try:  # one failed discard must not keep the others
                await self.channel_layer.group_discard(group, self.channel_name)
            except Exception:
                log.warning("could not leave live group %s", group, exc_info=True)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            message = json.loads(text_data or "{}")
        except json.JSONDecodeError:
            await self.notice("Ignored a message that is not JSON.")
            return
        group = message.get("subscribe") if isinstance(message, dict) else None
        if isinstance(group, str):
            await self.subscribe(group)

    async def subscribe(self, group: str) -> None:
        if group in self.joined:
            return
        if not await self._try_join(group):
            await self.notice(f"Live updates for {group} are not available to you.")
            return
        await self.send_snapshot(group)

    async def _try_join(self, group: str) -> bool:
        """Joins ``group`` when the user may read it; returns False when refused."""
        if group in self.joined:
            return True
        # ``joined`` also holds the user's own group, which does not count.
        if len(self.joined) > MAX_GROUPS or not await self._may_join(group):
            log.warning("user %s refused group %r", self.scope["user"].pk, group)
            return False
        await self._join(group)
        return True

    async def _join(self, group: str) -> None:
        await self.channel_layer.group_add(group, self.channel_name)
        self.joined.add(group)

    @database_sync_to_async
    def _may_join(self, group: str) -> bool:
        return live.can_join(self.scope["user"], group)

    async def notice(self, text: str) -> None:
        await self.send(
            text_data=f'<div id="live-notice" hx-swap-oob="innerHTML">{escape(text)}</div>'
        )

    async def dispatch(self, message: dict) -> None:
        # A fragment touches no database: skip Channels' per-message clean-up of old
        # connections, a round trip to the one sync thread that every socket of the
        # process would otherwise queue on for every frame.
        if message["type"] == "live.html":
            await self.live_html(message)
            return
        await super().dispatch(message)

    async def live_html(self, event: dict) -> None:
        await self.send(text_data=event["html"])


def _check_and_render(user, groups: list[str]) -> tuple[set[str], list[str]]:
    """The ``groups`` the user may join, and the snapshots of those, in one database trip."""
    allowed = {group for group in groups if live.can_join(user, group)}
    return allowed, [
        html for group in groups if group in allowed and (html := live.snapshot(group))
    ]
