"""Fan-out (``LiveDeliveryFunction``) with the table's real stream records (moto in-process) and the real local
management API over HTTP: who gets which frame, gone, stuck (429) and slow connections each costing only
themselves, many connections, duplicates, order, a DynamoDB failure retried without resending, read frames, and
that a delivery failure leaves sending and the conversation lists alone."""
from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from http import HTTPStatus

import pytest

from cruddur_messaging.data import keys
from cruddur_messaging.data.connection_gateway import CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS
from cruddur_messaging.data.connections import ConnectionStore
from cruddur_messaging.errors import DependencyUnavailable
from cruddur_messaging.models import LiveConnection
from devtools.stream_reader import STREAM_FUNCTION, StreamReader
from tests.support.api import ok
from tests.support.calls import record_calls
from tests.support.client import Caller
from tests.support.live import (
    CONNECTION_FUNCTION,
    DELIVERY_FUNCTION,
    answering_management_api,
    connect_event,
    delivery_mapping,
)
from tests.support.people import ANDREW, BAYKO, LONDO
from tests.support.streams import batch, failed_sequence_numbers, redelivery
from tests.support.table import query_all

LONG_AGO = datetime.now(timezone.utc) - timedelta(hours=1)


class Live:
    """The stream as both consumers see it: the stream function moves the rows, the delivery function delivers."""

    def __init__(self, aws, connections) -> None:
        self.aws = aws
        self.connections = connections
        self.reader = StreamReader(aws.stream_arn, aws.resources)
        self.mapping = delivery_mapping(aws)

    def connect(self, person, connection_id: str) -> str:
        self.connections.open(connection_id)
        assert self.aws.invoke(CONNECTION_FUNCTION, connect_event(person, connection_id))["statusCode"] == 200
        return connection_id

    def connect_long_ago(self, person, connection_id: str, open_: bool = True) -> str:
        """A connection recorded an hour ago (past the handshake grace), open or not."""
        if open_:
            self.connections.open(connection_id)
        ConnectionStore(self.aws.table).add(LiveConnection(person.uuid, connection_id, LONG_AGO.isoformat()))
        return connection_id

    def records(self) -> list[dict]:
        """New stream records, as the delivery mapping's filter lets them through; the stream function first
        gets the message inserts (as its own mapping would), so the group rows it moves are in the stream too."""
        records = self.reader.new_records()
        stream_function_records = [record for record in records if self.reader.mapping.accepts(record)]
        if stream_function_records:
            assert self.aws.invoke(STREAM_FUNCTION, batch(stream_function_records)) == {"batchItemFailures": []}
            records += self.reader.new_records()
        return [record for record in records if self.mapping.accepts(record)]

    def deliver(self, records: list[dict]) -> dict:
        return self.aws.invoke(DELIVERY_FUNCTION, batch(records))


@pytest.fixture
def scene(live, connections) -> Live:
    return Live(live, connections)


def last_update(connections, connection_id: str) -> dict:
    return [frame for frame in connections.frames[connection_id] if frame["type"] == "conversation.updated"][-1][
        "conversation"]


def message_frames(connections, connection_id: str) -> list[dict]:
    return [frame for frame in connections.frames[connection_id] if frame["type"] == "message.created"]


def read_frames(connections, connection_id: str) -> list[dict]:
    return [frame for frame in connections.frames[connection_id] if frame["type"] == "read"]


def unread_frames(connections, connection_id: str) -> list[dict]:
    return [frame for frame in connections.frames[connection_id] if frame["type"] == "unread"]


def read_frame(group: str, reader, last_read_at: str) -> dict:
    return {"type": "read", "message_group_uuid": group, "handle": reader.handle, "last_read_at": last_read_at}


