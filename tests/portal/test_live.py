"""The websocket consumer: who may connect, which groups they may join, what they receive."""

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from portal import live, services
from portal.asgi import router
from portal.models import Role
from portal.registry import registry

pytestmark = pytest.mark.django_db(transaction=True)


async def connect(user, groups: str = "") -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(
        router, f"/ws/live/?groups={groups}", headers=[(b"origin", b"http://127.0.0.1")]
    )
    communicator.scope["user"] = user
    return communicator


async def test_anonymous_is_rejected():
    from django.contrib.auth.models import AnonymousUser

    communicator = await connect(AnonymousUser())
    connected, code = await communicator.connect()
    assert not connected
    assert code == 4401


def test_member_gets_membership_changes_live(personas, team_a):
    """Through the configured channel layer (Redis in the production-mode run)."""
    import asyncio

    async def scenario() -> str:
        group = live.group_name("portal.workspace", team_a.pk)
        communicator = await connect(personas["reader"], group)
        connected, _ = await communicator.connect()
        assert connected
        await database_sync_to_async(services.membership_set)(
            workspace=team_a, user=personas["outsider"], role=Role.READER
        )
        html = await communicator.receive_from(timeout=5)
        await communicator.disconnect()
        return html

    html = asyncio.run(scenario())
    assert f'id="workspace-{team_a.pk}-members"' in html
    assert 'hx-swap-oob="true"' in html
    assert "outsider" in html


async def test_forged_subscription_to_another_workspace_is_refused(personas, team_a, team_b):
    foreign = live.group_name("portal.workspace", team_a.pk)
    communicator = await connect(personas["outsider"], foreign)
    connected, _ = await communicator.connect()
    assert connected
    notice = await communicator.receive_from(timeout=5)
    assert 'id="live-notice"' in notice and "not available" in notice
    # Nothing from team-a reaches the outsider.
    await database_sync_to_async(services.membership_set)(
        workspace=team_a, user=personas["reader"], role=Role.ADMIN
    )
    assert await communicator.receive_nothing(timeout=0.5)
    await communicator.disconnect()


async def test_subscribe_message_is_checked_too(personas, team_a, team_b):
    communicator = await connect(personas["outsider"])
    await communicator.connect()
    await communicator.send_json_to({"subscribe": live.group_name("portal.workspace", team_a.pk)})
    assert "not available" in await communicator.receive_from(timeout=5)
    await communicator.send_json_to({"subscribe": "portal.user.999999"})
    assert "not available" in await communicator.receive_from(timeout=5)
    await communicator.send_json_to({"subscribe": "bad group!"})
    assert "not available" in await communicator.receive_from(timeout=5)
    await communicator.send_json_to({"subscribe": live.group_name("portal.workspace", team_b.pk)})
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


@pytest.mark.parametrize(
    "persona,allowed",
    [("itops", True), ("admin", True), ("scientist", True), ("reader", True), ("outsider", False)],
)
async def test_workspace_group_matrix(personas, team_a, persona, allowed):
    group = live.group_name("portal.workspace", team_a.pk)
    result = await database_sync_to_async(live.can_join)(personas[persona], group)
    assert result is allowed


async def test_own_user_group_only(personas):
    me = personas["reader"]
    assert await database_sync_to_async(live.can_join)(me, live.user_group(me.pk))
    assert not await database_sync_to_async(live.can_join)(
        me, live.user_group(personas["admin"].pk)
    )


