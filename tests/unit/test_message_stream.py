"""Pattern E: the stream function moves both members' group rows to each group's newest message.

Items are written into moto, the table's real stream records are read back (``dynamodbstreams``) and handed to
the function as Lambda would; every test ends by reading the group rows from the table itself.
"""
from __future__ import annotations

from typing import Any

import pytest

from devtools.environment import local_function_specs
from devtools.functions import LambdaContext, handler_of
from tests.support.events import SEED_GROUP_UUID, load_event
from tests.support.people import ANDREW, BAYKO, LONDO
from tests.support.streams import (
    BASE,
    LONDO_GROUP_UUID,
    STREAM_FUNCTION,
    assert_group_at,
    at,
    batch,
    deliver,
    failed_sequence_numbers,
    group_rows,
    read_state,
    redelivery,
    sequence_number,
    start_group,
    throttling_response,
)
from tests.support.table import snapshot
from tests.support.tutorial import put_message, seed_conversation


def test_a_batch_moves_each_group_to_its_newest_message_whatever_the_record_order(aws, ddb, stream, calls):
    start_group(ddb, SEED_GROUP_UUID, ANDREW, BAYKO, at(BASE, 0))
    start_group(ddb, LONDO_GROUP_UUID, ANDREW, LONDO, at(BASE, -60))
    stream.new_records()
    put_message(ddb, SEED_GROUP_UUID, at(BASE, 30), "the newest", BAYKO)
    put_message(ddb, SEED_GROUP_UUID, at(BASE, 10), "older, stored later", ANDREW)
    put_message(ddb, LONDO_GROUP_UUID, at(BASE, 20), "Londo's", LONDO)
    put_message(ddb, SEED_GROUP_UUID, at(BASE, 20), "older too", ANDREW)

    response = deliver(aws, stream.new_message_inserts())

    assert response == {"batchItemFailures": []}
    assert_group_at(aws, SEED_GROUP_UUID, (ANDREW, BAYKO), at(BASE, 30), "the newest")
    assert_group_at(aws, LONDO_GROUP_UUID, (ANDREW, LONDO), at(BASE, 20), "Londo's")
    # Coalesced: per group one index query and one move per member, however many messages it got; these rows were
    # written the tutorial's way, so the first move of each also counts it exactly once (where there is anything
    # to count: andrew's rows).
    queries = [body for operation, body in calls.bodies if operation == "Query"]
    assert len([body for body in queries if "IndexName" in body]) == 2
    assert len([body for body in queries if "MSG#" in str(body)]) == 2
    assert calls.count("TransactWriteItems") == 4


def test_every_record_of_the_batch_is_applied_not_only_the_first(aws, ddb, stream):
    start_group(ddb, SEED_GROUP_UUID, ANDREW, BAYKO, at(BASE, 0))
    start_group(ddb, LONDO_GROUP_UUID, ANDREW, LONDO, at(BASE, -60))
    stream.new_records()
    put_message(ddb, SEED_GROUP_UUID, at(BASE, 1), "first record", ANDREW)
    put_message(ddb, LONDO_GROUP_UUID, at(BASE, 2), "second record", LONDO)

    deliver(aws, stream.new_message_inserts())

    assert_group_at(aws, LONDO_GROUP_UUID, (ANDREW, LONDO), at(BASE, 2), "second record")
    assert_group_at(aws, SEED_GROUP_UUID, (ANDREW, BAYKO), at(BASE, 1), "first record")


def test_duplicated_records_and_redelivered_batches_change_nothing(aws, ddb, stream, calls):
    start_group(ddb, SEED_GROUP_UUID, ANDREW, BAYKO, at(BASE, 0))
    stream.new_records()
    put_message(ddb, SEED_GROUP_UUID, at(BASE, 5), "once", ANDREW)
    records = stream.new_message_inserts()

    assert deliver(aws, records + records) == {"batchItemFailures": []}
    after_first = snapshot(aws.table)
    assert deliver(aws, records) == {"batchItemFailures": []}

    assert snapshot(aws.table) == after_first
    assert_group_at(aws, SEED_GROUP_UUID, (ANDREW, BAYKO), at(BASE, 5), "once")
    assert calls.count("TransactWriteItems") == 2


def test_a_stale_record_after_a_newer_one_does_not_move_rows_back(aws, ddb, stream):
    start_group(ddb, SEED_GROUP_UUID, ANDREW, BAYKO, at(BASE, 0))
    stream.new_records()
    put_message(ddb, SEED_GROUP_UUID, at(BASE, 9), "newer", BAYKO)
    put_message(ddb, SEED_GROUP_UUID, at(BASE, 3), "older", ANDREW)
    newer, older = stream.new_message_inserts()

    deliver(aws, [newer])
    assert deliver(aws, [older]) == {"batchItemFailures": []}

    assert_group_at(aws, SEED_GROUP_UUID, (ANDREW, BAYKO), at(BASE, 9), "newer")