def test_both_members_get_the_message_and_their_own_list_item_and_a_stranger_nothing(scene, connections) -> None:
    andrew_tabs = [scene.connect(ANDREW, "andrew-1"), scene.connect(ANDREW, "andrew-2")]
    bayko = scene.connect(BAYKO, "bayko-1")
    londo = scene.connect(LONDO, "londo-1")

    started = ok(Caller(scene.aws, ANDREW).send("Hello Bayko", handle="bayko"))
    group = started["message_group_uuid"]
    records = scene.records()
    # The new group's rows, exact from the start, and its message: the stream function finds nothing to write.
    assert [(record["dynamodb"]["Keys"]["pk"]["S"].split("#")[0], record["eventName"]) for record in records] == [
        ("GRP", "INSERT"), ("GRP", "INSERT"), ("MSG", "INSERT")]
    assert scene.deliver(records) == {"batchItemFailures": []}

    message = {key: value for key, value in started.items() if key != "message_group_uuid"}
    created = {"type": "message.created", "message_group_uuid": group, "message": message}
    for tab in andrew_tabs:
        assert message_frames(connections, tab) == [created]
        # One frame for the new conversation: the list item as list-groups shows it, read up to the first message.
        assert connections.types(tab).count("conversation.updated") == 1
        assert last_update(connections, tab) == {
            "uuid": group, "display_name": "Andrew Bayko", "handle": "bayko", "message": "Hello Bayko",
            "created_at": started["created_at"], "unread_count": 0, "last_read_at": started["created_at"],
            "version": listed_version(scene, ANDREW, group)}
    assert message_frames(connections, bayko) == [created]
    # One frame, with the right count at once.
    assert connections.types(bayko).count("conversation.updated") == 1
    assert last_update(connections, bayko) == {
        "uuid": group, "display_name": "Andrew Brown", "handle": "andrewbrown", "message": "Hello Bayko",
        "created_at": started["created_at"], "unread_count": 1, "last_read_at": None,
        "version": listed_version(scene, BAYKO, group)}
    # The sender's marker is written with the conversation (an insert), so no read frame follows: the recipient
    # already has the message itself.
    assert read_frames(connections, bayko) == []
    assert all(read_frames(connections, tab) == [] for tab in andrew_tabs)
    assert connections.frames[londo] == []


def test_a_new_conversation_is_one_list_frame_per_member_with_its_count_even_when_its_record_comes_again(
        scene, connections) -> None:
    andrew, bayko = scene.connect(ANDREW, "andrew-1"), scene.connect(BAYKO, "bayko-1")
    started = ok(Caller(scene.aws, ANDREW).send("Hello Bayko", handle="bayko"))
    group = started["message_group_uuid"]
    records = scene.records()
    first_message = [record for record in records if record["dynamodb"]["Keys"]["pk"]["S"].startswith("MSG#")]
    # The stream function gets the first message's record again (a retried batch): still nothing to write.
    assert scene.aws.invoke(STREAM_FUNCTION, batch(first_message)) == {"batchItemFailures": []}
    assert scene.reader.new_records() == []

    assert scene.deliver(records) == {"batchItemFailures": []}

    # The recipient's badge changed too (its row arrived with a count): one ``unread`` frame, posted beside the list
    # frame of the same record, so in either order.
    for connection_id, unread, marker, badge in ((andrew, 0, started["created_at"], []),
                                                 (bayko, 1, None, ["unread"])):
        assert sorted(connections.types(connection_id)) == sorted(["conversation.updated", "message.created", *badge])
        assert connections.types(connection_id).count("conversation.updated") == 1
        update = last_update(connections, connection_id)
        assert (update["uuid"], update["unread_count"], update["last_read_at"]) == (group, unread, marker)


def listed_version(scene: Live, caller, group: str) -> int:
    """The version of the caller's list item of the group, as list-groups answers it now."""
    [item] = [item for item in ok(Caller(scene.aws, caller).list_groups()) if item["uuid"] == group]
    assert item["version"] > 0
    return item["version"]


def test_a_reply_moves_the_rows_and_both_lists_follow(scene, connections) -> None:
    andrew, bayko = scene.connect(ANDREW, "andrew-1"), scene.connect(BAYKO, "bayko-1")
    group = Caller(scene.aws, ANDREW).start_conversation("bayko", "Hello")
    scene.records()  # the start, not delivered: nobody was listening to it yet in this test

    reply = ok(Caller(scene.aws, BAYKO).send("Hi Andrew", group=group))
    assert scene.deliver(scene.records()) == {"batchItemFailures": []}

    for connection_id, other, unread in ((andrew, "bayko", 1), (bayko, "andrewbrown", 0)):
        assert message_frames(connections, connection_id)[-1]["message"]["uuid"] == reply["uuid"]
        update = last_update(connections, connection_id)
        assert {key: update[key] for key in ("uuid", "handle", "message", "created_at", "unread_count")} == {
            "uuid": group, "handle": other, "message": "Hi Andrew", "created_at": reply["created_at"],
            "unread_count": unread}


def test_marking_read_on_one_device_updates_the_list_on_the_others(scene, connections) -> None:
    group = Caller(scene.aws, ANDREW).start_conversation("bayko", "Unread for now")
    phone, laptop = scene.connect(BAYKO, "bayko-phone"), scene.connect(BAYKO, "bayko-laptop")
    scene.records()

    state = ok(Caller(scene.aws, BAYKO).mark_read(group))
    assert state["unread_count"] == 0
    records = scene.records()
    assert [record["eventName"] for record in records] == ["MODIFY"]  # bayko's row, in place
    assert scene.deliver(records) == {"batchItemFailures": []}
    for device in (phone, laptop):
        assert sorted(connections.types(device)) == ["conversation.updated", "unread"]  # the badge went to 0
        assert unread_frames(connections, device) == [{"type": "unread", "conversations": 0, "messages": 0}]
        assert last_update(connections, device)["unread_count"] == 0
        assert last_update(connections, device)["last_read_at"] == state["last_read_at"]


