"""The portal's channel layers, against a real Redis (127.0.0.1:6379, database 14)."""

import asyncio
import uuid

from portal.layers import InProcessChannelLayer, RedisChannelLayer

REDIS = "redis://127.0.0.1:6379/14"


def run(coro):
    return asyncio.run(coro)


async def _fresh(pool: int | None = None, **config) -> RedisChannelLayer:
    host = {"address": REDIS, "socket_timeout": 15}
    if pool is not None:
        host["max_connections"] = pool
    # A prefix of its own: tests on parallel workers share the Redis database, and flush()
    # deletes every key of the prefix.
    config.setdefault("prefix", f"test-{uuid.uuid4().hex[:12]}")
    layer = RedisChannelLayer(hosts=[host], **config)
    await layer.flush()
    return layer


def test_group_send_many_reaches_every_member_in_order():
    async def scenario():
        layer = await _fresh()
        a1, a2, b1 = [await layer.new_channel() for _ in range(3)]  # process-local channels
        other = "elsewhere.channel"  # a channel of another process (its own Redis key)
        for group, channel in (("a", a1), ("a", a2), ("a", other), ("b", b1), ("b", a1)):
            await layer.group_add(group, channel)
        await layer.group_send_many(
            [
                ("a", {"type": "live.html", "html": "1"}),
                ("b", {"type": "live.html", "html": "2"}),
                ("nobody", {"type": "live.html", "html": "lost"}),
                ("a", {"type": "live.html", "html": "3"}),
            ]
        )
        got = {}
        for name, channel in (("a1", a1), ("a2", a2), ("b1", b1), ("other", other)):
            got[name] = []
            while True:
                try:
                    message = await asyncio.wait_for(layer.receive(channel), 0.5)
                except TimeoutError:
                    break
                got[name].append(message["html"])
        await layer.flush()
        return got

    assert run(scenario()) == {
        "a1": ["1", "2", "3"],
        "a2": ["1", "3"],
        "b1": ["2"],
        "other": ["1", "3"],
    }


def test_group_send_many_drops_what_a_full_channel_cannot_take():
    async def scenario():
        layer = await _fresh(capacity=2)
        channel = await layer.new_channel()
        await layer.group_add("g", channel)
        await layer.group_send_many([("g", {"type": "t", "n": n}) for n in range(4)])
        got = []
        while True:
            try:
                got.append((await asyncio.wait_for(layer.receive(channel), 0.5))["n"])
            except TimeoutError:
                break
        await layer.flush()
        return got

    assert run(scenario()) == [0, 1]


def test_in_process_layer_sweeps_expired_messages_at_most_once_per_interval():
    async def scenario():
        layer = InProcessChannelLayer(expiry=0, sweep_every=3600)
        layer._swept = float("-inf")
        await layer.send("x.y", {"type": "t"})
        layer._clean_expired()  # the first sweep runs: the expired message goes
        assert "x.y" not in layer.channels
        await layer.send("x.y", {"type": "t"})
        layer._clean_expired()  # within the interval: nothing is walked
        assert "x.y" in layer.channels

    run(scenario())


def test_members_read_once_are_what_a_batch_is_sent_to():
    """The live sender reads the members of a batch's groups once (expired memberships
    trimmed), renders for those with members, and sends to exactly those members."""

    async def scenario():
        layer = await _fresh(group_expiry=100)
        one, two, late = [await layer.new_channel() for _ in range(3)]
        await layer.group_add("a", one)
        await layer.group_add("b", two)
        stale = layer._group_key("a")
        connection = layer.connection(layer.consistent_hash("a"))
        await connection.zadd(stale, {"gone.channel": 1})  # joined long ago: expired
        members = await layer.group_members_many(["a", "b", "nobody", "a"])
        assert members == {"a": [one], "b": [two], "nobody": []}
        assert await connection.zcard(stale) == 1  # the expired membership was trimmed
        await layer.group_add("b", late)  # joined after the read: renders its own snapshot
        await layer.group_send_many(
            [("a", {"type": "t", "n": 1}), ("b", {"type": "t", "n": 2})], members
        )
        got = {}
        for name, channel in (("one", one), ("two", two), ("late", late)):
            got[name] = []
            while True:
                try:
                    got[name].append((await asyncio.wait_for(layer.receive(channel), 0.3))["n"])
                except TimeoutError:
                    break
        await layer.flush()
        return got

    assert run(scenario()) == {"one": [1], "two": [2], "late": []}


def test_in_process_group_send_many_reaches_members_in_order_without_a_task_each():
    async def scenario():
        layer = InProcessChannelLayer(capacity=2)
        a1, a2, b1 = [await layer.new_channel() for _ in range(3)]
        for group, channel in (("a", a1), ("a", a2), ("b", b1), ("b", a1)):
            await layer.group_add(group, channel)
        tasks_before = len(asyncio.all_tasks())
        sends = layer.group_send_many(
            [
                ("a", {"type": "t", "html": "1"}),
                ("b", {"type": "t", "html": "2"}),
                ("nobody", {"type": "t", "html": "lost"}),
                ("a", {"type": "t", "html": "3"}),  # a1 is full by now (capacity 2)
            ]
        )
        try:  # nothing to wait for: the whole batch is delivered in one step
            sends.send(None)
        except StopIteration:
            pass
        else:
            raise AssertionError("group_send_many waited on something")
        assert len(asyncio.all_tasks()) == tasks_before
        got = {}
        for name, channel in (("a1", a1), ("a2", a2), ("b1", b1)):
            got[name] = [m["html"] for m in await layer.receive_many(channel)]
        return got

    assert run(scenario()) == {"a1": ["1", "2"], "a2": ["1", "3"], "b1": ["2"]}


def test_a_hub_joined_and_left_by_many_sockets_at_once_stays_within_the_redis_pool():
    """A thousand tabs closing together asked the layer's pool for a connection per group
    and overflowed it: the memberships it could not discard stayed in Redis. The hub keeps
    its layer calls within ``fanout.LAYER_CALLS``."""
    from portal import fanout

    class Tab:
        def push(self, html: str) -> None:
            pass

        def recheck(self) -> None:
            pass

    async def scenario():
        pool = fanout.LAYER_CALLS + 8  # room for the hub's read and the test's own calls
        layer = await _fresh(pool)
        hub = fanout.Hub(layer)
        tabs = [Tab() for _ in range(4 * pool)]
        for tab in tabs:
            hub.register(tab)
        groups = [f"jobs.job.{n}" for n in range(len(tabs))]
        await asyncio.gather(*(hub.join(g, tab) for g, tab in zip(groups, tabs, strict=True)))
        joined = await layer.group_members_many(groups)
        await asyncio.gather(*(hub.leave(g, tab) for g, tab in zip(groups, tabs, strict=True)))
        left = await layer.group_members_many(groups)
        hub.stop()
        await layer.flush()
        return joined, left

    joined, left = run(scenario())
    assert all(len(channels) == 1 for channels in joined.values()), joined
    assert not any(left.values()), {g: c for g, c in left.items() if c}