def test_a_record_at_the_rows_own_time_sets_the_read_state_in_place_and_its_replay_changes_nothing(
        aws, ddb, stream, calls):
    """Rows written without read state at their first message's time (as new conversations were before their
    transaction wrote it): that message's record moves nothing, it only gives the rows their read state (the sender
    has read it, the recipient has one unread) and a version."""
    start_group(ddb, SEED_GROUP_UUID, ANDREW, BAYKO, at(BASE, 4), "first message")
    put_message(ddb, SEED_GROUP_UUID, at(BASE, 4), "first message", ANDREW)
    records = stream.new_message_inserts()

    assert deliver(aws, records) == {"batchItemFailures": []}

    assert_group_at(aws, SEED_GROUP_UUID, (ANDREW, BAYKO), at(BASE, 4), "first message")
    assert read_state(aws, SEED_GROUP_UUID, ANDREW) == (0, at(BASE, 4))
    assert read_state(aws, SEED_GROUP_UUID, BAYKO) == (1, None)
    assert all(row["version"] > 0 for row in group_rows(aws.table, SEED_GROUP_UUID))
    assert (calls.count("TransactWriteItems"), calls.count("UpdateItem")) == (0, 2)
    after = snapshot(aws.table)
    calls.calls.clear()

    assert deliver(aws, records) == {"batchItemFailures": []}

    assert snapshot(aws.table) == after
    # The replay is the rows' own message, applied already: the index query, and nothing to count or write.
    assert calls.calls == ["Query"]


def test_a_replay_of_an_older_message_rewrites_each_row_with_a_new_version_only(aws, ddb, stream, calls):
    start_group(ddb, SEED_GROUP_UUID, ANDREW, BAYKO, at(BASE, 0))
    stream.new_records()
    put_message(ddb, SEED_GROUP_UUID, at(BASE, 1), "older", ANDREW)
    put_message(ddb, SEED_GROUP_UUID, at(BASE, 2), "newer", BAYKO)
    older, newer = stream.new_message_inserts()
    assert deliver(aws, [older, newer]) == {"batchItemFailures": []}
    before = {row["pk"]: row for row in group_rows(aws.table, SEED_GROUP_UUID)}
    calls.calls.clear()

    assert deliver(aws, [older]) == {"batchItemFailures": []}

    after = {row["pk"]: row for row in group_rows(aws.table, SEED_GROUP_UUID)}
    for pk, row in after.items():
        assert row["version"] > before[pk]["version"]
        assert {**row, "version": before[pk]["version"], "late_version": before[pk]["late_version"]} == before[pk]
    # The index query, each row's count taken again where there is something to count (andrew's: bayko's newer
    # message; bayko's marker is at the row's time), and one UpdateItem per row.
    assert calls.calls == ["Query", "Query", "UpdateItem", "UpdateItem"]


def test_records_that_are_not_message_inserts_edits_or_deletes_are_ignored(aws, ddb, stream, calls):
    start_group(ddb, SEED_GROUP_UUID, ANDREW, BAYKO, at(BASE, 0))
    put_message(ddb, SEED_GROUP_UUID, at(BASE, 1), "typo", ANDREW)
    # A modify that is neither an edit (edited_at) nor a delete (deleted_at) passes the filter and is ignored.
    ddb.update_item(TableName=aws.table.name, Key={"pk": {"S": f"MSG#{SEED_GROUP_UUID}"}, "sk": {"S": at(BASE, 1)}},
                    UpdateExpression="SET message = :text", ExpressionAttributeValues={":text": {"S": "fixed"}})
    ddb.delete_item(TableName=aws.table.name, Key={"pk": {"S": f"MSG#{SEED_GROUP_UUID}"}, "sk": {"S": at(BASE, 1)}})
    records = [record for record in stream.new_records()
               if not (record["eventName"] == "INSERT" and record["dynamodb"]["Keys"]["pk"]["S"].startswith("MSG#"))]
    assert {(record["eventName"], stream.mapping.accepts(record)) for record in records} == {
        ("INSERT", False), ("MODIFY", True), ("REMOVE", False)}
    before = snapshot(aws.table)

    assert deliver(aws, records) == {"batchItemFailures": []}

    assert snapshot(aws.table) == before
    assert calls.calls == []