def test_a_gone_connection_is_deleted_on_the_spot_and_the_others_still_get_the_frame(scene, connections) -> None:
    group = Caller(scene.aws, ANDREW).start_conversation("bayko")
    scene.records()
    live_tab = scene.connect(BAYKO, "bayko-live")
    scene.connect_long_ago(BAYKO, "bayko-closed-without-disconnect", open_=False)
    handshaking = "bayko-still-in-handshake"  # recorded by $connect a moment ago, not open yet: 410 as well
    assert scene.aws.invoke(CONNECTION_FUNCTION, connect_event(BAYKO, handshaking))["statusCode"] == 200

    ok(Caller(scene.aws, ANDREW).send("Are you there?", group=group))
    assert scene.deliver(scene.records()) == {"batchItemFailures": []}

    assert [frame["message"]["message"] for frame in message_frames(connections, live_tab)] == ["Are you there?"]
    remaining = sorted(item["sk"] for item in query_all(scene.aws.table, keys.connections_pk(BAYKO.uuid)))
    assert remaining == [live_tab, handshaking]


def test_many_connections_each_get_every_frame_once(scene, connections) -> None:
    group = Caller(scene.aws, ANDREW).start_conversation("bayko")
    scene.records()
    tabs = [scene.connect_long_ago(BAYKO, f"bayko-{number:02d}") for number in range(40)]

    sent = ok(Caller(scene.aws, ANDREW).send("To every tab", group=group))
    assert scene.deliver(scene.records()) == {"batchItemFailures": []}

    for tab in tabs:
        assert [frame["message"]["uuid"] for frame in message_frames(connections, tab)] == [sent["uuid"]]
        assert connections.types(tab).count("conversation.updated") == 1
        assert unread_frames(connections, tab) == [{"type": "unread", "conversations": 1, "messages": 2}]
    assert connections.posts == 3 * len(tabs)  # nothing to andrew, who has no connection


def test_a_record_twice_in_a_batch_is_delivered_once_and_a_redelivered_batch_again(scene, connections) -> None:
    group = Caller(scene.aws, ANDREW).start_conversation("bayko")
    scene.records()
    tab = scene.connect(BAYKO, "bayko-1")
    sent = ok(Caller(scene.aws, ANDREW).send("Once", group=group))
    records = scene.records()

    assert scene.deliver(records + records) == {"batchItemFailures": []}
    assert [frame["message"]["uuid"] for frame in message_frames(connections, tab)] == [sent["uuid"]]
    # Lambda may deliver a batch again (at least once): the same frame, with the same uuid for clients to drop.
    assert scene.deliver(records) == {"batchItemFailures": []}
    assert [frame["message"]["uuid"] for frame in message_frames(connections, tab)] == [sent["uuid"]] * 2


def test_a_stuck_connection_loses_only_its_own_frames_and_is_closed_and_forgotten(scene, connections) -> None:
    group = Caller(scene.aws, ANDREW).start_conversation("bayko")
    scene.records()
    andrew, bayko = scene.connect(ANDREW, "andrew-1"), scene.connect(BAYKO, "bayko-1")
    stuck = scene.connect_long_ago(BAYKO, "bayko-stuck")  # its buffer full: the management API answers 429
    connections.stuck.add(stuck)
    sent = [ok(Caller(scene.aws, ANDREW).send(f"Message {number}", group=group))["uuid"] for number in range(4)]

    assert scene.deliver(scene.records()) == {"batchItemFailures": []}  # nothing retried, for anyone

    for healthy in (andrew, bayko):
        assert [frame["message"]["uuid"] for frame in message_frames(connections, healthy)] == sent
    # One attempt: the stuck connection gets nothing more in the invocation, and is closed and forgotten, so its
    # client reconnects and resyncs instead of silently missing frames.
    assert connections.attempts[stuck] == 1
    assert connections.frames[stuck] == []
    assert connections.closed == [stuck]
    assert sorted(item["sk"] for item in query_all(scene.aws.table, keys.connections_pk(BAYKO.uuid))) == [bayko]


def test_a_slow_connection_is_given_up_on_after_the_read_timeout_and_the_others_do_not_wait_longer(
        scene, connections) -> None:
    group = Caller(scene.aws, ANDREW).start_conversation("bayko")
    scene.records()
    andrew = scene.connect(ANDREW, "andrew-1")
    slow = scene.connect_long_ago(BAYKO, "bayko-slow")
    connections.slow.add(slow)
    sent = [ok(Caller(scene.aws, ANDREW).send(f"Message {number}", group=group))["uuid"] for number in range(3)]
    records = scene.records()

    started = time.monotonic()
    assert scene.deliver(records) == {"batchItemFailures": []}
    elapsed = time.monotonic() - started

    # One read timeout for the whole batch, not one per record (nor one per SDK retry).
    assert READ_TIMEOUT_SECONDS <= elapsed < READ_TIMEOUT_SECONDS + CONNECT_TIMEOUT_SECONDS + 1
    assert [frame["message"]["uuid"] for frame in message_frames(connections, andrew)] == sent
    assert connections.attempts[slow] == 1
    assert connections.closed == [slow]


