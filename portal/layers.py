"""The portal's channel layers: in-process (embedded mode) and Redis (production)."""

import collections
import logging
import time

import channels_redis.core
from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer

log = logging.getLogger(__name__)


class InProcessChannelLayer(InMemoryChannelLayer):
    """Channels' in-memory layer with its expiry sweep run at most once per ``sweep_every``.

    The stock layer walks every channel and every group membership on each ``receive``;
    with a thousand open websockets each waiting in ``receive``, one round of messages
    then costs a million steps. Messages expire after ``expiry`` (60 s) and memberships
    after ``group_expiry`` (a day), so sweeping once a second loses no precision worth
    having. ``channel_capacity`` patterns work (the stock layer keeps them uncompiled).
    """

    def __init__(self, *args, sweep_every: float = 1.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Channels' in-memory layer stores the patterns uncompiled and then fails on them.
        self.channel_capacity = self.compile_capacities(self.channel_capacity)
        self.sweep_every = sweep_every
        self._swept = float("-inf")  # the first receive sweeps

    async def receive_many(self, channel: str, limit: int = 500) -> list[dict]:
        """Every message waiting on ``channel`` (up to ``limit``), waiting for the first."""
        messages = [await self.receive(channel)]
        queue = self.channels.get(channel)
        while queue is not None and not queue.empty() and len(messages) < limit:
            messages.append(queue.get_nowait()[1])
        if queue is not None and queue.empty():
            self.channels.pop(channel, None)
        return messages

    async def group_send_many(
        self, messages: list[tuple[str, dict]], members: dict | None = None
    ) -> None:
        """Sends each (group, message) to the group's channels, in the order given, without
        a task per channel: the stock ``group_send`` starts one for every member and waits
        for them all, which for a live batch of a hundred groups was most of what the event
        loop spent on it. ``members`` is ignored (this layer reads its groups directly). A
        full channel loses the message, as with ``group_send``."""
        self._clean_expired()
        for group, message in messages:
            self.require_valid_group_name(group)
            for channel in list(self.groups.get(group, ())):
                try:
                    await self.send(channel, message)
                except ChannelFull:
                    pass

    def _clean_expired(self) -> None:
        now = time.monotonic()
        if now - self._swept >= self.sweep_every:
            self._swept = now
            super()._clean_expired()


class RedisChannelLayer(channels_redis.core.RedisChannelLayer):
    """channels_redis' layer with ``group_send_many``: one broadcast batch of the portal in two
    round trips per Redis server, instead of four or so per group.

    ``group_members_many`` trims and reads the members of many groups with one script per
    server; the live sender asks it first, to render only for groups someone follows, and
    hands the answer on. ``group_send_many`` then adds each message with one script per
    server holding channels (expired messages trimmed and capacity checked, as ``group_send``
    does). Messages to one channel key keep the order they were given in (increasing scores).
    """

    _MEMBERS_MANY = """
        local cutoff = tonumber(ARGV[1])
        local members = {}
        for i = 1, #KEYS do
            redis.call('ZREMRANGEBYSCORE', KEYS[i], 0, cutoff)
            members[i] = redis.call('ZRANGE', KEYS[i], 0, -1)
        end
        return members
    """

    _ADD_MANY = """
        local n = #KEYS
        local now = tonumber(ARGV[2 * n + 1])
        local ttl = tonumber(ARGV[2 * n + 2])
        local full = 0
        for i = 1, n do
            redis.call('ZREMRANGEBYSCORE', KEYS[i], 0, math.floor(now) - ttl)
            if redis.call('ZCARD', KEYS[i]) < tonumber(ARGV[n + i]) then
                redis.call('ZADD', KEYS[i], now + i * 0.000001, ARGV[i])
                redis.call('EXPIRE', KEYS[i], ttl)
            else
                full = full + 1
            end
        end
        return full
    """

    async def receive_many(self, channel: str, limit: int = 500) -> list[dict]:
        """Every message waiting on the process-local ``channel`` (up to ``limit``), blocking
        until there is one, in two round trips: for a channel with one reader, a web
        process's live hub. ``receive`` costs about three round trips per message and keeps a
        backup copy of each; here a message is delivered at most once (one lost when the
        reader is cancelled mid-pop is a live fragment, superseded by the next)."""
        assert "!" in channel, "receive_many reads process-local channels"
        local = self.non_local_name(channel)
        key = self.prefix + local
        connection = self.connection(self.consistent_hash(local))
        first = None
        while first is None:
            first = await connection.bzpopmin(key, timeout=self.brpop_timeout)
        contents = [first[1]]
        if limit > 1:
            contents += [entry[0] for entry in await connection.zpopmin(key, limit - 1)]
        messages = []
        for content in contents:
            message = self.deserialize(content)
            to = message.pop("__asgi_channel__", channel)
            if to == channel or (isinstance(to, list) and channel in to):
                messages.append(message)  # others were for an earlier reader of this process
        return messages

    async def group_members_many(self, groups: list[str]) -> dict[str, list[str]]:
        """The channels in each of ``groups`` (expired memberships trimmed first)."""
        cutoff = int(time.time()) - self.group_expiry
        by_server: dict[int, list[str]] = collections.defaultdict(list)
        for group in dict.fromkeys(groups):
            by_server[self.consistent_hash(group)].append(group)
        members: dict[str, list[str]] = {}
        for index, mine in by_server.items():
            keys = [self._group_key(group) for group in mine]
            replies = await self.connection(index).eval(
                self._MEMBERS_MANY, len(keys), *keys, cutoff
            )
            for group, names in zip(mine, replies, strict=True):
                members[group] = [name.decode() for name in names]
        return members

    async def group_send_many(
        self, messages: list[tuple[str, dict]], members: dict[str, list[str]] | None = None
    ) -> None:
        """Sends each (group, message) to the group's members: those in ``members`` when the
        caller read them with ``group_members_many`` (a group missing there has none), else
        read here."""
        now = time.time()
        if members is None:
            members = await self.group_members_many([group for group, _message in messages])
        # server index -> (channel keys, payloads, capacities), in the order given
        deliveries: dict[int, tuple[list, list, list]] = collections.defaultdict(
            lambda: ([], [], [])
        )
        for group, message in messages:
            names = members.get(group)
            if not names:
                continue
            keys_by_server, payloads, capacities = self._map_channel_keys_to_connection(
                names, message
            )
            for server, keys in keys_by_server.items():
                into = deliveries[server]
                for key in keys:
                    into[0].append(key)
                    into[1].append(payloads[key])
                    into[2].append(capacities[key])
        for server, (keys, payloads, capacities) in deliveries.items():
            full = await self.connection(server).eval(
                self._ADD_MANY, len(keys), *keys, *payloads, *capacities, now, self.expiry
            )
            if full:
                log.info("%s of %s channel messages dropped: channels full", full, len(keys))
