"""Pattern E under what the real system does to it: racing invocations, a lagging index, two groups' rows on
one key, refusals that never stop, duplicate rows left by the tutorial's unconditional writes, a move racing an
in-place write that changed only the version and late record."""
from __future__ import annotations

import json
import os
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from cruddur_messaging.domain import group_row_timeline
from cruddur_messaging.domain.group_row_timeline import MAX_ATTEMPTS
from cruddur_messaging.domain.mark_read import MarkReadRequest, mark_read
from devtools.environment import LOCAL_ACCOUNT_ID
from tests.support.calls import operation_is
from tests.support.concurrency import metrics_disabled  # noqa: F401 - the fixture
from tests.support.events import SEED_GROUP_UUID
from tests.support.faults import lose_responses
from tests.support.iam import Request, allowed, policy_statements, requests_of
from tests.support.people import ANDREW, BAYKO, LONDO, Person
from tests.support.streams import (
    BASE,
    LONDO_GROUP_UUID,
    STREAM_FUNCTION,
    CallCounter,
    Hooks,
    assert_group_at,
    at,
    deliver,
    failed_sequence_numbers,
    row_writes,
    sequence_number,
    start_group,
)
from tests.support.table import group_rows_of, scan_all, snapshot
from tests.support.tutorial import put_group_row, put_message


def index_snapshot(ddb: Any, table_name: str, group_uuid: str) -> list[dict[str, Any]]:
    """The group's rows as the index has them now, in wire format (what a stale answer would carry later)."""
    return ddb.query(TableName=table_name, IndexName=os.environ["MESSAGE_GROUP_INDEX_NAME"],
                     KeyConditionExpression="message_group_uuid = :g",
                     ExpressionAttributeValues={":g": {"S": group_uuid}})["Items"]


def answer_index_queries_with(hooks: Hooks, items: list[dict[str, Any]]) -> list[str]:
    """From now on the function's index queries get ``items``: the index lags behind the table."""
    answered: list[str] = []

    def stale_index(params: dict[str, Any], model: Any, **_: Any) -> Any:
        if "IndexName" not in json.loads(params["body"]):
            return None
        answered.append(model.name)
        http = AWSResponse(url="https://dynamodb.us-east-1.amazonaws.com/", status_code=200, headers={}, raw=None)
        return http, {"Items": items, "Count": len(items), "ScannedCount": len(items),
                      "ResponseMetadata": {"HTTPStatusCode": 200}}

    hooks.on("before-call.dynamodb.Query", stale_index)
    return answered


def cancelled_transactions(hooks: Hooks) -> list[str]:
    cancelled: list[str] = []

    def count(parsed: dict[str, Any], **_: Any) -> None:
        if parsed.get("Error", {}).get("Code") == "TransactionCanceledException":
            cancelled.append(json.dumps(parsed.get("CancellationReasons")))

    hooks.on("after-call.dynamodb.TransactWriteItems", count)
    return cancelled


class SerializedRace:
    """Two invocations that both read the rows before either writes; then their calls run one at a time, as
    DynamoDB serializes writes to an item (moto alone does not: it restores a whole-table copy when it
    cancels a transaction, undoing a concurrent one)."""

    def __init__(self, hooks: Hooks, parties: int = 2) -> None:
        self._barrier = threading.Barrier(parties, timeout=20)
        self._lock = threading.Lock()
        self._waited: set[int] = set()
        hooks.on("before-call.dynamodb", self._before)
        hooks.on("after-call.dynamodb", self._after)

    def _before(self, model: Any, **_: Any) -> None:
        thread = threading.get_ident()
        if model.name == "TransactWriteItems" and thread not in self._waited:
            self._waited.add(thread)
            self._barrier.wait()
        if not self._lock.acquire(timeout=20):
            raise TimeoutError("a DynamoDB call of the other invocation never finished")

    def _after(self, **_: Any) -> None:
        self._lock.release()