def test_a_dynamodb_failure_retries_the_record_and_resends_only_what_was_not_sent(scene, connections,
                                                                                   monkeypatch) -> None:
    bayko_group = Caller(scene.aws, ANDREW).start_conversation("bayko")
    londo_group = Caller(scene.aws, ANDREW).start_conversation("londo")
    scene.records()
    andrew, bayko, londo = (scene.connect(person, f"{person.handle}-1") for person in (ANDREW, BAYKO, LONDO))
    first = ok(Caller(scene.aws, ANDREW).send("To bayko", group=bayko_group))["uuid"]
    second = ok(Caller(scene.aws, ANDREW).send("To londo", group=londo_group))["uuid"]
    records = [record for record in scene.reader.new_records() if scene.mapping.accepts(record)]
    assert len(records) == 2
    # londo's connections cannot be read (a DynamoDB outage starting between the two records).
    of_user = ConnectionStore.of_user

    def failing_for_londo(store, user_uuid, now=None):
        if user_uuid == LONDO.uuid:
            raise DependencyUnavailable("dynamodb")
        return of_user(store, user_uuid, now)

    monkeypatch.setattr(ConnectionStore, "of_user", failing_for_londo)
    response = scene.deliver(records)
    assert failed_sequence_numbers(response) == [records[1]["dynamodb"]["SequenceNumber"]]
    assert [frame["message"]["uuid"] for frame in message_frames(connections, andrew)] == [first]
    assert connections.frames[londo] == []  # nothing of the failed record went out, to anyone

    monkeypatch.setattr(ConnectionStore, "of_user", of_user)
    assert scene.deliver(redelivery(records, response)) == {"batchItemFailures": []}
    assert [frame["message"]["uuid"] for frame in message_frames(connections, andrew)] == [first, second]
    assert [frame["message"]["uuid"] for frame in message_frames(connections, londo)] == [second]
    assert [frame["message"]["uuid"] for frame in message_frames(connections, bayko)] == [first]


def test_a_management_api_that_cannot_be_reached_fails_nothing_and_forgets_no_connection(live, monkeypatch,
                                                                                         capsys) -> None:
    """The management API unreachable: sends still succeed, the stream function still moves both rows, and the
    delivery function drops the frames without failing its records (a retry could not tell who got them); the
    connection it could not close keeps its item."""
    monkeypatch.setenv("WEBSOCKET_API_ENDPOINT", "http://127.0.0.1:9")  # discard port: connection refused
    scene = Live(live, connections=None)
    ConnectionStore(live.table).add(LiveConnection(BAYKO.uuid, "bayko-1", LONG_AGO.isoformat()))

    started = ok(Caller(live, ANDREW).send("Still stored", handle="bayko"))
    records = scene.records()  # runs the stream function: it must succeed regardless
    rows = [item for person in (ANDREW, BAYKO) for item in query_all(live.table, keys.group_rows_pk(person.uuid))]
    assert {(row["message"], row["sk"]) for row in rows} == {("Still stored", started["created_at"])}
    capsys.readouterr()
    assert scene.deliver(records) == {"batchItemFailures": []}

    assert [item["sk"] for item in query_all(live.table, keys.connections_pk(BAYKO.uuid))] == ["bayko-1"]
    [emitted] = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"CloudWatchMetrics"' in line]
    # One attempt, then the connection's later frames of the batch are skipped; its close failed too.
    assert (emitted["FramesFailed"], emitted["SlowConnectionsNotClosed"]) == ([1.0], [1.0])
    assert emitted["FramesSkipped"][0] >= 1 and "FramesDelivered" not in emitted


def test_a_permanent_refusal_drops_the_frame_and_keeps_the_connection(live, monkeypatch) -> None:
    """403 for every post (the role lacks the permission, or an execute-api VPC endpoint answers for a public
    API): the frames are dropped, nothing is retried, and no connection is closed or forgotten for it."""
    with answering_management_api(HTTPStatus.FORBIDDEN, "ForbiddenException") as refusing:
        monkeypatch.setenv("WEBSOCKET_API_ENDPOINT", refusing.url)
        scene = Live(live, connections=None)
        ConnectionStore(live.table).add(LiveConnection(BAYKO.uuid, "bayko-1", LONG_AGO.isoformat()))
        ok(Caller(live, ANDREW).send("Refused", handle="bayko"))
        assert scene.deliver(scene.records()) == {"batchItemFailures": []}
        requests = list(refusing.requests)

    assert requests and {request.split()[0] for request in requests} == {"POST"}
    assert [item["sk"] for item in query_all(live.table, keys.connections_pk(BAYKO.uuid))] == ["bayko-1"]