def test_background_sender_renders_latest_and_skips_unheard_groups(settings):
    """The embedded sender: fragments go through the server's loop, in order, the latest
    state wins, and groups nobody listens to cost no render."""
    import asyncio
    import threading

    from channels.layers import get_channel_layer
    from django.db import transaction

    settings.LIVE_SEND_IN_BACKGROUND = True
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    live.use_server_loop(loop)
    try:
        layer = get_channel_layer()
        channel = asyncio.run_coroutine_threadsafe(layer.new_channel(), loop).result(5)
        asyncio.run_coroutine_threadsafe(
            layer.group_add("portal.workspace.77", channel), loop
        ).result(5)
        renders = {"heard": 0, "unheard": 0}
        state = {"value": 0}

        def heard():
            renders["heard"] += 1
            return f"<p id='x'>{state['value']}</p>"

        def unheard():
            renders["unheard"] += 1
            return "<p>nobody</p>"

        for value in range(1, 6):
            state["value"] = value
            with transaction.atomic():
                live.broadcast("portal.workspace.77", heard, key="x")
                live.broadcast("portal.workspace.78", unheard, key="y")
        live.flush()
        received = []
        while True:
            try:
                message = asyncio.run_coroutine_threadsafe(
                    asyncio.wait_for(layer.receive(channel), 0.3), loop
                ).result(5)
            except TimeoutError:
                break
            received.append(message["html"])
        assert received and received[-1] == "<p id='x'>5</p>"
        assert 1 <= renders["heard"] <= 5 and len(received) == renders["heard"]
        assert renders["unheard"] == 0
    finally:
        live.use_server_loop(None)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)


async def test_a_page_follows_up_to_fifty_groups_and_is_told_of_the_rest(personas):
    from portal.consumers import MAX_GROUPS
    from portal.models import Workspace

    me = personas["reader"]

    def workspaces():
        made = []
        for i in range(MAX_GROUPS + 1):
            workspace = Workspace.objects.create(slug=f"many-{i}", name=f"Many {i}")
            services.membership_set(workspace=workspace, user=me, role=Role.READER)
            made.append(live.group_name("portal.workspace", workspace.pk))
        return made

    groups = await database_sync_to_async(workspaces)()
    communicator = await connect(me, ",".join(groups))
    connected, _ = await communicator.connect()
    assert connected
    notice = await communicator.receive_from(timeout=5)
    assert f"at most {MAX_GROUPS} live groups; 1 more" in notice
    layer = get_channel_layer()
    # The fiftieth is joined (the user's own group does not count), the fifty-first is not.
    await layer.group_send(
        groups[MAX_GROUPS - 1], live.message(groups[MAX_GROUPS - 1], "<p>50</p>")
    )
    assert await communicator.receive_from(timeout=5) == "<p>50</p>"
    await layer.group_send(groups[MAX_GROUPS], live.message(groups[MAX_GROUPS], "<p>51</p>"))
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


async def test_disconnect_leaves_every_group_even_when_one_discard_fails(personas, team_a):
    communicator = await connect(personas["reader"], live.group_name("portal.workspace", team_a.pk))
    await communicator.connect()
    layer = get_channel_layer()
    real_discard = layer.group_discard
    left = []

    async def flaky(group, channel):
        if group.startswith("portal.user."):
            raise ConnectionError("redis went away")
        left.append(group)
        await real_discard(group, channel)

    layer.group_discard = flaky
    try:
        await communicator.disconnect()
    finally:
        layer.group_discard = real_discard
    assert left == [live.group_name("portal.workspace", team_a.pk)]


def test_fragments_of_a_batch_render_in_one_call_and_a_group_gets_one_message():
    import asyncio

    from portal.layers import InProcessChannelLayer

    calls = []

    def render_many(args):
        calls.append(list(args))
        return {arg: f"<p id='{arg}'>{arg}</p>" for arg in args if arg != "gone"}

    messages = live._render_batch(
        [
            ("g1", live.Fragment(render_many, "a")),
            ("g2", "<p>plain</p>"),
            ("g1", live.Fragment(render_many, "b")),
            ("g2", live.Fragment(render_many, "gone")),  # renders "": nothing is sent
            ("g3", lambda: "<p>late</p>"),
        ]
    )
    assert calls == [["a", "b", "gone"]]
    assert messages == [
        ("g1", "<p id='a'>a</p>"),
        ("g2", "<p>plain</p>"),
        ("g1", "<p id='b'>b</p>"),
        ("g3", "<p>late</p>"),
    ]

    async def deliver():
        layer = InProcessChannelLayer()
        channels = {g: await layer.new_channel() for g in ("g1", "g2", "g3")}
        for group, channel in channels.items():
            await layer.group_add(group, channel)
        await live._send_all(layer, messages)
        got = {g: (await layer.receive(c))["html"] for g, c in channels.items()}
        assert all(layer.channels.get(c) is None for c in channels.values())  # one each
        return got

    got = asyncio.run(deliver())
    assert got == {
        "g1": "<p id='a'>a</p><p id='b'>b</p>",
        "g2": "<p>plain</p>",
        "g3": "<p>late</p>",
    }


