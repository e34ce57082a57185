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
        refused, over, snapshots = await self._join_allowed(requested)
        await self.accept()
        await self._report(refused, over)
        for html in snapshots:
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
        refused, over, snapshots = await self._join_allowed([group])
        await self._report(refused, over)
        for html in snapshots:
            await self.send(text_data=html)

    async def _join_allowed(self, groups: list[str]) -> tuple[list[str], list[str], list[str]]:
        """Joins those of ``groups`` (not joined yet) the user may read, up to MAX_GROUPS per
        socket, with one trip to the database thread for every check and snapshot. Returns
        (refused, over the cap, snapshots of the joined)."""
        wanted = [g for g in dict.fromkeys(groups) if g not in self.joined]
        room = max(0, MAX_GROUPS + 1 - len(self.joined))  # the user's own group is free
        wanted, over = wanted[:room], wanted[room:]
        allowed, snapshots = await database_sync_to_async(_check_and_render)(
            self.scope["user"], wanted
        )
        refused = [g for g in wanted if g not in allowed]
        for group in wanted:
            if group in allowed:
                await self._join(group)
        for group in refused:
            log.warning("user %s refused group %r", self.scope["user"].pk, group)
        return refused, over, snapshots

    async def _report(self, refused: list[str], over: list[str]) -> None:
        for group in refused:
            await self.notice(f"Live updates for {group} are not available to you.")
        if over:
            await self.notice(
                f"A page follows at most {MAX_GROUPS} live groups; {len(over)} more were "
                "not joined."
            )

    async def _join(self, group: str) -> None:
        await self.channel_layer.group_add(group, self.channel_name)
        self.joined.add(group)

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