def test_marking_read_sends_the_other_member_one_read_frame_and_the_reader_and_a_stranger_none(
        scene, connections) -> None:
    group = Caller(scene.aws, ANDREW).start_conversation("bayko", "Seen yet?")
    scene.records()  # the start, not delivered: nobody was listening yet
    andrew_tabs = [scene.connect(ANDREW, "andrew-1"), scene.connect(ANDREW, "andrew-2")]
    bayko, londo = scene.connect(BAYKO, "bayko-1"), scene.connect(LONDO, "londo-1")

    state = ok(Caller(scene.aws, BAYKO).mark_read(group))
    records = scene.records()
    assert [(record["eventName"], record["dynamodb"]["Keys"]["pk"]["S"]) for record in records] == [
        ("MODIFY", keys.group_rows_pk(BAYKO.uuid))]
    assert scene.deliver(records) == {"batchItemFailures": []}

    for tab in andrew_tabs:
        assert connections.frames[tab] == [read_frame(group, BAYKO, state["last_read_at"])]
    # The reader's own list and badge, no read frame.
    assert sorted(connections.types(bayko)) == ["conversation.updated", "unread"]
    assert connections.frames[londo] == []


def test_a_read_frame_from_a_clock_ahead_covers_no_message_sent_after_it(scene, connections) -> None:
    """A read_at almost a minute ahead: "Seen" is announced up to the newest message there was, not to the
    reader's clock, so a message sent after the mark is not shown as seen."""
    started = ok(Caller(scene.aws, ANDREW).send("Seen yet?", handle="bayko"))
    group = started["message_group_uuid"]
    scene.records()  # the start, not delivered: nobody was listening yet
    andrew = scene.connect(ANDREW, "andrew-1")
    ahead = (datetime.now(timezone.utc) + timedelta(seconds=55)).isoformat(timespec="microseconds")

    ok(Caller(scene.aws, BAYKO).mark_read(group, read_at=ahead))
    assert scene.deliver(scene.records()) == {"batchItemFailures": []}
    later = ok(Caller(scene.aws, ANDREW).send("Sent after the mark", group=group))
    assert scene.deliver(scene.records()) == {"batchItemFailures": []}

    assert read_frames(connections, andrew) == [read_frame(group, BAYKO, started["created_at"])]
    assert started["created_at"] < later["created_at"] < ahead


def test_only_a_marker_that_moves_sends_a_read_frame(scene, connections) -> None:
    group = Caller(scene.aws, ANDREW).start_conversation("bayko", "First")
    second = ok(Caller(scene.aws, ANDREW).send("Second", group=group))
    scene.records()
    andrew = scene.connect(ANDREW, "andrew-1")
    bayko = Caller(scene.aws, BAYKO)

    moved = ok(bayko.mark_read(group))
    assert scene.deliver(scene.records()) == {"batchItemFailures": []}
    assert read_frames(connections, andrew) == [read_frame(group, BAYKO, second["created_at"])]

    # An older read_at changes nothing: 200 with the current state, no write, so no record and no frame.
    assert ok(bayko.mark_read(group, read_at="2026-01-01T00:00:00.000000+00:00")) == moved
    assert scene.records() == []

    # Two of andrew's messages stream in the wrong order: the later moves the rows, the earlier makes the stream
    # function recount bayko's row in place - an update whose marker stays where it was.
    third, fourth = (ok(Caller(scene.aws, ANDREW).send(text, group=group)) for text in ("Third", "Fourth"))
    inserts = [record for record in scene.reader.new_records()
               if record["dynamodb"]["Keys"]["pk"]["S"] == keys.messages_pk(group)]
    for message_record in reversed(inserts):
        assert scene.aws.invoke(STREAM_FUNCTION, batch([message_record])) == {"batchItemFailures": []}
    records = inserts + [record for record in scene.reader.new_records() if scene.mapping.accepts(record)]
    recounts = [record for record in records if record["eventName"] == "MODIFY"
                and record["dynamodb"]["Keys"]["pk"]["S"] == keys.group_rows_pk(BAYKO.uuid)]
    assert recounts and all(record["dynamodb"]["OldImage"]["last_read_at"] == record["dynamodb"]["NewImage"][
        "last_read_at"] for record in recounts)
    # A reply moves bayko's row and marks it read ("sending marks read"): andrew gets the message, no read frame.
    reply = ok(bayko.send("Got them all", group=group))
    assert scene.deliver(records + scene.records()) == {"batchItemFailures": []}

    assert [frame["message"]["uuid"] for frame in message_frames(connections, andrew)] == [
        third["uuid"], fourth["uuid"], reply["uuid"]]
    assert read_frames(connections, andrew) == [read_frame(group, BAYKO, second["created_at"])]