async def test_an_idle_socket_outlives_the_layers_blocking_read(personas, team_a):
    """The Redis layer's receive blocks for 5 s; a client read time-out at or under that
    used to end idle sockets after 5 quiet seconds (production mode)."""
    group = live.group_name("portal.workspace", team_a.pk)
    communicator = await connect(personas["reader"], group)
    connected, _ = await communicator.connect()
    assert connected
    assert await communicator.receive_nothing(timeout=6.5, interval=0.5)
    await get_channel_layer().group_send(group, live.message(group, "<p>later</p>"))
    assert await communicator.receive_from(timeout=5) == "<p>later</p>"
    await communicator.disconnect()


async def layer_members(group: str) -> int:
    layer = get_channel_layer()
    if hasattr(layer, "groups"):  # in-process
        return len(layer.groups.get(group, {}))
    connection = layer.connection(layer.consistent_hash(group))
    return await connection.zcard(layer._group_key(group))


async def test_sockets_of_one_process_share_one_layer_membership(personas, team_a):
    """The process's hub is the layer member: a group followed by many tabs costs the sender
    one message per web process; each tab still gets it, until the last one leaves."""
    import asyncio

    from portal import fanout

    group = live.group_name("portal.workspace", team_a.pk)
    first = await connect(personas["reader"], group)
    second = await connect(personas["admin"], group)
    assert (await first.connect())[0] and (await second.connect())[0]
    assert await layer_members(group) == 1
    layer = get_channel_layer()
    await layer.group_send(group, live.message(group, "<p>both</p>"))
    assert await first.receive_from(timeout=5) == "<p>both</p>"
    assert await second.receive_from(timeout=5) == "<p>both</p>"
    await first.disconnect()
    await layer.group_send(group, live.message(group, "<p>one</p>"))
    assert await second.receive_from(timeout=5) == "<p>one</p>"
    assert await layer_members(group) == 1
    await second.disconnect()
    assert await layer_members(group) == 0
    assert asyncio.get_running_loop() not in fanout._hubs  # the last socket stopped the hub


async def test_waiting_fragments_go_as_one_frame_and_a_socket_too_far_behind_is_resynced(
    personas, monkeypatch
):
    from portal import consumers, fanout

    kinds = registry._items[live.LiveKind]
    thing = live.LiveKind(
        "test.thing", lambda user, pk: True, snapshot=lambda pk: f'<p id="thing-{pk}">now</p>'
    )
    monkeypatch.setitem(kinds, "test.thing", thing)
    communicator = await connect(personas["reader"], "test.thing.1")
    assert (await communicator.connect())[0]
    assert await communicator.receive_from(timeout=5) == '<p id="thing-1">now</p>'  # on join
    (socket,) = fanout.hub().members["test.thing.1"]
    socket.push("<p>a</p>")
    socket.push("<p>b</p>")  # both wait for the writer: one frame
    assert await communicator.receive_from(timeout=5) == "<p>a</p><p>b</p>"
    monkeypatch.setattr(consumers, "BACKLOG_CAP", 10)
    socket.push("<p>" + "x" * 20 + "</p>")  # past the cap: dropped for a fresh snapshot
    notice = await communicator.receive_from(timeout=5)
    assert 'id="live-notice"' in notice and "fell behind" in notice
    assert await communicator.receive_from(timeout=5) == '<p id="thing-1">now</p>'
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


