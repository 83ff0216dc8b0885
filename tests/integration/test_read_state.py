"""Read state through the handlers (docs/http-api.md): the list's ``unread_count`` and ``last_read_at``,
``POST /api/message_groups/{uuid}/read``, ``GET /api/message_groups/unread``, with the stream function fed the
table's real stream records in between, as the local stack's poller does."""
from __future__ import annotations

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from cruddur_messaging.data.group_rows import GroupRowStore
from cruddur_messaging.data.read_state import ReadStateStore
from tests.support.api import assert_error, body, ok
from tests.support.calls import operation_is
from tests.support.client import Caller, mark_read_event
from tests.support.concurrency import metrics_disabled, separate_container, serialize_moto  # noqa: F401
from tests.support.events import SEED_GROUP_UUID, as_user
from tests.support.faults import lose_responses
from tests.support.people import ANDREW, BAYKO, LONDO
from tests.support.streams import deliver, read_state, row_writes
from tests.support.table import snapshot

MARK_READ = "MarkReadFunction"
FRONTEND_KEYS = ["uuid", "display_name", "handle", "message", "created_at"]


def flush(aws: Any, reader: Any) -> list[dict[str, Any]]:
    """The stream function runs over every new message record (what the local stack's poller does)."""
    records = reader.new_message_inserts()
    assert deliver(aws, records) == {"batchItemFailures": []}
    return records


def conversation_of(caller: Caller, group: str) -> dict[str, Any]:
    [item] = [item for item in ok(caller.list_groups()) if item["uuid"] == group]
    return item


def test_three_messages_received_are_three_unread_until_read_and_no_replay_changes_a_count(aws, stream):
    andrew, bayko = Caller(aws, ANDREW), Caller(aws, BAYKO)
    group = andrew.start_conversation("bayko", "One")
    ok(andrew.send("Two", group=group))
    last = ok(andrew.send("Three", group=group))
    records = flush(aws, stream)

    item = conversation_of(bayko, group)
    # The frontend's keys first, unchanged.
    assert list(item) == FRONTEND_KEYS + ["unread_count", "last_read_at", "version"]
    assert (item["message"], item["unread_count"], item["last_read_at"]) == ("Three", 3, None)
    assert ok(bayko.unread_badge()) == {"conversations": 1, "messages": 3}
    sender_side = conversation_of(andrew, group)
    assert (sender_side["unread_count"], sender_side["last_read_at"]) == (0, last["created_at"])  # sending reads

    assert ok(bayko.mark_read(group)) == {"message_group_uuid": group, "last_read_at": last["created_at"],
                                          "unread_count": 0}
    read = conversation_of(bayko, group)
    assert (read["unread_count"], ok(bayko.unread_badge())) == (0, {"conversations": 0, "messages": 0})
    assert read["version"] > item["version"]  # marking read is a change of the row
    sent = conversation_of(andrew, group)
    assert deliver(aws, records + records) == {"batchItemFailures": []}
    # The replay of older messages rewrites both rows (a new version, so a sync sees them), and no count moves.
    for caller, before in ((bayko, read), (andrew, sent)):
        replayed = conversation_of(caller, group)
        assert replayed["version"] > before["version"]
        assert {**replayed, "version": before["version"]} == before
    assert ok(bayko.unread_badge()) == {"conversations": 0, "messages": 0}


def test_marking_read_up_to_an_older_message_counts_the_later_ones_and_never_moves_back(aws, stream):
    andrew, bayko = Caller(aws, ANDREW), Caller(aws, BAYKO)
    group = andrew.start_conversation("bayko", "One")
    second = ok(andrew.send("Two", group=group))
    ok(andrew.send("Three", group=group))
    flush(aws, stream)

    assert ok(bayko.mark_read(group, second["created_at"])) == {
        "message_group_uuid": group, "last_read_at": second["created_at"], "unread_count": 1}
    before = snapshot(aws.table)
    first_time = ok(bayko.list_messages(group))[0]["created_at"]
    assert ok(bayko.mark_read(group, first_time)) == {  # behind the marker: 200, the state as it is
        "message_group_uuid": group, "last_read_at": second["created_at"], "unread_count": 1}
    assert snapshot(aws.table) == before
    assert ok(bayko.unread_badge()) == {"conversations": 1, "messages": 1}


def test_read_at_in_another_offset_is_the_same_instant(aws, stream):
    andrew, bayko = Caller(aws, ANDREW), Caller(aws, BAYKO)
    group = andrew.start_conversation("bayko", "One")
    sent = ok(andrew.send("Two", group=group))
    flush(aws, stream)
    utc = sent["created_at"]
    shifted = datetime.fromisoformat(utc).astimezone(timezone(timedelta(hours=-5))).isoformat()
    assert shifted != utc

    assert ok(bayko.mark_read(group, shifted))["last_read_at"] == utc