def test_a_poison_record_is_logged_and_skipped_without_blocking_the_others(aws, ddb, stream, caplog):
    start_group(ddb, SEED_GROUP_UUID, ANDREW, BAYKO, at(BASE, 0))
    start_group(ddb, LONDO_GROUP_UUID, ANDREW, LONDO, at(BASE, -60))
    stream.new_records()
    put_message(ddb, SEED_GROUP_UUID, at(BASE, 1), "good", ANDREW)
    put_message(ddb, SEED_GROUP_UUID, at(BASE, 2), "to be broken", ANDREW)
    put_message(ddb, LONDO_GROUP_UUID, at(BASE, 3), "good too", LONDO)
    good, poison, other_good = stream.new_message_inserts()
    del poison["dynamodb"]["NewImage"]["message"]
    poison["dynamodb"]["NewImage"]["sk"] = {"S": "not a time"}

    response = deliver(aws, [good, poison, {"eventName": "INSERT"}, other_good])

    assert response == {"batchItemFailures": []}
    assert_group_at(aws, SEED_GROUP_UUID, (ANDREW, BAYKO), at(BASE, 1), "good")
    assert_group_at(aws, LONDO_GROUP_UUID, (ANDREW, LONDO), at(BASE, 3), "good too")
    skipped = [record for record in caplog.records if record.getMessage() == "malformed stream record skipped"]
    assert [getattr(record, "sequence_number", None) for record in skipped] == [sequence_number(poison), None]


@pytest.mark.parametrize("operation", ["TransactWriteItems", "Query"])
def test_a_throttled_group_is_reported_then_recovered_on_redelivery(aws, ddb, stream, hooks, operation):
    start_group(ddb, SEED_GROUP_UUID, ANDREW, BAYKO, at(BASE, 0))
    start_group(ddb, LONDO_GROUP_UUID, ANDREW, LONDO, at(BASE, -60))
    stream.new_records()
    put_message(ddb, LONDO_GROUP_UUID, at(BASE, 8), "Londo's newest", LONDO)
    put_message(ddb, SEED_GROUP_UUID, at(BASE, 5), "seed group", BAYKO)
    put_message(ddb, LONDO_GROUP_UUID, at(BASE, 6), "Londo's older", ANDREW)
    records = stream.new_message_inserts()
    londo_newest, seed, londo_older = records
    throttled: list[str] = []

    def throttle_londo_group(params: dict[str, Any], model: Any, **_: Any) -> Any:
        if LONDO_GROUP_UUID in repr(params):
            throttled.append(model.name)
            return throttling_response()
        return None

    hooks.on(f"before-call.dynamodb.{operation}", throttle_londo_group)
    response = deliver(aws, records)

    assert throttled
    # Every record of the failed group, so Lambda resumes at or before its newest message.
    assert sorted(failed_sequence_numbers(response)) == sorted([sequence_number(londo_newest),
                                                                sequence_number(londo_older)])
    assert_group_at(aws, SEED_GROUP_UUID, (ANDREW, BAYKO), at(BASE, 5), "seed group")
    assert_group_at(aws, LONDO_GROUP_UUID, (ANDREW, LONDO), at(BASE, -60), "hello")

    hooks.clear()
    again = redelivery(records, response)
    assert again == records
    assert deliver(aws, again) == {"batchItemFailures": []}
    assert_group_at(aws, LONDO_GROUP_UUID, (ANDREW, LONDO), at(BASE, 8), "Londo's newest")
    assert_group_at(aws, SEED_GROUP_UUID, (ANDREW, BAYKO), at(BASE, 5), "seed group")


def test_a_batch_that_fails_entirely_is_answered_with_every_record_not_raised(aws, ddb, stream, hooks):
    start_group(ddb, SEED_GROUP_UUID, ANDREW, BAYKO, at(BASE, 0))
    stream.new_records()
    put_message(ddb, SEED_GROUP_UUID, at(BASE, 1), "one", ANDREW)
    put_message(ddb, SEED_GROUP_UUID, at(BASE, 2), "two", BAYKO)
    records = stream.new_message_inserts()
    hooks.on("before-call.dynamodb.Query", lambda **_: throttling_response())

    response = deliver(aws, records)

    assert failed_sequence_numbers(response) == [sequence_number(record) for record in records]
    assert_group_at(aws, SEED_GROUP_UUID, (ANDREW, BAYKO), at(BASE, 0), "hello")