@pytest.mark.parametrize("same_batch", [False, True], ids=["newer-message-each", "same-batch-twice"])
def test_two_concurrent_invocations_for_one_group_end_at_the_newest_message(aws, ddb, stream, hooks,
                                                                            metrics_disabled,  # noqa: F811
                                                                            same_batch):
    start_group(ddb, SEED_GROUP_UUID, ANDREW, BAYKO, at(BASE, 0))
    assert deliver(aws, stream.new_records()) == {"batchItemFailures": []}  # warm container, nothing to move
    put_message(ddb, SEED_GROUP_UUID, at(BASE, 1), "first", ANDREW)
    put_message(ddb, SEED_GROUP_UUID, at(BASE, 2), "second", BAYKO)
    first, second = stream.new_message_inserts()
    batches = [[first, second], [first, second]] if same_batch else [[first], [second]]
    SerializedRace(hooks)
    cancelled = cancelled_transactions(hooks)

    with ThreadPoolExecutor(max_workers=2) as pool:
        responses = list(pool.map(lambda records: deliver(aws, records), batches))

    assert responses == [{"batchItemFailures": []}] * 2
    assert cancelled, "the invocations did not race"
    assert_group_at(aws, SEED_GROUP_UUID, (ANDREW, BAYKO), at(BASE, 2), "second")
    # Whatever the interleaving, each member's row took a higher version with every write that went through.
    writes = row_writes(stream.new_records())
    for owner in (ANDREW, BAYKO):
        versions = [version for pk, version in writes if pk == f"GRP#{owner.uuid}"]
        assert versions and versions == sorted(set(versions)), versions


def test_rows_the_index_still_shows_at_their_old_place_are_found_where_they_are(aws, ddb, stream, hooks):
    start_group(ddb, SEED_GROUP_UUID, ANDREW, BAYKO, at(BASE, 0))
    stale = index_snapshot(ddb, aws.table.name, SEED_GROUP_UUID)
    stream.new_records()
    put_message(ddb, SEED_GROUP_UUID, at(BASE, 1), "moved already", ANDREW)
    assert deliver(aws, stream.new_message_inserts()) == {"batchItemFailures": []}
    put_message(ddb, SEED_GROUP_UUID, at(BASE, 2), "newest", BAYKO)
    answered = answer_index_queries_with(hooks, stale)
    cancelled = cancelled_transactions(hooks)

    assert deliver(aws, stream.new_message_inserts()) == {"batchItemFailures": []}

    assert answered and len(cancelled) == 2
    assert_group_at(aws, SEED_GROUP_UUID, (ANDREW, BAYKO), at(BASE, 2), "newest")


def test_a_stale_index_and_a_replayed_record_do_not_duplicate_rows(aws, ddb, stream, hooks):
    start_group(ddb, SEED_GROUP_UUID, ANDREW, BAYKO, at(BASE, 0))
    stale = index_snapshot(ddb, aws.table.name, SEED_GROUP_UUID)
    stream.new_records()
    put_message(ddb, SEED_GROUP_UUID, at(BASE, 1), "only message", ANDREW)
    records = stream.new_message_inserts()
    assert deliver(aws, records) == {"batchItemFailures": []}
    after_first = snapshot(aws.table)
    answer_index_queries_with(hooks, stale)

    assert deliver(aws, records) == {"batchItemFailures": []}

    assert snapshot(aws.table) == after_first
    assert_group_at(aws, SEED_GROUP_UUID, (ANDREW, BAYKO), at(BASE, 1), "only message")


def test_a_new_group_not_yet_in_the_index_is_moved_through_its_membership(aws, ddb, stream, hooks):
    group_uuid = str(uuid.uuid4())
    start_conversation(aws, group_uuid, LONDO, BAYKO, "first", at(BASE, 1))
    put_message(ddb, group_uuid, at(BASE, 2), "second", BAYKO)
    records = stream.new_message_inserts()
    assert len(records) == 2
    answered = answer_index_queries_with(hooks, [])

    assert deliver(aws, records) == {"batchItemFailures": []}

    assert answered
    assert_group_at(aws, group_uuid, (LONDO, BAYKO), at(BASE, 2), "second")


