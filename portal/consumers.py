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
        # Join before accepting: once the page sees the socket open, every message sent
        # to its groups from then on reaches it.
        await self._join(live.user_group(user.pk))
        refused = [group for group in requested[:MAX_GROUPS] if not await self._try_join(group)]
        await self.accept()
        for group in refused:
            await self.notice(f"Live updates for {group} are not available to you.")
        for group in sorted(self.joined):
            await self.send_snapshot(group)

    async def send_snapshot(self, group: str) -> None:
        html = await database_sync_to_async(live.snapshot)(group)
        if html:
            await self.send(text_data=html)

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "joined", set()):
            await self.channel_layer.group_discard(group, self.channel_name)

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
        if len(self.joined) >= MAX_GROUPS or not await self._may_join(group):
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

    async def live_html(self, event: dict) -> None:
        await self.send(text_data=event["html"])
