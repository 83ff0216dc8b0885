"""``message.updated`` and ``message.deleted`` (``LiveDeliveryFunction``) from the real ``MODIFY`` records an edit
and a delete write (moto's stream), through the template's filter, to both members' connections over the local
management API: who gets which frame, that no frame carries a deleted text, redelivery, and the cost per record."""
from __future__ import annotations

import pytest

from tests.support.api import ok
from tests.support.calls import record_calls
from tests.support.client import Caller
from tests.support.people import ANDREW, BAYKO, LONDO
from tests.unit.test_live_delivery import Live

MESSAGE_FRAMES = ("message.created", "message.updated", "message.deleted")


@pytest.fixture
def scene(live, connections) -> Live:
    return Live(live, connections)


def message_frames(connections, connection_id: str) -> list[dict]:
    return [frame for frame in connections.frames[connection_id] if frame["type"] in MESSAGE_FRAMES]


def connected_conversation(scene: Live) -> tuple[Caller, str, dict]:
    """andrewbrown's message to bayko, delivered; both of them and londo connected."""
    andrew = Caller(scene.aws, ANDREW)
    group = andrew.start_conversation("bayko", "Hello")
    sent = ok(andrew.send("See you on Tuesdya", group=group))
    for person, connection_id in ((ANDREW, "andrew-1"), (BAYKO, "bayko-1"), (LONDO, "londo-1")):
        scene.connect(person, connection_id)
    assert scene.deliver(scene.records()) == {"batchItemFailures": []}
    return andrew, group, sent


def test_an_edit_sends_both_members_the_message_as_lists_show_it(scene, connections) -> None:
    andrew, group, sent = connected_conversation(scene)
    edited = ok(andrew.edit(group, sent["uuid"], "See you on Tuesday"))
    records = scene.records()
    # The edit itself, then the stream function's rewrite of both members' rows (the preview shows the new text).
    assert sorted((record["eventName"], record["dynamodb"]["Keys"]["pk"]["S"][:4]) for record in records) == [
        ("MODIFY", "GRP#"), ("MODIFY", "GRP#"), ("MODIFY", "MSG#")]
    assert scene.deliver(records) == {"batchItemFailures": []}

    updated = {"type": "message.updated", "message_group_uuid": group, "message": edited}
    assert edited == ok(andrew.list_messages(group))[-1]
    for connection_id in ("andrew-1", "bayko-1"):
        assert message_frames(connections, connection_id)[-1] == updated
    assert message_frames(connections, "londo-1") == []


def test_a_delete_sends_both_members_its_uuid_and_deleted_at_and_no_text(scene, connections) -> None:
    andrew, group, sent = connected_conversation(scene)
    ok(andrew.edit(group, sent["uuid"], "Secret plans"))
    deleted = ok(andrew.delete(group, sent["uuid"]))
    assert scene.deliver(scene.records()) == {"batchItemFailures": []}

    for connection_id in ("andrew-1", "bayko-1"):
        frames = message_frames(connections, connection_id)
        assert [frame["type"] for frame in frames][-3:] == ["message.created", "message.updated", "message.deleted"]
        assert frames[-1] == {"type": "message.deleted", **deleted} and "message" not in frames[-1]
    assert message_frames(connections, "londo-1") == []


def test_a_redelivered_edit_or_delete_is_at_most_the_same_frame_again(scene, connections) -> None:
    andrew, group, sent = connected_conversation(scene)
    ok(andrew.edit(group, sent["uuid"], "See you on Tuesday"))
    ok(andrew.delete(group, sent["uuid"]))
    records = scene.records()
    assert scene.deliver(records) == {"batchItemFailures": []}
    first = message_frames(connections, "bayko-1")[-2:]
    assert scene.deliver(records) == {"batchItemFailures": []}  # the batch again, as after a crash
    assert message_frames(connections, "bayko-1")[-2:] == first
    assert {frame["type"] for frame in message_frames(connections, "bayko-1")[-4:]} == {"message.updated",
                                                                                        "message.deleted"}


def test_an_edit_or_a_delete_costs_both_members_connections_and_one_post_each(scene, connections,
                                                                              monkeypatch) -> None:
    andrew, group, sent = connected_conversation(scene)
    for change in (lambda: andrew.edit(group, sent["uuid"], "See you on Tuesday"),
                   lambda: andrew.delete(group, sent["uuid"])):
        ok(change())
        # The change's own record (the rows' rewrites that follow cost what any conversation.updated costs).
        records = [record for record in scene.records() if record["dynamodb"]["Keys"]["pk"]["S"].startswith("MSG#")]
        assert len(records) == 1
        posts = connections.posts
        calls = record_calls(monkeypatch)
        assert scene.deliver(records) == {"batchItemFailures": []}
        operations = sorted((params["KeyConditionExpression"].get_expression()["values"][1].split("#")[0], name)
                            for service, name, params in calls.aws if service == "dynamodb")
        assert operations == [("CONN", "Query"), ("CONN", "Query")]  # the members: remembered by the container
        assert connections.posts - posts == 2