def test_a_row_whose_key_is_taken_by_another_group_goes_to_the_next_microsecond(aws, ddb, stream):
    collision = at(BASE, 7)
    start_group(ddb, SEED_GROUP_UUID, ANDREW, BAYKO, at(BASE, 0))
    put_group_row(ddb, LONDO_GROUP_UUID, ANDREW, LONDO, collision, "Londo, same microsecond")
    put_group_row(ddb, LONDO_GROUP_UUID, LONDO, ANDREW, collision, "Londo, same microsecond")
    stream.new_records()
    put_message(ddb, SEED_GROUP_UUID, collision, "seed group, same microsecond", BAYKO)
    records = stream.new_message_inserts()

    assert deliver(aws, records) == {"batchItemFailures": []}

    andrews = {(row["message_group_uuid"], row["sk"], row["message"]) for row in group_rows_of(aws.table, ANDREW.uuid)}
    assert andrews == {
        (LONDO_GROUP_UUID, collision, "Londo, same microsecond"),
        (SEED_GROUP_UUID, "2026-11-21T04:00:07.000001+00:00", "seed group, same microsecond"),
    }
    assert [(row["sk"], row["message"]) for row in group_rows_of(aws.table, BAYKO.uuid)] == [
        (collision, "seed group, same microsecond")]
    after = {(row["pk"], row["sk"]): row for row in scan_all(aws.table)}
    assert deliver(aws, records) == {"batchItemFailures": []}
    # The replay moves nothing. Andrew's row is a microsecond past the message, so the message is before it: that
    # row is rewritten in place with only a new version; bayko's row is at the message's very time: untouched.
    replayed = {(row["pk"], row["sk"]): row for row in scan_all(aws.table)}
    assert replayed.keys() == after.keys()
    changed = {key for key in after if replayed[key] != after[key]}
    assert changed == {(f"GRP#{ANDREW.uuid}", "2026-11-21T04:00:07.000001+00:00")}
    [key] = changed
    assert replayed[key]["version"] > after[key]["version"]
    assert {**replayed[key], "version": 0, "late_version": 0} == {**after[key], "version": 0, "late_version": 0}


def test_refusals_are_retried_a_bounded_number_of_times_then_the_group_is_reported(aws, ddb, stream, hooks):
    start_group(ddb, SEED_GROUP_UUID, ANDREW, BAYKO, at(BASE, 0))
    stream.new_records()
    put_message(ddb, SEED_GROUP_UUID, at(BASE, 1), "never settles", ANDREW)
    records = stream.new_message_inserts()
    attempts: list[str] = []

    def always_refused(model: Any, **_: Any) -> Any:
        attempts.append(model.name)
        http = AWSResponse(url="https://dynamodb.us-east-1.amazonaws.com/", status_code=400, headers={}, raw=None)
        return http, {"Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
                      "CancellationReasons": [{"Code": "ConditionalCheckFailed"}, {"Code": "None"}],
                      "ResponseMetadata": {"HTTPStatusCode": 400}}

    hooks.on("before-call.dynamodb.TransactWriteItems", always_refused)

    response = deliver(aws, records)

    assert failed_sequence_numbers(response) == [sequence_number(records[0])]
    assert len(attempts) == MAX_ATTEMPTS
    assert_group_at(aws, SEED_GROUP_UUID, (ANDREW, BAYKO), at(BASE, 0), "hello")


def test_a_move_whose_response_is_lost_counts_as_done(aws, ddb, stream, calls, monkeypatch, capsys):
    """Both moves commit and their responses are lost: the SDK resends each, which meets the row it just put
    (moto ignores ``ClientRequestToken``). Each move counts as done at once: no re-read, no further attempt."""
    start_group(ddb, SEED_GROUP_UUID, ANDREW, BAYKO, at(BASE, 0))
    stream.new_records()
    put_message(ddb, SEED_GROUP_UUID, at(BASE, 1), "answered late", ANDREW)
    records = stream.new_message_inserts()
    capsys.readouterr()
    faults = lose_responses(monkeypatch, operation_is("TransactWriteItems"), times=2)

    assert deliver(aws, records) == {"batchItemFailures": []}

    assert faults.lost == ["TransactWriteItems"] * 2 and len(faults.sent_of("TransactWriteItems")) == 4
    assert_group_at(aws, SEED_GROUP_UUID, (ANDREW, BAYKO), at(BASE, 1), "answered late")
    assert rows_moved_metric(capsys.readouterr().out) == [2.0]
    # The index query, andrew's move, the one exact count of bayko's tutorial-written row (from its sk to the
    # message), bayko's move: no re-read, no further attempt.
    assert calls.calls == ["Query", "TransactWriteItems", "Query", "TransactWriteItems"]
    assert "MSG#" in json.dumps(calls.bodies[2][1])