def test_a_group_is_not_started_when_the_invocation_is_about_to_time_out(aws, ddb, stream, calls):
    start_group(ddb, SEED_GROUP_UUID, ANDREW, BAYKO, at(BASE, 0))
    stream.new_records()
    put_message(ddb, SEED_GROUP_UUID, at(BASE, 1), "late", ANDREW)
    records = stream.new_message_inserts()
    spec = local_function_specs(aws.resources, aws.stream_arn)[STREAM_FUNCTION]
    nearly_out_of_time = LambdaContext(function_name=STREAM_FUNCTION, memory_limit_in_mb=spec.memory_mb,
                                       timeout_seconds=1)

    response = handler_of(spec)(batch(records), nearly_out_of_time)

    assert failed_sequence_numbers(response) == [sequence_number(records[0])]
    assert calls.calls == []


def test_a_group_without_rows_is_skipped_and_the_rest_moves(aws, ddb, stream, calls):
    start_group(ddb, SEED_GROUP_UUID, ANDREW, BAYKO, at(BASE, 0))
    stream.new_records()
    put_message(ddb, LONDO_GROUP_UUID, at(BASE, 1), "into a group without rows", LONDO)
    put_message(ddb, SEED_GROUP_UUID, at(BASE, 2), "into the seed group", BAYKO)

    response = deliver(aws, stream.new_message_inserts())

    assert response == {"batchItemFailures": []}
    assert group_rows(aws.table, LONDO_GROUP_UUID) == []
    assert_group_at(aws, SEED_GROUP_UUID, (ANDREW, BAYKO), at(BASE, 2), "into the seed group")
    assert calls.count("TransactWriteItems") == 2


def test_a_conversation_seeded_the_tutorials_way_ends_at_its_last_line(aws, ddb, stream):
    written = seed_conversation(ddb, SEED_GROUP_UUID, ANDREW, BAYKO, BASE)
    records = stream.new_message_inserts()
    assert len(records) == len(written)

    assert deliver(aws, records) == {"batchItemFailures": []}

    last = written[-1]
    assert_group_at(aws, SEED_GROUP_UUID, (ANDREW, BAYKO), last["created_at"], last["message"])


@pytest.mark.parametrize(("row_sk", "message_sk", "moves"), [
    # 13:00Z written with a +05:00 offset sorts after 13:30Z as text, yet is older.
    ("2023-03-14T18:00:00+05:00", "2023-03-14T13:30:00.000000+00:00", True),
    # 14:00Z written with a -04:00 offset sorts before 13:30Z as text, yet is newer.
    ("2023-03-14T10:00:00-04:00", "2023-03-14T13:30:00.000000+00:00", False),
    # isoformat() drops the microseconds when they are zero.
    ("2023-03-14T13:30:00+00:00", "2023-03-14T13:30:00.000001+00:00", True),
])
def test_tutorial_timestamps_are_compared_as_instants(aws, ddb, stream, row_sk, message_sk, moves):
    start_group(ddb, SEED_GROUP_UUID, ANDREW, BAYKO, row_sk, "tutorial row")
    stream.new_records()
    put_message(ddb, SEED_GROUP_UUID, message_sk, "new message", BAYKO)

    assert deliver(aws, stream.new_message_inserts()) == {"batchItemFailures": []}

    if moves:
        assert_group_at(aws, SEED_GROUP_UUID, (ANDREW, BAYKO), message_sk, "new message")
    else:
        assert_group_at(aws, SEED_GROUP_UUID, (ANDREW, BAYKO), row_sk, "tutorial row")


def test_the_stream_batch_event_file_moves_the_seed_group(aws, ddb):
    start_group(ddb, SEED_GROUP_UUID, ANDREW, BAYKO, "2023-03-14T10:00:00.000000+00:00", "filler")
    start_group(ddb, LONDO_GROUP_UUID, ANDREW, LONDO, "2023-03-14T09:00:00.000000+00:00", "filler")
    event = load_event("stream-batch")
    seed_records = [record for record in event["Records"]
                    if record["dynamodb"]["Keys"]["pk"]["S"] == f"MSG#{SEED_GROUP_UUID}"]
    assert len(seed_records) == 2

    assert aws.invoke(STREAM_FUNCTION, event) == {"batchItemFailures": []}

    newest = max(seed_records, key=lambda record: record["dynamodb"]["NewImage"]["sk"]["S"])["dynamodb"]["NewImage"]
    assert_group_at(aws, SEED_GROUP_UUID, (ANDREW, BAYKO), newest["sk"]["S"], newest["message"]["S"])
    londo = next(record for record in event["Records"]
                 if record["dynamodb"]["Keys"]["pk"]["S"] == f"MSG#{LONDO_GROUP_UUID}")["dynamodb"]["NewImage"]
    assert_group_at(aws, LONDO_GROUP_UUID, (ANDREW, LONDO), londo["sk"]["S"], londo["message"]["S"])