def test_a_redelivered_read_is_at_most_the_same_frame_again(scene, connections) -> None:
    group = Caller(scene.aws, ANDREW).start_conversation("bayko")
    scene.records()
    andrew = scene.connect(ANDREW, "andrew-1")
    state = ok(Caller(scene.aws, BAYKO).mark_read(group))
    records = scene.records()
    expected = read_frame(group, BAYKO, state["last_read_at"])

    assert scene.deliver(records + records) == {"batchItemFailures": []}
    assert read_frames(connections, andrew) == [expected]
    assert scene.deliver(records) == {"batchItemFailures": []}  # Lambda delivering the batch again
    assert read_frames(connections, andrew) == [expected, expected]


def test_a_reader_whose_handle_is_not_in_the_index_yet_is_retried_until_it_is(scene, connections) -> None:
    """The index shows a group's rows a moment after they are written; here the other member's row (the one
    that names the reader) is taken out of the table and put back, as the index would lag it."""
    group = Caller(scene.aws, ANDREW).start_conversation("bayko")
    scene.records()
    andrew, bayko = scene.connect(ANDREW, "andrew-1"), scene.connect(BAYKO, "bayko-1")
    state = ok(Caller(scene.aws, BAYKO).mark_read(group))
    records = scene.records()
    [andrews_row] = query_all(scene.aws.table, keys.group_rows_pk(ANDREW.uuid))
    scene.aws.table.delete_item(Key={"pk": andrews_row["pk"], "sk": andrews_row["sk"]})

    response = scene.deliver(records)
    assert failed_sequence_numbers(response) == [records[0]["dynamodb"]["SequenceNumber"]]
    assert connections.frames[andrew] == connections.frames[bayko] == []  # nothing of the record went out

    scene.aws.table.put_item(Item=andrews_row)
    scene.reader.new_records()  # the row's own records: not this test's
    assert scene.deliver(redelivery(records, response)) == {"batchItemFailures": []}
    assert connections.frames[andrew] == [read_frame(group, BAYKO, state["last_read_at"])]
    assert sorted(connections.types(bayko)) == ["conversation.updated", "unread"]


def test_a_read_costs_both_members_connections_and_the_handle_once_per_container(scene, connections,
                                                                                 monkeypatch) -> None:
    group = Caller(scene.aws, ANDREW).start_conversation("bayko")
    scene.records()  # not delivered: this container has seen no row of the conversation
    scene.connect(ANDREW, "andrew-1")
    scene.connect(BAYKO, "bayko-1")
    calls = record_calls(monkeypatch)

    def delivery_calls(records: list[dict]) -> list[tuple[str, str]]:
        calls.clear()
        assert scene.deliver(records) == {"batchItemFailures": []}
        return sorted(("index" if "IndexName" in params else
                       params["KeyConditionExpression"].get_expression()["values"][1].split("#")[0], operation)
                      for operation, params in ((name, params) for service, name, params in calls.aws
                                                if service == "dynamodb"))

    ok(Caller(scene.aws, BAYKO).mark_read(group))
    # Bayko's badge changed: his totals, one query of his own rows.
    assert delivery_calls(scene.records()) == [("CONN", "Query"), ("CONN", "Query"), ("GRP", "Query"),
                                               ("index", "Query")]
    assert connections.posts == 3  # andrew's read frame, bayko's list item and badge

    # The rows a new message moves name both members: a container that delivered them knows the handles.
    ok(Caller(scene.aws, ANDREW).send("One more", group=group))
    scene.deliver(scene.records())
    ok(Caller(scene.aws, BAYKO).mark_read(group))
    assert delivery_calls(scene.records()) == [("CONN", "Query"), ("CONN", "Query"), ("GRP", "Query")]


# --- the unread frame (the badge, live) ---------------------------------------------------------------------------

def group_row_record(event_name: str, owner, old_count: int | None = None, new_count: int | None = None,
                     old_image: bool = True) -> dict:
    """A stream record of one of ``owner``'s group rows, its images holding only what ``unread_owner_of`` reads."""
    def image(count: int | None) -> dict:
        return {"pk": {"S": keys.group_rows_pk(owner.uuid)}, "sk": {"S": "2026-12-06T05:00:00.000000+00:00"},
                **({} if count is None else {"unread_count": {"N": str(count)}})}

    stream: dict = {"Keys": {"pk": {"S": keys.group_rows_pk(owner.uuid)},
                             "sk": {"S": "2026-12-06T05:00:00.000000+00:00"}}}
    if event_name in ("INSERT", "MODIFY"):
        stream["NewImage"] = image(new_count)
    if event_name == "REMOVE" or (event_name == "MODIFY" and old_image):
        stream["OldImage"] = image(old_count)
    return {"eventName": event_name, "dynamodb": stream}


