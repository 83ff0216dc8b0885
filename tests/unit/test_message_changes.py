"""Edits and deletes through the stream function (``domain.move_group_rows``, ``domain.group_row_timeline``: "a
delete moves a row back"): both members' previews follow the edit of the newest message, fall back when it is
deleted, an unread delete comes off the count, and mark-read's retry finds a row moved back. Then the same under
what the stream really does: sends, edits, deletes and mark-reads interleaved, records in any order and batch,
delivered again, some invocations failing part-way; once everything is delivered every row equals the definition
computed from the table, no delivered delete's text ever shows again, versions grow and a sync finds every change;
and a delete racing another invocation or a reader.

Edits and deletes are written as the stored form has them (design21.md): an ``UpdateItem`` of the ``MSG#`` item
setting ``message`` and ``edited_at``, or removing ``message`` and ``edited_at`` and setting ``deleted_at``.
"""
from __future__ import annotations

import random
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from cruddur_messaging.clock import format_timestamp, parse_timestamp
from cruddur_messaging.data.group_rows import GroupRowStore
from cruddur_messaging.domain import group_row_timeline
from cruddur_messaging.domain.group_row_timeline import NEWEST_AT
from cruddur_messaging.domain.mark_read import MarkReadRequest, mark_read
from cruddur_messaging.domain.stream_records import MessageChange
from cruddur_messaging.domain.unread_counts import GroupBatch
from tests.support.concurrency import metrics_disabled  # noqa: F401 - the fixture
from tests.support.people import ANDREW, BAYKO, Person
from tests.support.row_history import (
    MEMBERS,
    RowHistory,
    WriteClock,
    assert_a_sync_finds_every_applied_message,
    random_batch,
    rows_by_owner,
)
from tests.support.streams import (
    BASE,
    Hooks,
    deliver,
    redelivery,
    sequence_number,
    throttling_response,
)
from tests.support.table import messages_in
from tests.support.tutorial import put_message
from tests.unit.test_message_stream_races import SerializedRace, cancelled_transactions



def edit_message(ddb: Any, table_name: str, group: str, sk: str, text: str, now: datetime) -> None:
    ddb.update_item(TableName=table_name, Key={"pk": {"S": f"MSG#{group}"}, "sk": {"S": sk}},
                    UpdateExpression="SET message = :text, edited_at = :now",
                    ConditionExpression="attribute_exists(pk) AND attribute_not_exists(deleted_at)",
                    ExpressionAttributeValues={":text": {"S": text}, ":now": {"S": format_timestamp(now)}})


def delete_message(ddb: Any, table_name: str, group: str, sk: str, now: datetime) -> None:
    ddb.update_item(TableName=table_name, Key={"pk": {"S": f"MSG#{group}"}, "sk": {"S": sk}},
                    UpdateExpression="REMOVE message, edited_at SET deleted_at = :now",
                    ConditionExpression="attribute_exists(pk) AND attribute_not_exists(deleted_at)",
                    ExpressionAttributeValues={":now": {"S": format_timestamp(now)}})


def accepted(stream: Any) -> list[dict[str, Any]]:
    """The new records the stream function's mapping lets through (message inserts, edits and deletes)."""
    return [record for record in stream.new_records() if stream.mapping.accepts(record)]


def start(aws: Any, stream: Any, group: str, at: datetime, text: str = "first") -> None:
    """A conversation andrewbrown starts, as the send's transaction writes it; its record delivered."""
    aws.container("CreateMessageFunction").message_store.create_group(
        group, ANDREW.user, BAYKO.user, text, str(uuid.uuid4()), format_timestamp(at))
    assert deliver(aws, accepted(stream)) == {"batchItemFailures": []}


def with_a_regretted_reply(aws: Any, ddb: Any, stream: Any) -> tuple[str, str, str, dict[str, Any]]:
    """A conversation andrewbrown started at ``BASE``, and his second message ("regretted") a second later, both
    delivered: the group, the first message's time, the second's and the second's record."""
    group = str(uuid.uuid4())
    start(aws, stream, group, BASE)
    second = format_timestamp(BASE + timedelta(seconds=1))
    put_message(ddb, group, second, "regretted", ANDREW)
    [insert] = accepted(stream)
    assert deliver(aws, [insert]) == {"batchItemFailures": []}
    return group, format_timestamp(BASE), second, insert


