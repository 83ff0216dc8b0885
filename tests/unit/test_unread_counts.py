"""Unread counts and read markers on the group rows, kept by the stream function from the table's real stream
records (moto's DynamoDB Streams): in order at no extra request, and exact under duplicated, redelivered and
out-of-order records, messages that land late, a reader racing a move, and tutorial-era rows."""
from __future__ import annotations

import random
import uuid
from typing import Any

import pytest

from cruddur_messaging.domain.mark_read import MarkReadRequest, mark_read
from cruddur_messaging.models import ReadMarkerChange, User
from tests.support.events import SEED_GROUP_UUID
from tests.support.people import ANDREW, BAYKO, Person
from tests.support.streams import BASE, assert_group_at, at, deliver, group_rows, read_state
from tests.support.table import messages_in, snapshot
from tests.support.tutorial import put_group_row, put_message, seed_conversation, timestamp


def strip_versions(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The items without what every write of a row changes (its version and the late record's version)."""
    return [{name: value for name, value in item.items() if name not in ("version", "late_version")}
            for item in items]



def conversation(aws: Any, sender: Person, recipient: Person, first_at: str, text: str = "first") -> str:
    """A conversation started the way create-message starts one (its container's store): both rows and the first
    message at once."""
    group = str(uuid.uuid4())
    starting = aws.container("CreateMessageFunction")
    starting.message_store.create_group(group, sender.user, recipient.user, text, str(uuid.uuid4()), first_at)
    return group


def mark_read_as(aws: Any, reader: User, group: str, request: MarkReadRequest) -> ReadMarkerChange:
    """Marks read as the mark-read function does, over its container's stores."""
    reading = aws.container("MarkReadFunction")
    return mark_read(reading.group_row_store, reading.read_state_store, reader, group, request)


def test_messages_in_order_are_counted_on_the_moves_at_no_extra_request(aws, ddb, stream, calls):
    group = conversation(aws, ANDREW, BAYKO, at(BASE, 0))
    assert deliver(aws, stream.new_message_inserts()) == {"batchItemFailures": []}
    # The transaction wrote both rows exact: their first message costs the index query, and nothing is written.
    assert calls.calls == ["Query"]
    assert (read_state(aws, group, ANDREW), read_state(aws, group, BAYKO)) == ((0, at(BASE, 0)), (1, None))
    calls.calls.clear()

    for second in (1, 2):
        put_message(ddb, group, at(BASE, second), f"message {second}", ANDREW)
        assert deliver(aws, stream.new_message_inserts()) == {"batchItemFailures": []}
    put_message(ddb, group, at(BASE, 3), "three", ANDREW)
    put_message(ddb, group, at(BASE, 4), "four", ANDREW)
    assert deliver(aws, stream.new_message_inserts()) == {"batchItemFailures": []}

    assert read_state(aws, group, BAYKO) == (5, None)
    assert read_state(aws, group, ANDREW) == (0, at(BASE, 4))  # sending marks read
    # Per batch, exactly what moving the rows costs without counts: one index query, one move per member.
    assert calls.calls == ["Query", "TransactWriteItems", "TransactWriteItems"] * 3


def test_duplicated_and_redelivered_records_change_no_count(aws, ddb, stream, calls):
    group = conversation(aws, ANDREW, BAYKO, at(BASE, 0))
    put_message(ddb, group, at(BASE, 1), "one", ANDREW)
    put_message(ddb, group, at(BASE, 2), "two", BAYKO)
    put_message(ddb, group, at(BASE, 3), "three", BAYKO)
    records = stream.new_message_inserts()

    assert deliver(aws, records + records) == {"batchItemFailures": []}
    after = snapshot(aws.table)
    assert read_state(aws, group, ANDREW) == (2, at(BASE, 1))
    assert read_state(aws, group, BAYKO) == (0, at(BASE, 3))
    calls.calls.clear()
    versions = [row["version"] for row in group_rows(aws.table, group)]
    assert len(records) == 4  # the first message, then three
    for replay in (records, records[2:], records[:1], records[-1:], list(reversed(records))):
        assert deliver(aws, replay) == {"batchItemFailures": []}
        # A replay reaching before the rows' time rewrites them with a new version; the rows' own message alone
        # (records[-1:]) writes nothing.
        now = [row["version"] for row in group_rows(aws.table, group)]
        assert all(new > old for new, old in zip(now, versions)) if replay != records[-1:] else now == versions
        versions = now

    assert strip_versions(snapshot(aws.table)) == strip_versions(after)
    # The replays were taken for what they may be (late records): counts taken again, found right, versions raised.
    assert set(calls.calls) == {"Query", "UpdateItem"}


def test_a_record_older_than_the_row_is_counted_once_whether_duplicate_or_late(aws, ddb, stream):
    """Two senders take ``created_at`` before their writes land: bayko's earlier message streams after andrew's
    later one, and cannot be told from a duplicate by its record."""
    group = conversation(aws, ANDREW, BAYKO, at(BASE, 0))
    deliver(aws, stream.new_message_inserts())
    put_message(ddb, group, at(BASE, 9), "later, written first", ANDREW)
    put_message(ddb, group, at(BASE, 5), "earlier, written second", BAYKO)
    later, earlier = stream.new_message_inserts()

    deliver(aws, [later])
    assert read_state(aws, group, BAYKO) == (2, None)
    assert read_state(aws, group, ANDREW) == (0, at(BASE, 9))
    deliver(aws, [earlier])
    deliver(aws, [later, earlier])

    # Bayko's own message at 5 marks read what came before it; andrew's at 9 is still unread.
    assert read_state(aws, group, BAYKO) == (1, at(BASE, 5))
    # Andrew's own message at 9 marks read everything before it, bayko's at 5 included.
    assert read_state(aws, group, ANDREW) == (0, at(BASE, 9))
    assert_group_at(aws, group, (ANDREW, BAYKO), at(BASE, 9), "later, written first")


def test_a_message_landing_after_a_newer_one_was_counted_is_counted_when_its_record_comes(aws, ddb, stream):
    group = conversation(aws, ANDREW, BAYKO, at(BASE, 0))
    deliver(aws, stream.new_message_inserts())
    put_message(ddb, group, at(BASE, 9), "newer", BAYKO)
    deliver(aws, stream.new_message_inserts())
    assert read_state(aws, group, ANDREW) == (1, at(BASE, 0))

    put_message(ddb, group, at(BASE, 4), "older, landed late", BAYKO)
    deliver(aws, stream.new_message_inserts())

    assert read_state(aws, group, ANDREW) == (2, at(BASE, 0))
    assert_group_at(aws, group, (ANDREW, BAYKO), at(BASE, 9), "newer")


def test_an_own_message_arriving_late_marks_read_only_what_came_before_it(aws, ddb, stream):
    group = conversation(aws, BAYKO, ANDREW, at(BASE, 0))
    deliver(aws, stream.new_message_inserts())
    put_message(ddb, group, at(BASE, 7), "bayko, after andrew wrote", BAYKO)
    deliver(aws, stream.new_message_inserts())
    assert read_state(aws, group, ANDREW) == (2, None)

    put_message(ddb, group, at(BASE, 5), "andrew's reply, landed late", ANDREW)
    deliver(aws, stream.new_message_inserts())

    assert read_state(aws, group, ANDREW) == (1, at(BASE, 5))
    assert read_state(aws, group, BAYKO) == (0, at(BASE, 7))


@pytest.mark.parametrize(("rows_at_line", "unread_from_history"), [
    (5, 0),  # where the tutorial's stream function left the rows: at the last message
    (0, 3),  # where the tutorial's seed script put them: at the first line (bayko wrote three after it)
], ids=["rows-at-the-last-message", "rows-at-the-first-line"])
def test_a_tutorial_era_row_has_read_up_to_its_own_time_and_counts_exactly_from_there(aws, ddb, stream, calls,
                                                                                    rows_at_line,
                                                                                    unread_from_history):
    written = seed_conversation(ddb, SEED_GROUP_UUID, ANDREW, BAYKO, BASE)
    rows_at = written[rows_at_line]["created_at"]
    for owner, other in ((ANDREW, BAYKO), (BAYKO, ANDREW)):
        ddb.delete_item(TableName=aws.table.name, Key={"pk": {"S": f"GRP#{owner.uuid}"}, "sk": {"S": timestamp(BASE)}})
        put_group_row(ddb, SEED_GROUP_UUID, owner, other, rows_at, written[rows_at_line]["message"])
    stream.new_records()  # long gone from the stream (records live 24 hours)
    assert read_state(aws, SEED_GROUP_UUID, ANDREW) == (None, None)
    calls.calls.clear()

    put_message(ddb, SEED_GROUP_UUID, at(BASE, 3600), "back after years", BAYKO)
    deliver(aws, stream.new_message_inserts())

    assert read_state(aws, SEED_GROUP_UUID, ANDREW) == (unread_from_history + 1, rows_at)
    assert read_state(aws, SEED_GROUP_UUID, BAYKO) == (0, at(BASE, 3600))
    # Counted exactly once per row (andrew's: bayko's own message leaves nothing to count on his).
    assert calls.calls == ["Query", "Query", "TransactWriteItems", "TransactWriteItems"]
    put_message(ddb, SEED_GROUP_UUID, at(BASE, 1800), "a late one from the new era", BAYKO)
    deliver(aws, stream.new_message_inserts())
    assert read_state(aws, SEED_GROUP_UUID, ANDREW) == (unread_from_history + 2, rows_at)


def test_a_reader_marking_read_between_the_moves_read_and_its_write_keeps_the_marker(aws, ddb, stream, hooks):
    group = conversation(aws, ANDREW, BAYKO, at(BASE, 0))
    deliver(aws, stream.new_message_inserts())
    assert read_state(aws, group, BAYKO) == (1, None)
    put_message(ddb, group, at(BASE, 2), "sent while bayko reads", ANDREW)
    records = stream.new_message_inserts()
    marked: list[Any] = []

    def bayko_reads_first(**_: Any) -> None:
        if not marked:
            marked.append(mark_read_as(aws, BAYKO.user, group, MarkReadRequest()))

    hooks.on("before-call.dynamodb.TransactWriteItems", bayko_reads_first)
    assert deliver(aws, records) == {"batchItemFailures": []}

    assert marked[0].state.last_read_at == at(BASE, 0) and marked[0].moved
    # The move read bayko's row before the marker moved; its condition on the read state sent it round again.
    assert read_state(aws, group, BAYKO) == (1, at(BASE, 0))
    assert_group_at(aws, group, (ANDREW, BAYKO), at(BASE, 2), "sent while bayko reads")


@pytest.mark.parametrize("seed", range(4))
def test_counts_are_exact_under_any_order_repetition_and_reading(aws, ddb, stream, seed):
    """Messages whose ``created_at`` order is not their stream order, delivered in batches of any size, earlier
    batches delivered again, readers marking read (the newest, or an older message) in between; after every step
    no count is negative, and at the end every row holds exactly what its definition says."""
    rng = random.Random(seed)
    group = conversation(aws, ANDREW, BAYKO, at(BASE, 0))
    seconds = rng.sample(range(1, 60), 14)  # created_at order ...
    rng.shuffle(seconds)  # ... is not the order the writes land in
    written: list[dict[str, Any]] = []
    delivered: list[dict[str, Any]] = []
    pending = stream.new_message_inserts()
    markers: dict[str, list[str]] = {ANDREW.uuid: [], BAYKO.uuid: []}

    def step() -> None:
        nonlocal pending
        size = rng.randint(1, 4)
        batch, pending = pending[:size], pending[size:]
        replay = rng.sample(delivered, min(len(delivered), rng.randint(0, 3)))
        assert deliver(aws, replay + batch) == {"batchItemFailures": []}
        delivered.extend(batch)
        if rng.random() < 0.3 and written:
            reader = rng.choice((ANDREW, BAYKO))
            read_at = rng.choice([None, rng.choice(written)["sk"]])
            change = mark_read_as(aws, reader.user, group, MarkReadRequest(read_at=read_at))
            if change.moved:
                markers[reader.uuid].append(change.state.last_read_at)
        assert all(int(row.get("unread_count", 0)) >= 0 for row in group_rows(aws.table, group))

    for second in seconds:
        sender = rng.choice((ANDREW, BAYKO))
        put_message(ddb, group, at(BASE, second), f"at {second}", sender)
        pending += stream.new_message_inserts()
        written = messages_in(aws.table, group)
        if rng.random() < 0.5:
            step()
    while pending:
        step()
    assert deliver(aws, delivered) == {"batchItemFailures": []}  # and everything once more

    messages = messages_in(aws.table, group)
    newest = max(messages, key=lambda item: item["sk"])
    assert_group_at(aws, group, (ANDREW, BAYKO), newest["sk"], newest["message"])
    for owner in (ANDREW, BAYKO):
        own = [item["sk"] for item in messages if item["user_uuid"] == owner.uuid]
        marker = max(own + markers[owner.uuid], default=None)
        unread = [item for item in messages
                  if item["user_uuid"] != owner.uuid and (marker is None or item["sk"] > marker)]
        assert read_state(aws, group, owner) == (len(unread), marker), owner.handle