@pytest.mark.parametrize(("record", "changed"), [
    (group_row_record("INSERT", BAYKO, new_count=3), True),          # a moved row, or a new conversation's
    (group_row_record("INSERT", BAYKO, new_count=0), False),         # the sender's row of every send
    (group_row_record("INSERT", BAYKO), False),                      # a row written the tutorial's way
    (group_row_record("REMOVE", BAYKO, old_count=2), True),          # the old row of a move that held unread
    (group_row_record("REMOVE", BAYKO, old_count=0), False),
    (group_row_record("MODIFY", BAYKO, old_count=2, new_count=0), True),    # marked read
    (group_row_record("MODIFY", BAYKO, old_count=None, new_count=1), True),  # counted in place
    (group_row_record("MODIFY", BAYKO, old_count=1, new_count=1), False),   # the marker or version only
    (group_row_record("MODIFY", BAYKO, new_count=1, old_image=False), True),  # cannot be told: sent
], ids=["insert-unread", "insert-read", "insert-tutorial", "remove-unread", "remove-read", "modify-read",
        "modify-counted", "modify-same", "modify-no-old-image"])
def test_the_unread_owner_is_the_owner_of_a_row_whose_count_changed(record, changed) -> None:
    from cruddur_messaging.domain.live_delivery import unread_owner_of

    assert unread_owner_of(record) == (BAYKO.uuid if changed else None)
    message_record = {**record, "dynamodb": {**record["dynamodb"], "Keys": {"pk": {"S": "MSG#g"}}}}
    assert unread_owner_of(message_record) is None


def test_the_mapping_passes_the_removal_of_a_row_only_when_it_held_unread_messages(live) -> None:
    """The move's old row (``REMOVE``) says what the new row's insert cannot: that a count went to 0."""
    mapping = delivery_mapping(live)
    assert mapping.accepts(group_row_record("REMOVE", BAYKO, old_count=2))
    assert not mapping.accepts(group_row_record("REMOVE", BAYKO, old_count=0))
    assert not mapping.accepts(group_row_record("REMOVE", BAYKO))
    connection_item = {"eventName": "REMOVE", "dynamodb": {"Keys": {"pk": {"S": keys.connections_pk(BAYKO.uuid)}},
                                                           "OldImage": {"unread_count": {"N": "1"}}}}
    assert not mapping.accepts(connection_item)


def test_a_reply_without_marking_read_first_sends_the_repliers_badge_at_zero(scene, connections) -> None:
    """Sending marks read: bayko's row moves from 2 unread to 0. Only the old row's removal says it changed."""
    group = Caller(scene.aws, ANDREW).start_conversation("bayko", "One")
    ok(Caller(scene.aws, ANDREW).send("Two", group=group))
    scene.records()
    andrew, bayko = scene.connect(ANDREW, "andrew-1"), scene.connect(BAYKO, "bayko-1")

    ok(Caller(scene.aws, BAYKO).send("Both read", group=group))
    records = scene.records()
    assert ("REMOVE", keys.group_rows_pk(BAYKO.uuid)) in [
        (record["eventName"], record["dynamodb"]["Keys"]["pk"]["S"]) for record in records]
    assert scene.deliver(records) == {"batchItemFailures": []}

    assert unread_frames(connections, bayko) == [{"type": "unread", "conversations": 0, "messages": 0}]
    assert unread_frames(connections, andrew) == [{"type": "unread", "conversations": 1, "messages": 1}]
    assert ok(Caller(scene.aws, BAYKO).unread_badge()) == {"conversations": 0, "messages": 0}


def test_a_sender_whose_counts_did_not_change_gets_no_unread_frame_and_costs_no_read(scene, connections,
                                                                                     monkeypatch) -> None:
    group = Caller(scene.aws, ANDREW).start_conversation("bayko")
    scene.records()
    andrew, bayko = scene.connect(ANDREW, "andrew-1"), scene.connect(BAYKO, "bayko-1")
    calls = record_calls(monkeypatch)

    ok(Caller(scene.aws, ANDREW).send("Again", group=group))
    calls.clear()
    assert scene.deliver(scene.records()) == {"batchItemFailures": []}

    assert unread_frames(connections, andrew) == []
    assert unread_frames(connections, bayko) == [{"type": "unread", "conversations": 1, "messages": 2}]
    totals_reads = [params for service, name, params in calls.aws if service == "dynamodb" and name == "Query"
                    and params["KeyConditionExpression"].get_expression()["values"][1].startswith("GRP#")]
    assert len(totals_reads) == 1 and totals_reads[0]["ConsistentRead"] is True  # bayko's, read after the writes