def expected_rows(aws: Any, group: str, rows: dict[str, dict[str, Any]]) -> dict[str, tuple[str, str, int]]:
    """The definition, from the table: each owner's row at the newest message not deleted (its text), or with none
    left at the newest message with an empty preview; its unread count the other member's messages not deleted after
    its marker, up to its sk."""
    messages = sorted(messages_in(aws.table, group), key=lambda item: item["sk"])
    remaining = [item for item in messages if "deleted_at" not in item]
    sk, text = (remaining[-1]["sk"], remaining[-1]["message"]) if remaining else (messages[-1]["sk"], "")
    expected = {}
    for owner, row in rows.items():
        marker = row.get("last_read_at") or ""
        unread = sum(1 for item in remaining if item["user_uuid"] != owner and marker < item["sk"] <= sk)
        expected[owner] = (sk, text, unread)
    return expected


def actual_rows(rows: dict[str, dict[str, Any]]) -> dict[str, tuple[str, str, int]]:
    return {owner: (row["sk"], row["message"], int(row["unread_count"])) for owner, row in rows.items()}


def test_an_edit_of_the_newest_message_shows_on_both_rows_for_a_query_and_an_update_each(aws, ddb, stream, calls):
    group = str(uuid.uuid4())
    start(aws, stream, group, BASE)
    second = format_timestamp(BASE + timedelta(seconds=1))
    put_message(ddb, group, second, "typo", ANDREW)
    assert deliver(aws, accepted(stream)) == {"batchItemFailures": []}
    before = rows_by_owner(aws, group)
    edit_message(ddb, aws.table.name, group, second, "fixed", BASE + timedelta(seconds=5))
    [edit] = accepted(stream)
    calls.calls.clear()

    assert deliver(aws, [edit]) == {"batchItemFailures": []}

    after = rows_by_owner(aws, group)
    assert actual_rows(after) == {ANDREW.uuid: (second, "fixed", 0), BAYKO.uuid: (second, "fixed", 2)}
    assert all(after[owner]["version"] > before[owner]["version"] for owner in after)
    # The message is days old (BASE) by the writes' clock: the edit's write records it, so a sync reports it.
    assert all(row["late_from"] <= second and row["late_version"] == row["version"] for row in after.values())
    # The rows through the index, then per member: the newest remaining message and one UpdateItem (no recount:
    # an edit changes no count).
    assert calls.calls == ["Query", "Query", "UpdateItem", "Query", "UpdateItem"]

    calls.calls.clear()
    assert deliver(aws, [edit]) == {"batchItemFailures": []}  # a replay: the same rows, a new version
    assert actual_rows(rows_by_owner(aws, group)) == actual_rows(after)


def test_deleting_the_newest_message_falls_back_and_comes_off_the_unread_count(aws, ddb, stream, calls):
    group, first, second, insert = with_a_regretted_reply(aws, ddb, stream)
    assert actual_rows(rows_by_owner(aws, group))[BAYKO.uuid] == (second, "regretted", 2)
    delete_message(ddb, aws.table.name, group, second, BASE + timedelta(seconds=5))
    [delete] = accepted(stream)
    calls.calls.clear()

    assert deliver(aws, [delete]) == {"batchItemFailures": []}

    rows = rows_by_owner(aws, group)
    assert actual_rows(rows) == {ANDREW.uuid: (first, "first", 0), BAYKO.uuid: (first, "first", 1)}
    assert all(row[NEWEST_AT] == second for row in rows.values())
    # The index; per member the newest remaining message and the move back (one transaction); bayko's count taken
    # again (andrewbrown's marker, at his deleted message, is past the row: nothing to count, no request).
    assert (calls.count("Query"), calls.count("TransactWriteItems"), len(calls.calls)) == (4, 2, 6)

    # The insert delivered again, after the delete and before it: the deleted text never comes back.
    assert deliver(aws, [insert]) == {"batchItemFailures": []}
    assert deliver(aws, [delete, insert]) == {"batchItemFailures": []}
    assert actual_rows(rows_by_owner(aws, group)) == actual_rows(rows)

    delete_message(ddb, aws.table.name, group, first, BASE + timedelta(seconds=6))
    assert deliver(aws, accepted(stream)) == {"batchItemFailures": []}
    rows = rows_by_owner(aws, group)
    # None left: the newest (deleted) message's time, an empty preview, nothing unread.
    assert actual_rows(rows) == {ANDREW.uuid: (second, "", 0), BAYKO.uuid: (second, "", 0)}
    assert all(NEWEST_AT not in row for row in rows.values())