async def test_a_socket_is_its_session_cookies_user(personas):
    """The websocket's user comes from the session cookie, checked as a request's is: no
    cookie, an unknown session or one from before a password change connects nobody."""
    from django.test import Client

    from portal.asgi import application

    me = personas["reader"]

    def session_key() -> str:
        client = Client()
        client.force_login(me)
        return client.cookies["sessionid"].value

    async def try_with(cookie: str | None) -> tuple[bool, str]:
        headers = [(b"origin", b"http://127.0.0.1")]
        if cookie is not None:
            headers.append((b"cookie", cookie.encode()))
        communicator = WebsocketCommunicator(application, "/ws/live/", headers=headers)
        connected, _ = await communicator.connect()
        await communicator.disconnect()
        return connected

    key = await database_sync_to_async(session_key)()
    assert await try_with(f"sessionid={key}; other=1")
    assert not await try_with(None)
    assert not await try_with("sessionid=not-a-session")
    assert not await try_with('sessionid="bad; =cookie')

    def change_password() -> None:
        me.set_password("a new one, long enough")
        me.save()

    await database_sync_to_async(change_password)()
    assert not await try_with(f"sessionid={key}")


async def test_the_hub_takes_a_backlog_in_one_read(personas, team_a):
    layer = get_channel_layer()
    channel = await layer.new_channel("livehub")
    await layer.group_add("portal.workspace.91", channel)
    await layer.group_add("portal.workspace.92", channel)
    for n in range(3):
        for group in ("portal.workspace.91", "portal.workspace.92"):
            await layer.group_send(group, live.message(group, f"<p>{group} {n}</p>"))
    got = await layer.receive_many(channel)
    assert [m["html"] for m in got] == [
        f"<p>{g} {n}</p>" for n in range(3) for g in ("portal.workspace.91", "portal.workspace.92")
    ]
    await layer.group_discard("portal.workspace.91", channel)
    await layer.group_discard("portal.workspace.92", channel)


async def test_the_hub_takes_its_groups_again_after_the_layer_failed(personas, team_a, monkeypatch):
    """A restarted Redis forgets every membership; the hub's next read fails, and it joins
    its groups again before reading on, so open pages keep getting updates."""
    import asyncio

    group = live.group_name("portal.workspace", team_a.pk)
    layer = get_channel_layer()
    real = layer.receive_many
    failed = []

    async def restarting(channel, limit=500):
        if not failed:
            while await layer_members(group) == 0:  # once the hub holds the membership
                await asyncio.sleep(0.01)
            await layer.group_discard(group, channel)  # forgotten, as by a restart
            failed.append(channel)
            raise ConnectionError("Redis restarted")
        return await real(channel, limit)

    monkeypatch.setattr(layer, "receive_many", restarting)
    communicator = await connect(personas["reader"], group)
    assert (await communicator.connect())[0]
    for _ in range(100):
        if failed and await layer_members(group) == 1:
            break
        await asyncio.sleep(0.05)
    assert failed and await layer_members(group) == 1
    await layer.group_send(group, live.message(group, "<p>back</p>"))
    assert await communicator.receive_from(timeout=5) == "<p>back</p>"
    await communicator.disconnect()


def shout(args: list) -> dict:
    """A ``Fragment`` renderer the sender process can import by name (no database)."""
    return {arg: f"<p>{arg.upper()}</p>" for arg in args}


def test_watch_clusters_sends_from_a_child_process_when_the_layer_reaches_it(settings, monkeypatch):
    """``manage.py watch_clusters`` renders and sends from a child process (its own GIL):
    fragments travel to it by name, closures are rendered before they leave. With the
    in-process layer nothing outside the process would hear it, so the thread stays."""
    import asyncio

    from asgiref.sync import async_to_sync
    from channels.layers import InMemoryChannelLayer
    from django.db import transaction

    for name, value in (("_in_process", False), ("_outbox_queue", None), ("_sender_child", None)):
        monkeypatch.setattr(live, name, value)
    layer = get_channel_layer()
    if isinstance(layer, InMemoryChannelLayer):
        assert live.use_sender_process() is False and live._in_process is False
        return
    settings.LIVE_SEND_IN_BACKGROUND = True
    assert live.use_sender_process()
    channel = async_to_sync(layer.new_channel)()
    group = "portal.workspace.501"
    async_to_sync(layer.group_add)(group, channel)
    try:
        with transaction.atomic():
            live.broadcast(group, live.Fragment(shout, "from the child"), key="k")
            live.broadcast(group, lambda: "<p>rendered here</p>")
        assert live._sender_child is not None and live._sender_child.is_alive()
        live.flush()  # the child took and sent both

        async def receive() -> dict:
            return await asyncio.wait_for(layer.receive(channel), 10)

        got = ""
        while "rendered here" not in got:  # one message, or two if the child split them
            got += async_to_sync(receive)()["html"]
        assert got == "<p>FROM THE CHILD</p><p>rendered here</p>"
    finally:
        async_to_sync(layer.group_discard)(group, channel)
        live._sender_child.terminate()
        live._sender_child.join(5)