def test_a_read_at_from_a_clock_ahead_covers_only_the_messages_that_exist_when_it_is_set(aws, stream):
    """A client clock almost a minute ahead (the most a read_at may be): the marker stops at the newest message,
    here one the stream function has not applied to the row yet (the reader may have seen it), and what is sent
    after the mark is unread."""
    andrew, bayko = Caller(aws, ANDREW), Caller(aws, BAYKO)
    group = andrew.start_conversation("bayko", "One")
    flush(aws, stream)
    second = ok(andrew.send("Two, not in the row yet", group=group))
    ahead = (datetime.now(timezone.utc) + timedelta(seconds=55)).isoformat(timespec="microseconds")

    assert ok(bayko.mark_read(group, ahead)) == {"message_group_uuid": group, "last_read_at": second["created_at"],
                                                 "unread_count": 0}
    third = ok(andrew.send("Three, after the mark", group=group))
    flush(aws, stream)

    assert third["created_at"] < ahead
    item = conversation_of(bayko, group)
    assert (item["unread_count"], item["last_read_at"]) == (1, second["created_at"])
    assert ok(bayko.unread_badge()) == {"conversations": 1, "messages": 1}


@pytest.mark.parametrize(("raw_body", "status", "code"), [
    ("{", 400, "invalid_json"),
    ("[]", 400, "invalid_body"),
    ("null", 400, "invalid_body"),
    ('"read"', 400, "invalid_body"),
    ('{"read_at": "yesterday"}', 400, "invalid_read_at"),
    ('{"read_at": 1795320773}', 400, "invalid_read_at"),
    ('{"read_at": "2026-11-21T04:12:53.293000"}', 400, "invalid_read_at"),  # no offset: not a message time
    ('{"read_at": "2999-01-01T00:00:00.000000+00:00"}', 400, "invalid_read_at"),
    ('{"read_at": "0001-01-01T00:00:00.000000+01:00"}', 400, "invalid_read_at"),  # before the year 1 in UTC
    ('{"read_at": "9999-12-31T23:59:59.999999-01:00"}', 400, "invalid_read_at"),  # after the year 9999 in UTC
])
def test_a_malformed_request_is_a_400_and_changes_nothing(aws, seeded, raw_body, status, code):
    before = snapshot(aws.table)
    event = mark_read_event(ANDREW, SEED_GROUP_UUID)
    event["body"] = raw_body
    assert_error(aws.invoke(MARK_READ, event), status, code)
    assert snapshot(aws.table) == before


def test_strangers_unknown_groups_and_bad_uuids_get_the_usual_errors(aws, seeded):
    before = snapshot(aws.table)
    assert_error(Caller(aws, LONDO).mark_read(SEED_GROUP_UUID), 404, "message_group_not_found")
    assert_error(Caller(aws, ANDREW).mark_read("0b6e7c52-3f1d-4a8e-9c2b-5d4f6a7e8b90"), 404, "message_group_not_found")
    assert_error(Caller(aws, ANDREW).mark_read("not-a-uuid"), 400, "invalid_message_group_uuid")
    event = mark_read_event(ANDREW, SEED_GROUP_UUID)
    del event["requestContext"]["authorizer"]  # as list-groups-no-claims.json
    assert_error(aws.invoke(MARK_READ, event), 401, "unauthorized")
    assert snapshot(aws.table) == before


def test_a_tutorial_era_conversation_shows_no_read_state_until_touched_and_can_be_read(aws, seeded):
    andrew = Caller(aws, ANDREW)
    [item] = ok(andrew.list_groups())
    assert (item["unread_count"], item["last_read_at"]) == (0, None)
    assert ok(andrew.unread_badge()) == {"conversations": 0, "messages": 0}

    state = ok(andrew.mark_read(SEED_GROUP_UUID))

    assert state == {"message_group_uuid": SEED_GROUP_UUID, "last_read_at": item["created_at"], "unread_count": 0}
    assert read_state(aws, SEED_GROUP_UUID, ANDREW) == (0, item["created_at"])


def test_a_group_created_a_moment_ago_is_found_before_the_index_has_it(aws, monkeypatch):
    group = Caller(aws, ANDREW).start_conversation("bayko", "Just now")
    monkeypatch.setattr(GroupRowStore, "rows_in_index", lambda store, group_uuid: [])

    state = ok(Caller(aws, BAYKO).mark_read(group))

    assert (state["unread_count"], state["last_read_at"]) == (0, conversation_of(Caller(aws, ANDREW), group)[
        "created_at"])
    assert_error(Caller(aws, LONDO).mark_read(group), 404, "message_group_not_found")