def test_deletes_and_edits_before_their_inserts_are_delivered_never_show_the_old_text(aws, ddb, stream):
    group = str(uuid.uuid4())
    start(aws, stream, group, BASE)
    times = [format_timestamp(BASE + timedelta(seconds=number)) for number in (1, 2)]
    put_message(ddb, group, times[0], "to be edited", BAYKO)
    put_message(ddb, group, times[1], "to be deleted", BAYKO)
    edit_message(ddb, aws.table.name, group, times[0], "edited", BASE + timedelta(seconds=5))
    delete_message(ddb, aws.table.name, group, times[1], BASE + timedelta(seconds=6))
    inserts, changes = [], []
    for record in accepted(stream):
        (inserts if record["eventName"] == "INSERT" else changes).append(record)

    assert deliver(aws, changes) == {"batchItemFailures": []}
    assert deliver(aws, inserts) == {"batchItemFailures": []}

    assert actual_rows(rows_by_owner(aws, group)) == {ANDREW.uuid: (times[0], "edited", 1),
                                                      BAYKO.uuid: (times[0], "edited", 0)}


class StaleIndexRows(GroupRowStore):
    """The group index answering with the rows as they were before (it lags behind the table)."""

    def __init__(self, store: GroupRowStore, stale: list[dict[str, Any]]) -> None:
        self.__dict__.update(store.__dict__)
        self._stale = stale

    def rows_in_index(self, message_group_uuid: str) -> list[dict[str, Any]]:
        return self._stale


def test_mark_read_on_a_row_a_delete_moved_back_is_retried_on_the_row_where_it_is(aws, ddb, stream):
    group, first, second, _ = with_a_regretted_reply(aws, ddb, stream)
    stale = [row for row in rows_by_owner(aws, group).values()]
    delete_message(ddb, aws.table.name, group, second, BASE + timedelta(seconds=5))
    assert deliver(aws, accepted(stream)) == {"batchItemFailures": []}
    reading = aws.container("MarkReadFunction")

    change = mark_read(StaleIndexRows(reading.group_row_store, stale), reading.read_state_store, BAYKO.user, group,
                       MarkReadRequest())

    assert change.moved and (change.state.last_read_at, change.state.unread_count) == (first, 0)
    assert actual_rows(rows_by_owner(aws, group))[BAYKO.uuid] == (first, "first", 0)