def start_conversation(aws: Any, group_uuid: str, sender: Person, recipient: Person, text: str, at_time: str) -> None:
    """A new conversation, written as create-message writes it (its container's store): no index row yet."""
    aws.container("CreateMessageFunction").message_store.create_group(
        group_uuid, sender.user, recipient.user, text, str(uuid.uuid4()), at_time)


def rows_moved_metric(stdout: str) -> list[float]:
    """The ``GroupRowsMoved`` values of the function's metrics (EMF lines on stdout)."""
    values: list[float] = []
    for line in stdout.splitlines():
        if line.startswith("{") and "GroupRowsMoved" in line:
            values.extend(json.loads(line)["GroupRowsMoved"])
    return values


def test_duplicate_rows_left_by_the_tutorial_collapse_into_one_on_the_next_move(aws, ddb, stream):
    start_group(ddb, SEED_GROUP_UUID, ANDREW, BAYKO, at(BASE, 1))
    put_group_row(ddb, SEED_GROUP_UUID, ANDREW, BAYKO, at(BASE, 0), "a row the tutorial's race duplicated")
    assert len(group_rows_of(aws.table, ANDREW.uuid)) == 2
    stream.new_records()
    put_message(ddb, SEED_GROUP_UUID, at(BASE, 2), "next", BAYKO)

    assert deliver(aws, stream.new_message_inserts()) == {"batchItemFailures": []}

    assert_group_at(aws, SEED_GROUP_UUID, (ANDREW, BAYKO), at(BASE, 2), "next")


def test_every_call_the_function_makes_is_allowed_by_its_least_privilege_policy(aws, ddb, stream, hooks):
    group_uuid = str(uuid.uuid4())
    start_conversation(aws, group_uuid, LONDO, BAYKO, "first", at(BASE, 1))
    put_message(ddb, group_uuid, at(BASE, 2), "found through the membership", BAYKO)
    calls = CallCounter()
    hooks.on("before-call.dynamodb", calls)
    answer_index_queries_with(hooks, [])
    deliver(aws, stream.new_message_inserts())
    hooks.clear()
    hooks.on("before-call.dynamodb", calls)
    put_message(ddb, group_uuid, at(BASE, 3), "found through the index", LONDO)
    records = stream.new_message_inserts()
    deliver(aws, records)
    put_message(ddb, group_uuid, at(BASE, 2.5), "landed late: recounted (Query MSG#), set in place", BAYKO)
    deliver(aws, records + stream.new_message_inserts())
    table_arn = f"arn:aws:dynamodb:{aws.resources.region}:{LOCAL_ACCOUNT_ID}:table/{aws.table.name}"
    index_arn = f"{table_arn}/index/{os.environ['MESSAGE_GROUP_INDEX_NAME']}"
    statements = policy_statements(aws.resources, STREAM_FUNCTION)

    requests = [request for operation, body in calls.bodies for request in requests_of(operation, body, table_arn)]

    assert {(request.action, request.resource) for request in requests} == {
        ("dynamodb:Query", index_arn), ("dynamodb:Query", table_arn),
        ("dynamodb:GetItem", table_arn), ("dynamodb:PutItem", table_arn), ("dynamodb:DeleteItem", table_arn),
        ("dynamodb:UpdateItem", table_arn)}
    assert {request.leading_key.split("#")[0] for request in requests if request.action == "dynamodb:Query"
            and request.resource == table_arn} == {"GRP", "MSG"}
    assert [request for request in requests if not allowed(statements, request)] == []
    assert_group_at(aws, group_uuid, (LONDO, BAYKO), at(BASE, 3), "found through the index")
    # ... and nothing more: no write outside GRP# partitions, no write outside a transaction.
    assert not allowed(statements, Request("dynamodb:PutItem", table_arn, f"MSG#{group_uuid}", "TransactWriteItems"))
    assert not allowed(statements, Request("dynamodb:DeleteItem", table_arn, f"GRP#{BAYKO.uuid}"))
    assert not allowed(statements, Request("dynamodb:UpdateItem", table_arn, f"MSG#{group_uuid}"))
    assert not allowed(statements, Request("dynamodb:Query", table_arn, f"PAIR#{BAYKO.uuid}#{LONDO.uuid}"))