def test_nobody_connected_costs_no_read_of_the_totals(scene, monkeypatch) -> None:
    group = Caller(scene.aws, ANDREW).start_conversation("bayko")
    scene.records()
    calls = record_calls(monkeypatch)
    ok(Caller(scene.aws, BAYKO).mark_read(group))
    records = scene.records()
    calls.clear()
    assert scene.deliver(records) == {"batchItemFailures": []}
    # The connections of bayko (his list item) and andrew (the read frame), and the handle: no totals.
    assert sorted("index" if "IndexName" in params else
                  params["KeyConditionExpression"].get_expression()["values"][1].split("#")[0]
                  for service, name, params in calls.aws if service == "dynamodb") == ["CONN", "CONN", "index"]


def test_the_last_unread_frame_of_each_member_is_the_badge_after_a_burst(scene, connections) -> None:
    """Messages in three conversations and mark-reads, delivered in batches of every size the stream makes: each
    member's last ``unread`` frame equals ``GET /api/message_groups/unread``."""
    people = (ANDREW, BAYKO, LONDO)
    tabs = {person.handle: scene.connect(person, f"{person.handle}-tab") for person in people}
    callers = {person.handle: Caller(scene.aws, person) for person in people}
    groups = {("andrewbrown", "bayko"): callers["andrewbrown"].start_conversation("bayko", "a-b 0"),
              ("londo", "bayko"): callers["londo"].start_conversation("bayko", "l-b 0"),
              ("bayko", "andrewbrown"): None, ("andrewbrown", "londo"): callers["andrewbrown"].start_conversation(
                  "londo", "a-l 0")}
    groups[("bayko", "andrewbrown")] = groups[("andrewbrown", "bayko")]
    scene.deliver(scene.records())
    script = [("send", "andrewbrown", "bayko"), ("send", "londo", "bayko"), ("read", "bayko", "andrewbrown"),
              ("send", "andrewbrown", "bayko"), ("send", "bayko", "andrewbrown"), ("send", "andrewbrown", "londo"),
              ("read", "londo", "andrewbrown"), ("send", "londo", "bayko"), ("send", "andrewbrown", "londo"),
              ("read", "bayko", "londo"), ("send", "andrewbrown", "bayko"), ("send", "bayko", "andrewbrown")]
    for step, (action, actor, other) in enumerate(script):
        group = groups.get((actor, other)) or groups[(other, actor)]
        if action == "send":
            ok(callers[actor].send(f"{actor} {step}", group=group))
        else:
            ok(callers[actor].mark_read(group))
        if step % 3 == 2:  # a batch of one step, then of two
            assert scene.deliver(scene.records()) == {"batchItemFailures": []}
    assert scene.deliver(scene.records()) == {"batchItemFailures": []}

    for person in people:
        frames = unread_frames(connections, tabs[person.handle])
        badge = ok(callers[person.handle].unread_badge())
        assert frames and frames[-1] == {"type": "unread", **badge}, person.handle
    # The script's own sums: bayko's last reply is unread by andrew, andrew's last message by londo; bayko read or
    # replied to everything.
    assert [ok(callers[person.handle].unread_badge()) for person in people] == [
        {"conversations": 1, "messages": 1}, {"conversations": 0, "messages": 0}, {"conversations": 1, "messages": 1}]


def test_totals_that_cannot_be_read_retry_the_record_before_any_of_its_frames(scene, connections,
                                                                              monkeypatch) -> None:
    """The totals are read with the record's other reads, before anything of it is posted: a DynamoDB failure
    fails the record (Lambda resumes from it), and the retry sends its frames, the badge included, once."""
    from cruddur_messaging.data.read_state import ReadStateStore

    group = Caller(scene.aws, ANDREW).start_conversation("bayko")
    scene.records()
    bayko = scene.connect(BAYKO, "bayko-1")
    ok(Caller(scene.aws, BAYKO).mark_read(group))
    records = scene.records()
    unread_totals = ReadStateStore.unread_totals

    def unavailable(store, owner_uuid, *, consistent=False):
        raise DependencyUnavailable("dynamodb")

    monkeypatch.setattr(ReadStateStore, "unread_totals", unavailable)
    response = scene.deliver(records)
    assert failed_sequence_numbers(response) == [records[0]["dynamodb"]["SequenceNumber"]]
    assert connections.frames[bayko] == []  # not even the list item of the failed record

    monkeypatch.setattr(ReadStateStore, "unread_totals", unread_totals)
    assert scene.deliver(redelivery(records, response)) == {"batchItemFailures": []}
    assert sorted(connections.types(bayko)) == ["conversation.updated", "unread"]
    assert unread_frames(connections, bayko) == [{"type": "unread", "conversations": 0, "messages": 0}]