@pytest.mark.parametrize("seed", range(8))
def test_interleaved_sends_edits_deletes_and_reads_settle_on_the_definition(aws, ddb, stream, hooks, monkeypatch,
                                                                           seed):
    rng = random.Random(seed)
    clock = WriteClock(rng, BASE, skew=timedelta(seconds=rng.choice([0, 2])))
    monkeypatch.setattr(group_row_timeline, "write_time", clock)
    history = RowHistory()
    group = str(uuid.uuid4())
    first_at = format_timestamp(clock.now)
    aws.container("CreateMessageFunction").message_store.create_group(
        group, ANDREW.user, BAYKO.user, "m0 v0", str(uuid.uuid4()), first_at)
    records = stream.new_records()
    for owner, version in history.take(records).items():
        history.applied.append((owner, parse_timestamp(first_at), version))
    pending = [record for record in records if stream.mapping.accepts(record)]
    delivered: list[dict[str, Any]] = []
    live: dict[str, tuple[Person, int, int]] = {first_at: (ANDREW, 0, 0)}
    """Messages not deleted: sender, number, edits so far."""
    gone_texts: list[str] = []
    """Texts whose delete or later edit has been delivered: no row may show them again."""
    written_texts: dict[str, list[str]] = {}
    """Per record (by event id) of an edit or delete: the texts it ends."""

    def deliver_some() -> None:
        nonlocal pending
        batch, pending = random_batch(rng, pending, delivered, most_replayed=2)
        if rng.random() < 0.5:
            batch.sort(key=lambda record: int(sequence_number(record)))  # in stream order, as a shard delivers
        before = rows_by_owner(aws, group)
        fault = Hooks(aws.container("MessageStreamFunction").dynamodb.meta.client.meta.events)
        if rng.random() < 0.25:
            fail_at = rng.randint(1, 6)
            seen = [0]

            def throttle_one(**_: Any) -> Any:
                seen[0] += 1
                return throttling_response() if seen[0] == fail_at else None

            fault.on("before-call.dynamodb", throttle_one)
        try:
            response = deliver(aws, batch)
        finally:
            fault.clear()
        again = redelivery(sorted(batch, key=lambda record: int(sequence_number(record))), response)
        pending += [record for record in again if record not in pending]
        done = [record for record in batch if record not in again]
        delivered.extend(record for record in done if record not in delivered)
        for record in done:
            gone_texts.extend(written_texts.get(record["eventID"], []))
        written = history.take(stream.new_records())
        for owner, version in written.items():
            own_sk = parse_timestamp(before[owner]["sk"])
            for record in batch:
                at = parse_timestamp(record["dynamodb"]["Keys"]["sk"]["S"])
                if record["eventName"] == "MODIFY" or at != own_sk:
                    history.applied.append((owner, at, version))

    def record_changes() -> None:
        for record in stream.new_records():
            if not stream.mapping.accepts(record):
                continue
            if record["eventName"] == "MODIFY":
                old = record["dynamodb"]["OldImage"].get("message", {}).get("S")
                written_texts[record["eventID"]] = [old] if old is not None else []
            pending.append(record)

    def read_some() -> None:
        reader = rng.choice(MEMBERS)
        read_at = rng.choice([None, *live]) if rng.random() < 0.5 else None
        reading = aws.container("MarkReadFunction")
        mark_read(reading.group_row_store, reading.read_state_store, reader.user, group,
                  MarkReadRequest(read_at=read_at))
        written = history.take(stream.new_records())
        assert set(written) <= {reader.uuid}

    for number in range(1, 15):
        clock.advance(timedelta(seconds=rng.uniform(0, 20)))
        action = rng.random()
        if action < 0.45 or not live:
            delay = timedelta(seconds=rng.uniform(0, 5)) if rng.random() < 0.8 else timedelta(minutes=2)
            created_at = format_timestamp(clock.now - delay + timedelta(microseconds=number))
            sender = rng.choice(MEMBERS)
            put_message(ddb, group, created_at, f"m{number} v0", sender)
            live[created_at] = (sender, number, 0)
        elif action < 0.7:
            sk = rng.choice(sorted(live))
            sender, message_number, edits = live[sk]
            edit_message(ddb, aws.table.name, group, sk, f"m{message_number} v{edits + 1}", clock.now)
            live[sk] = (sender, message_number, edits + 1)
        else:
            sk = rng.choice(sorted(live))
            delete_message(ddb, aws.table.name, group, sk, clock.now)
            del live[sk]
        record_changes()
        for _ in range(rng.randint(0, 2)):
            clock.advance(timedelta(seconds=rng.uniform(0, 30)))
            if pending and rng.random() < 0.7:
                deliver_some()
            elif rng.random() < 0.5:
                read_some()
            rows = rows_by_owner(aws, group)
            assert not {row["message"] for row in rows.values()} & set(gone_texts), (rows, gone_texts)
            assert_a_sync_finds_every_applied_message(rows, history, clock.now)
    while pending:
        clock.advance(timedelta(seconds=rng.uniform(0, 90)))
        deliver_some()
        rows = rows_by_owner(aws, group)
        assert not {row["message"] for row in rows.values()} & set(gone_texts), (rows, gone_texts)
        assert_a_sync_finds_every_applied_message(rows, history, clock.now)
    clock.advance(timedelta(minutes=10))
    assert deliver(aws, sorted(delivered, key=lambda record: int(sequence_number(record)))) \
        == {"batchItemFailures": []}  # everything once more, in stream order, long after
    history.take(stream.new_records())

    rows = rows_by_owner(aws, group)
    assert actual_rows(rows) == expected_rows(aws, group, rows)
    assert_a_sync_finds_every_applied_message(rows, history, clock.now)
    for owner, row in rows.items():
        assert int(row["version"]) == history.versions[owner][-1]
        own = [item["sk"] for item in messages_in(aws.table, group) if item["user_uuid"] == owner]
        assert (row.get("last_read_at") or "") >= max(own, default=""), (owner, row, own)
        assert NEWEST_AT not in row or row[NEWEST_AT] > row["sk"]


def test_a_mark_read_racing_a_move_back_is_kept_and_the_move_retried_on_it(aws, ddb, stream, hooks):
    group, first, second, _ = with_a_regretted_reply(aws, ddb, stream)
    delete_message(ddb, aws.table.name, group, second, BASE + timedelta(seconds=5))
    reading = aws.container("MarkReadFunction")
    raced: list[Any] = []

    def bayko_reads_first(params: dict[str, Any], **_: Any) -> None:
        # Between the stream function's read of bayko's row and its move back, bayko marks the row read.
        if not raced and f"GRP#{BAYKO.uuid}" in params["body"].decode():
            raced.append(mark_read(reading.group_row_store, reading.read_state_store, BAYKO.user, group,
                                   MarkReadRequest()))

    hooks.on("before-call.dynamodb.TransactWriteItems", bayko_reads_first)
    bayko_moves: list[str] = []
    hooks.on("before-call.dynamodb.TransactWriteItems", lambda params, **_: bayko_moves.append("move")
             if f"GRP#{BAYKO.uuid}" in params["body"].decode() else None)

    assert deliver(aws, accepted(stream)) == {"batchItemFailures": []}

    [change] = raced
    assert change.moved and change.state.last_read_at == second
    rows = rows_by_owner(aws, group)
    # The move back was refused once (the row changed), then made on the row as bayko left it: his marker kept.
    assert actual_rows(rows)[BAYKO.uuid] == (first, "first", 0)
    assert rows[BAYKO.uuid]["last_read_at"] == second
    assert len(bayko_moves) == 2


