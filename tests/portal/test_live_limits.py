"""What a page may send its live socket, and what happens to a socket that misbehaves or
dies: deep or huge frames are refused with a notice that does not repeat them, refusals are
logged once per socket and close it past a limit, and a socket that dies for any reason
leaves its groups."""

import json
import logging

import pytest
from channels.testing import WebsocketCommunicator

from portal import consumers, fanout, live
from portal.asgi import router

pytestmark = pytest.mark.django_db(transaction=True)


async def connected(user, groups: str = "") -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(
        router, f"/ws/live/?groups={groups}", headers=[(b"origin", b"http://127.0.0.1")]
    )
    communicator.scope["user"] = user
    ok, _ = await communicator.connect()
    assert ok
    return communicator


def hub_members(group: str) -> int:
    return sum(len(hub.members.get(group, ())) for hub in list(fanout._hubs.values()))


async def test_a_deeply_nested_frame_is_refused_and_the_socket_lives_on(personas, team_a):
    socket = await connected(personas["reader"])
    await socket.send_to(text_data="[" * 1000 + "]" * 1000)
    notice = await socket.receive_from(timeout=5)
    assert "not JSON, or nested too deeply" in notice
    group = live.group_name("portal.workspace", team_a.pk)
    await socket.send_json_to({"subscribe": group})
    assert await socket.receive_nothing(timeout=0.5)  # joined: no refusal
    assert hub_members(group) == 1
    await socket.disconnect()
    assert hub_members(group) == 0


async def test_a_huge_frame_is_neither_echoed_nor_logged(personas, caplog):
    socket = await connected(personas["reader"])
    caplog.set_level(logging.INFO)
    for _ in range(5):
        await socket.send_to(text_data=json.dumps({"subscribe": "x" * (10 * 1024 * 1024)}))
        notice = await socket.receive_from(timeout=10)
        assert f"more than {consumers.MAX_FRAME} characters" in notice
        assert "xxxxxxxxxx" not in notice
    await socket.disconnect()
    logged = "".join(record.getMessage() for record in caplog.records)
    assert len(logged) < 2000 and "xxxxxxxxxx" not in logged


async def test_a_long_group_name_is_refused_and_cut_in_the_notice(personas):
    socket = await connected(personas["reader"])
    await socket.send_json_to({"subscribe": "portal.workspace." + "9" * 3000})
    notice = await socket.receive_from(timeout=5)
    assert "not available to you" in notice
    assert "9" * (consumers.SHOWN + 1) not in notice
    await socket.disconnect()


async def test_refusals_are_logged_once_and_close_the_socket_past_the_limit(personas, caplog):
    caplog.set_level(logging.INFO, logger="portal.consumers")
    socket = await connected(personas["reader"])
    for n in range(consumers.MAX_REFUSALS):
        await socket.send_json_to({"subscribe": f"portal.user.{900000 + n}"})
        assert "not available" in await socket.receive_from(timeout=5)
    await socket.send_json_to({"subscribe": "portal.user.999999"})
    assert "live updates stopped" in await socket.receive_from(timeout=5)
    closed = await socket.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": consumers.CLOSE_TOO_MANY_REFUSALS}
    lines = [r for r in caplog.records if r.name == "portal.consumers"]
    assert len(lines) <= 2, [r.getMessage() for r in lines]
    assert hub_members(live.user_group(personas["reader"].pk)) == 0


async def test_a_socket_that_dies_in_a_handler_leaves_its_groups(personas, team_a, monkeypatch):
    group = live.group_name("portal.workspace", team_a.pk)
    socket = await connected(personas["reader"], group)
    assert hub_members(group) == 1

    async def broken(self, group):
        raise RuntimeError("a bug in a handler")

    monkeypatch.setattr(consumers.LiveConsumer, "subscribe", broken)
    await socket.send_json_to({"subscribe": "portal.workspace.1"})
    with pytest.raises(RuntimeError):
        await socket.wait(timeout=5)
    assert hub_members(group) == 0
    assert hub_members(live.user_group(personas["reader"].pk)) == 0