def test_a_row_the_index_shows_where_it_was_is_read_again_where_it_is(aws, stream, monkeypatch):
    andrew, bayko = Caller(aws, ANDREW), Caller(aws, BAYKO)
    group = andrew.start_conversation("bayko", "One")
    flush(aws, stream)
    stale = GroupRowStore.rows_in_index
    stale_rows = stale(GroupRowStore(aws.table, os.environ["MESSAGE_GROUP_INDEX_NAME"]), group)
    newest = ok(andrew.send("Two", group=group))
    flush(aws, stream)
    monkeypatch.setattr(GroupRowStore, "rows_in_index", lambda store, group_uuid: stale_rows)

    assert ok(bayko.mark_read(group)) == {"message_group_uuid": group, "last_read_at": newest["created_at"],
                                          "unread_count": 0}


def test_a_message_moving_the_row_while_a_read_is_under_way_is_read_too(aws, stream, monkeypatch):
    """Marking read without a ``read_at`` reads up to the newest message the row shows when the write lands."""
    andrew, bayko = Caller(aws, ANDREW), Caller(aws, BAYKO)
    group = andrew.start_conversation("bayko", "One")
    flush(aws, stream)
    newest = ok(andrew.send("Two, arriving while bayko reads", group=group))
    mark = ReadStateStore.mark_read
    moved: list[int] = []

    def stream_moves_first(store: ReadStateStore, *args: Any, **kwargs: Any) -> Any:
        if not moved:
            moved.append(len(flush(aws, stream)))
        return mark(store, *args, **kwargs)

    monkeypatch.setattr(ReadStateStore, "mark_read", stream_moves_first)

    assert ok(bayko.mark_read(group)) == {"message_group_uuid": group, "last_read_at": newest["created_at"],
                                          "unread_count": 0}
    assert moved == [1]


def test_a_mark_read_whose_response_is_lost_is_answered_once_with_the_marker_set(aws, stream, monkeypatch):
    andrew, bayko = Caller(aws, ANDREW), Caller(aws, BAYKO)
    group = andrew.start_conversation("bayko", "One")
    flush(aws, stream)
    faults = lose_responses(monkeypatch, operation_is("UpdateItem"))

    state = ok(bayko.mark_read(group))

    assert faults.lost == ["UpdateItem"] and len(faults.sent_of("UpdateItem")) == 2
    assert (state["unread_count"], state["last_read_at"]) == (0, conversation_of(andrew, group)["created_at"])


@pytest.mark.parametrize("earlier_first", [True, False])
def test_two_devices_marking_read_at_once_end_at_the_later_marker(aws, stream, monkeypatch, metrics_disabled,  # noqa: F811
                                                                  earlier_first):
    """Both requests read the row before either writes (a barrier), then their writes run one at a time, as
    DynamoDB serializes writes to an item (moto alone is not atomic across threads: see
    tests/support/concurrency.py)."""
    andrew = Caller(aws, ANDREW)
    group = andrew.start_conversation("bayko", "One")
    second = ok(andrew.send("Two", group=group))
    third = ok(andrew.send("Three", group=group))
    flush(aws, stream)
    serialize_moto(monkeypatch)
    barrier = threading.Barrier(2, timeout=20)
    waited = threading.local()
    mark = ReadStateStore.mark_read

    def after_both_read(store: ReadStateStore, *args: Any, **kwargs: Any) -> Any:
        if not getattr(waited, "done", False):
            waited.done = True
            barrier.wait()
        return mark(store, *args, **kwargs)

    monkeypatch.setattr(ReadStateStore, "mark_read", after_both_read)
    devices = [separate_container(aws, MARK_READ, f"device{index}") for index in range(2)]
    read_ats = [second["created_at"], None] if earlier_first else [None, second["created_at"]]
    events = [as_user(mark_read_event(BAYKO, group, {"read_at": read_at} if read_at else None), "bayko")
              for read_at in read_ats]

    with ThreadPoolExecutor(max_workers=2) as pool:
        responses = list(pool.map(lambda pair: pair[0](pair[1]), zip(devices, events)))

    assert [response["statusCode"] for response in responses] == [200, 200]
    assert read_state(aws, group, BAYKO) == (0, third["created_at"])
    # Each write that went through gave bayko's row a higher version than the one before, whichever came first.
    versions = [version for pk, version in row_writes(stream.new_records()) if pk == f"GRP#{BAYKO.uuid}"]
    assert versions and versions == sorted(set(versions)), versions
    assert {body(response)["last_read_at"] for response in responses} <= {second["created_at"], third["created_at"]}
    assert json.loads(responses[read_ats.index(None)]["body"])["last_read_at"] == third["created_at"]