@pytest.mark.parametrize("other", ["insert-newer", "edit-older", "same-delete"])
def test_a_delete_racing_another_invocation_ends_on_the_definition(aws, ddb, stream, hooks,
                                                                  metrics_disabled,  # noqa: F811
                                                                  other):
    group, first, second, _ = with_a_regretted_reply(aws, ddb, stream)
    third = format_timestamp(BASE + timedelta(seconds=2))
    delete_message(ddb, aws.table.name, group, second, BASE + timedelta(seconds=5))
    [delete] = accepted(stream)
    if other == "insert-newer":
        put_message(ddb, group, third, "third", BAYKO)
    elif other == "edit-older":
        edit_message(ddb, aws.table.name, group, first, "first!", BASE + timedelta(seconds=6))
    batches = [[delete], accepted(stream) or [delete]]
    SerializedRace(hooks)  # both read the rows before either writes
    cancelled = cancelled_transactions(hooks)

    with ThreadPoolExecutor(max_workers=2) as pool:
        responses = list(pool.map(lambda records: deliver(aws, records), batches))

    assert responses == [{"batchItemFailures": []}] * 2
    assert cancelled, "the invocations did not race"
    rows = rows_by_owner(aws, group)
    assert actual_rows(rows) == expected_rows(aws, group, rows)
    assert actual_rows(rows)[ANDREW.uuid][:2] == {"insert-newer": (third, "third"), "edit-older": (first, "first!"),
                                                  "same-delete": (first, "first")}[other]


def test_a_batch_keeps_each_changed_message_once_and_a_delete_wins_over_an_edit() -> None:
    group, at = str(uuid.uuid4()), BASE + timedelta(seconds=1)
    edit = MessageChange(message_group_uuid=group, at=at, deleted=False, sequence_number="7", sender_uuid=ANDREW.uuid)
    delete = replace(edit, deleted=True, sequence_number="8")
    for records in ([edit, delete, edit], [delete, edit]):
        batch = GroupBatch.of(records)
        assert (batch.newest, batch.senders_by_time, batch.times) == (None, {}, {at})
        assert batch.changes == {at: delete} and batch.sequence_number == "8"


def test_a_message_written_after_a_move_back_and_before_the_deleted_one_moves_the_row_forward_to_it(aws, ddb,
                                                                                                     stream):
    group = str(uuid.uuid4())
    start(aws, stream, group, BASE)
    late, deleted = (format_timestamp(BASE + timedelta(seconds=number)) for number in (1, 2))
    put_message(ddb, group, deleted, "regretted", ANDREW)
    assert deliver(aws, accepted(stream)) == {"batchItemFailures": []}
    delete_message(ddb, aws.table.name, group, deleted, BASE + timedelta(seconds=5))
    assert deliver(aws, accepted(stream)) == {"batchItemFailures": []}
    assert {row[NEWEST_AT] for row in rows_by_owner(aws, group).values()} == {deleted}
    # bayko's message, its created_at taken before the deleted one's, lands only now.
    put_message(ddb, group, late, "slow network", BAYKO)
    [insert] = accepted(stream)

    assert deliver(aws, [insert]) == {"batchItemFailures": []}

    rows = rows_by_owner(aws, group)
    # andrewbrown's marker is at his deleted message, after bayko's late one: read, as any message landing behind a
    # marker; bayko's send marks his conversation read up to it.
    assert actual_rows(rows) == {ANDREW.uuid: (late, "slow network", 0), BAYKO.uuid: (late, "slow network", 0)}
    assert rows[BAYKO.uuid]["last_read_at"] == late
    assert actual_rows(rows) == expected_rows(aws, group, rows)
    assert {row[NEWEST_AT] for row in rows.values()} == {deleted}  # still ahead of the row: its replay stays out