def test_a_move_from_a_stale_read_neither_lowers_a_version_nor_drops_a_late_record(aws, ddb, stream, hooks,
                                                                                  monkeypatch):
    """A late record of an older message rewrites the rows in place with only a new version and its late record
    (the read state comes out the same); a racing move that read the rows before that write must not put them back
    without it. Its condition on the version read refuses it, and it moves the rows as they are now."""
    now = [BASE + timedelta(seconds=30)]  # the writers' clock: the first writes are on time
    monkeypatch.setattr(group_row_timeline, "write_time", lambda: now[0])
    group_uuid = str(uuid.uuid4())
    start_conversation(aws, group_uuid, ANDREW, BAYKO, "first", at(BASE, 0))
    put_message(ddb, group_uuid, at(BASE, 1), "older, its record late", ANDREW)
    put_message(ddb, group_uuid, at(BASE, 2), "newer", ANDREW)
    records = stream.new_records()
    writes = row_writes(records)  # the new conversation's rows
    first, older, newer = [record for record in records if stream.mapping.accepts(record)]
    assert deliver(aws, [first, newer]) == {"batchItemFailures": []}
    reading = aws.container("MarkReadFunction")
    assert mark_read(reading.group_row_store, reading.read_state_store, BAYKO.user, group_uuid,
                     MarkReadRequest()).moved
    stale = index_snapshot(ddb, aws.table.name, group_uuid)
    assert all("late_from" not in row for row in group_rows_of_group(aws, group_uuid))
    now[0] = BASE + timedelta(minutes=5)

    assert deliver(aws, [older]) == {"batchItemFailures": []}
    in_place = {row["pk"]: row for row in group_rows_of_group(aws, group_uuid)}
    assert {row["late_from"] for row in in_place.values()} == {at(BASE, 1)}  # applied minutes after: late
    put_message(ddb, group_uuid, at(BASE, 3), "newest", BAYKO)
    records = stream.new_records()
    writes += row_writes(records)
    answer_index_queries_with(hooks, stale)
    cancelled = cancelled_transactions(hooks)
    assert deliver(aws, [record for record in records if stream.mapping.accepts(record)]) == {
        "batchItemFailures": []}

    assert len(cancelled) == 2  # each member's move, refused once on the version it read
    assert_group_at(aws, group_uuid, (ANDREW, BAYKO), at(BASE, 3), "newest")
    for row in group_rows_of_group(aws, group_uuid):
        assert row["late_from"] == at(BASE, 1) and row["version"] > in_place[row["pk"]]["version"]
    writes += row_writes(stream.new_records())
    # The transaction, the move to "newer", (bayko's mark-read), the in-place write, the move to "newest".
    assert [pk for pk, _ in writes].count(f"GRP#{ANDREW.uuid}") == 4
    assert [pk for pk, _ in writes].count(f"GRP#{BAYKO.uuid}") == 5
    for owner in (ANDREW, BAYKO):
        versions = [version for pk, version in writes if pk == f"GRP#{owner.uuid}"]
        assert versions == sorted(set(versions)), versions


def group_rows_of_group(aws: Any, group_uuid: str) -> list[dict[str, Any]]:
    return [row for owner in (ANDREW, BAYKO) for row in group_rows_of(aws.table, owner.uuid)
            if row["message_group_uuid"] == group_uuid]