async def test_a_member_removed_from_a_workspace_stops_getting_its_updates(personas, team_a):
    """Access is checked when a page joins and again when it shrinks: removing a member
    makes their open pages leave the workspace's groups, with a notice."""
    group = live.group_name("portal.workspace", team_a.pk)
    communicator = await connect(personas["reader"], group)
    assert (await communicator.connect())[0]
    await database_sync_to_async(services.membership_remove)(
        workspace=team_a, user=personas["reader"]
    )
    frames = ""
    while "not available" not in frames:  # the member list may come first (their removal)
        frames += await communicator.receive_from(timeout=5)
    assert f"Live updates for {group} are not available to you." in frames
    assert live.RECHECK not in frames
    await get_channel_layer().group_send(group, live.message(group, "<p>secret</p>"))
    assert await communicator.receive_nothing(timeout=0.5)
    await communicator.disconnect()


async def test_losing_it_operations_or_being_deactivated_ends_what_the_page_may_not_follow(
    personas, team_b
):
    """IT operations see every workspace; once the flag is taken away (a save through the
    admin), their open page leaves the workspaces they are not a member of. A deactivated
    user's socket is closed."""
    itops = personas["itops"]
    group = live.group_name("portal.workspace", team_b.pk)
    communicator = await connect(itops, group)
    assert (await communicator.connect())[0]

    def demote() -> None:
        itops.is_itops = False
        itops.save()

    await database_sync_to_async(demote)()
    assert "not available" in await communicator.receive_from(timeout=5)
    await get_channel_layer().group_send(group, live.message(group, "<p>secret</p>"))
    assert await communicator.receive_nothing(timeout=0.5)

    def deactivate() -> None:
        itops.is_active = False
        itops.save()

    await database_sync_to_async(deactivate)()
    closed = await communicator.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4401}
    await communicator.disconnect()


async def test_calls_made_while_one_runs_go_together_in_the_next():
    """The coalescer behind joining sockets: the first call goes alone, those that came
    meanwhile share one call, each caller gets its own result, a failure reaches every caller
    of its round and a caller that went away takes nobody with it."""
    import asyncio
    import threading

    from portal.consumers import Coalescer

    calls: list[list[int]] = []
    release = threading.Event()

    def many(args: list[int]) -> list[int]:
        calls.append(list(args))
        if len(calls) == 1:
            release.wait(5)  # the first round is slow: the others pile up behind it
        if -1 in args:
            raise ValueError("refused")
        return [arg * 10 for arg in args]

    coalesce = Coalescer(many)
    first = asyncio.create_task(coalesce(1))
    while not calls:
        await asyncio.sleep(0.01)
    others = [asyncio.create_task(coalesce(n)) for n in (2, 3, 4)]
    gone = asyncio.create_task(coalesce(5))
    await asyncio.sleep(0.05)
    gone.cancel()
    release.set()
    assert await first == 10
    assert [await task for task in others] == [20, 30, 40]
    assert calls == [[1], [2, 3, 4, 5]]

    failing = [asyncio.create_task(coalesce(n)) for n in (-1, 6)]
    results = await asyncio.gather(*failing, return_exceptions=True)
    assert all(isinstance(r, ValueError) for r in results)
    assert await coalesce(7) == 70  # a failed round leaves the coalescer working
