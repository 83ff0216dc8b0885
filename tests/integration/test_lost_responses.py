"""Writes that succeed while their response is lost: the SDK sends them again, and the retry must recognise the
write it made itself instead of taking it for someone else's (see tests/support/faults.py for the injection).

Each case is answered once with a 200, and the table holds exactly what one request writes. When every attempt
of the SDK is applied and answered with a timeout, the client gets a 503 whose outcome is unknown; its retry
with the same ``Idempotency-Key`` settles it (docs/http-api.md, idempotency): one write, answered with that write.
"""
from __future__ import annotations

import json
import time

from cruddur_messaging.domain import create_message as create_message_module
from devtools.environment import local_function_specs
from devtools.functions import handler_of
from devtools.lambda_runtime import LambdaContext
from tests.support.api import assert_error, header, ok
from tests.support.calls import operation_is, writes_to
from tests.support.client import Caller, create_message_event
from tests.support.concurrency import separate_container
from tests.support.events import SEED_GROUP_UUID, load_event
from tests.support.faults import lose_responses
from tests.support.people import ANDREW, BAYKO
from tests.support.table import census, messages_in, pair_items, query_all, scan_all


def _pk(body: dict) -> str:
    return body["Item"]["pk"]["S"]


def test_a_message_whose_put_response_is_lost_is_stored_once(aws, monkeypatch) -> None:
    andrew = Caller(aws, ANDREW)
    group = andrew.start_conversation("bayko", "Hello")
    faults = lose_responses(monkeypatch, writes_to("MSG#"))

    sent = ok(andrew.send("Stored once, answered late", group=group))

    assert faults.lost == ["PutItem"]
    message_puts = [body for body in faults.sent_of("PutItem") if _pk(body).startswith("MSG#")]
    assert len(message_puts) == 2 and message_puts[0] == message_puts[1]  # the SDK resent the very same request
    stored = [item for item in messages_in(aws.table, group) if item["message"] == "Stored once, answered late"]
    assert [(item["message_uuid"], item["sk"]) for item in stored] == [(sent["uuid"], sent["created_at"])]


def test_a_new_conversation_whose_transaction_response_is_lost_is_created_once(aws, monkeypatch) -> None:
    faults = lose_responses(monkeypatch, operation_is("TransactWriteItems"))

    started = ok(Caller(aws, ANDREW).send("Hello Londo", handle="londo"))

    assert faults.lost == ["TransactWriteItems"]
    first, retry = faults.sent_of("TransactWriteItems")
    assert first == retry and first["ClientRequestToken"]  # DynamoDB would answer it from the token; moto does not
    assert census(aws.table) == {"PAIR#": 1, "GROUP#": 1, "GRP#": 2, "MSG#": 1}
    [message] = messages_in(aws.table, started["message_group_uuid"])
    assert (message["message_uuid"], message["sk"]) == (started["uuid"], started["created_at"])
    assert ok(Caller(aws, ANDREW).send("Still one group", handle="londo"))["message_group_uuid"] == \
        started["message_group_uuid"]


def test_a_new_conversation_whose_resent_transaction_is_still_in_progress_is_created_once(aws, monkeypatch) -> None:
    """DynamoDB's answer when the resend arrives while the first send is still being applied. The SDK retries
    that answer too; here every resend gets it, until the SDK gives up and the code sees the exception."""
    faults = lose_responses(monkeypatch, operation_is("TransactWriteItems"), resent_still_in_progress=True)

    started = ok(Caller(aws, ANDREW).send("Hello Londo", handle="londo"))

    assert faults.lost == ["TransactWriteItems"] and len(faults.sent_of("TransactWriteItems")) == 3
    assert census(aws.table) == {"PAIR#": 1, "GROUP#": 1, "GRP#": 2, "MSG#": 1}
    [message] = messages_in(aws.table, started["message_group_uuid"])
    assert (message["message_uuid"], message["sk"]) == (started["uuid"], started["created_at"])


def test_a_fresh_idempotency_key_whose_record_response_is_lost_is_not_in_progress(aws, seeded, monkeypatch) -> None:
    """The in-progress record was written, its response lost: the SDK's retry of it must not see a request in
    progress (ours) and answer 409; the send goes through once and the key settles on its answer."""
    faults = lose_responses(monkeypatch, writes_to("IDEMPOTENCY#"))

    first = ok(aws.invoke("CreateMessageFunction", load_event("create-message-idempotent")))

    assert faults.lost == ["PutItem"]
    assert census(aws.table)["MSG#"] == len(seeded) + 1
    assert ok(aws.invoke("CreateMessageFunction", load_event("create-message-idempotent"))) == first
    assert census(aws.table)["MSG#"] == len(seeded) + 1


def test_a_legacy_groups_membership_whose_response_is_lost_is_recorded_once(aws, seeded, monkeypatch) -> None:
    faults = lose_responses(monkeypatch, writes_to("GROUP#"))

    sent = ok(Caller(aws, ANDREW).send("First post since the tutorial", group=SEED_GROUP_UUID))

    assert faults.lost == ["PutItem"]
    [membership] = query_all(aws.table, f"GROUP#{SEED_GROUP_UUID}")
    assert set(membership["member_uuids"]) == {ANDREW.uuid, BAYKO.uuid}
    assert [item["message_uuid"] for item in messages_in(aws.table, SEED_GROUP_UUID)].count(sent["uuid"]) == 1
    assert census(aws.table)["MSG#"] == len(seeded) + 1


def test_a_legacy_pair_whose_response_is_lost_is_recorded_once(aws, seeded, monkeypatch) -> None:
    faults = lose_responses(monkeypatch, writes_to("PAIR#"))

    sent = ok(Caller(aws, ANDREW).send("Found you again", handle="bayko"))

    assert faults.lost == ["PutItem"]
    assert sent["message_group_uuid"] == SEED_GROUP_UUID
    assert [item["group_uuid"] for item in pair_items(aws.table)] == [SEED_GROUP_UUID]
    assert census(aws.table)["MSG#"] == len(seeded) + 1


# Three attempts in all (CLIENT_CONFIG): each one applied, each answer lost, so the SDK gives up with a read timeout.
EVERY_ATTEMPT = 3


def test_a_keyed_send_whose_every_attempt_timed_out_is_settled_by_its_retry(aws, monkeypatch) -> None:
    andrew = Caller(aws, ANDREW)
    group = andrew.start_conversation("bayko", "Hello")
    faults = lose_responses(monkeypatch, writes_to("MSG#"), times=EVERY_ATTEMPT)

    assert_error(andrew.send("Stored, never answered", group=group, idempotency_key="slow-1"),
                 503, "dependency_unavailable")
    assert faults.lost == ["PutItem"] * EVERY_ATTEMPT
    sent = ok(andrew.send("Stored, never answered", group=group, idempotency_key="slow-1"))

    stored = [item for item in messages_in(aws.table, group) if item["message"] == "Stored, never answered"]
    assert [(item["message_uuid"], item["sk"]) for item in stored] == [(sent["uuid"], sent["created_at"])]
    assert ok(andrew.send("Stored, never answered", group=group, idempotency_key="slow-1")) == sent
    assert census(aws.table)["MSG#"] == 2


def test_a_keyed_send_still_unknown_after_its_retry_timed_out_too_is_settled_later(aws, monkeypatch) -> None:
    """The retry that resumed the plan ends in a 503 as well: the plan is kept again, not forgotten."""
    andrew = Caller(aws, ANDREW)
    group = andrew.start_conversation("bayko", "Hello")
    faults = lose_responses(monkeypatch, writes_to("MSG#"), times=2 * EVERY_ATTEMPT)

    for _ in range(2):
        assert_error(andrew.send("Twice unanswered", group=group, idempotency_key="slow-2"),
                     503, "dependency_unavailable")
    assert len(faults.lost) == 2 * EVERY_ATTEMPT
    sent = ok(andrew.send("Twice unanswered", group=group, idempotency_key="slow-2"))

    stored = [item for item in messages_in(aws.table, group) if item["message"] == "Twice unanswered"]
    assert [(item["message_uuid"], item["sk"]) for item in stored] == [(sent["uuid"], sent["created_at"])]


def test_a_keyed_new_conversation_whose_every_attempt_timed_out_is_settled_by_its_retry(aws, monkeypatch) -> None:
    andrew = Caller(aws, ANDREW)
    faults = lose_responses(monkeypatch, operation_is("TransactWriteItems"), times=EVERY_ATTEMPT)

    assert_error(andrew.send("Hello Londo", handle="londo", idempotency_key="start-slow"),
                 503, "dependency_unavailable")
    assert faults.lost == ["TransactWriteItems"] * EVERY_ATTEMPT
    started = ok(andrew.send("Hello Londo", handle="@londo", idempotency_key="start-slow"))

    assert census(aws.table) == {"PAIR#": 1, "GROUP#": 1, "GRP#": 2, "MSG#": 1, "IDEMPOTENCY#": 1}
    assert [item["group_uuid"] for item in pair_items(aws.table)] == [started["message_group_uuid"]]
    [message] = messages_in(aws.table, started["message_group_uuid"])
    assert (message["message_uuid"], message["sk"]) == (started["uuid"], started["created_at"])
    assert ok(andrew.send("Hello Londo", handle="londo", idempotency_key="start-slow")) == started


def test_another_body_with_the_key_of_a_send_that_timed_out_is_still_refused(aws, monkeypatch) -> None:
    andrew = Caller(aws, ANDREW)
    group = andrew.start_conversation("bayko", "Hello")
    lose_responses(monkeypatch, writes_to("MSG#"), times=EVERY_ATTEMPT)
    assert_error(andrew.send("The first words", group=group, idempotency_key="slow-3"), 503, "dependency_unavailable")
    after_the_503 = census(aws.table)

    assert_error(andrew.send("Other words", group=group, idempotency_key="slow-3"), 422, "idempotency_key_reused")
    assert census(aws.table) == after_the_503
    sent = ok(andrew.send("The first words", group=group, idempotency_key="slow-3"))
    assert [item["message"] for item in messages_in(aws.table, group)] == ["Hello", sent["message"]]


def test_a_take_over_whose_response_is_lost_is_not_taken_for_another_retry(aws, monkeypatch) -> None:
    """The retry puts the unknown record back in progress; that update's response is lost and the SDK resends it:
    it must recognise its own lock (its writer token), not answer 409."""
    andrew = Caller(aws, ANDREW)
    group = andrew.start_conversation("bayko", "Hello")
    lose_responses(monkeypatch, writes_to("MSG#"), times=EVERY_ATTEMPT)
    assert_error(andrew.send("Taken over once", group=group, idempotency_key="slow-4"), 503, "dependency_unavailable")

    faults = lose_responses(monkeypatch, operation_is("UpdateItem"))
    sent = ok(andrew.send("Taken over once", group=group, idempotency_key="slow-4"))

    assert faults.lost == ["UpdateItem"] and len(faults.sent_of("UpdateItem")) == 3  # take-over twice, then done
    stored = [item for item in messages_in(aws.table, group) if item["message"] == "Taken over once"]
    assert [(item["message_uuid"], item["sk"]) for item in stored] == [(sent["uuid"], sent["created_at"])]


def test_two_retries_of_a_send_in_doubt_at_once_resume_it_once(aws, monkeypatch) -> None:
    """While one retry (one container) resumes the unknown send, another arrives (another container): it is told
    to come back (409 with Retry-After), and then gets the first retry's answer."""
    andrew = Caller(aws, ANDREW)
    group = andrew.start_conversation("bayko", "Hello")
    lose_responses(monkeypatch, writes_to("MSG#"), times=EVERY_ATTEMPT)
    event = create_message_event(ANDREW, {"message_group_uuid": group, "message": "In doubt"}, "slow-5")
    assert_error(aws.invoke("CreateMessageFunction", event), 503, "dependency_unavailable")

    other_container = separate_container(aws, "CreateMessageFunction", "second-retry")
    overlapping: list[dict] = []
    create = create_message_module._create

    def create_while_another_retry_arrives(sending, caller, request, plan):
        if not overlapping:
            overlapping.append(other_container(event))
        return create(sending, caller, request, plan)

    monkeypatch.setattr(create_message_module, "_create", create_while_another_retry_arrives)
    sent = ok(aws.invoke("CreateMessageFunction", event))

    [second] = overlapping
    assert_error(second, 409, "request_in_progress")
    assert header(second, "Retry-After") == "1"
    stored = [item for item in messages_in(aws.table, group) if item["message"] == "In doubt"]
    assert [(item["message_uuid"], item["sk"]) for item in stored] == [(sent["uuid"], sent["created_at"])]
    assert ok(other_container(event)) == sent


def test_a_keyed_send_whose_record_write_timed_out_holds_its_key_no_longer_than_its_invocation(
        aws, monkeypatch) -> None:
    """The in-progress record was applied while every answer to it was lost (a store that applies requests late):
    a 503, the record left in progress. Retries get 409 only until its lock expires - the time the invocation had
    left when it wrote the record, the function's Timeout at most (docs/http-api.md) - then make the send the
    record planned, once."""
    andrew = Caller(aws, ANDREW)
    group = andrew.start_conversation("bayko", "Hello")
    spec = local_function_specs(aws.resources, aws.stream_arn)["CreateMessageFunction"]
    invocation_seconds = 6
    send = create_message_event(ANDREW, {"message": "Its record came late", "message_group_uuid": group},
                                idempotency_key="late-record")
    faults = lose_responses(monkeypatch, writes_to("IDEMPOTENCY#"), times=EVERY_ATTEMPT)

    began = time.monotonic()
    first = handler_of(spec)(send, LambdaContext(spec.logical_id, spec.memory_mb, invocation_seconds))
    assert_error(first, 503, "dependency_unavailable")
    assert faults.lost == ["PutItem"] * EVERY_ATTEMPT
    [record] = [item for item in scan_all(aws.table) if item["pk"].startswith("IDEMPOTENCY#")]
    assert record["status"] == "INPROGRESS"
    planned = json.loads(record["plan"])

    refused = 0
    while (retry := aws.invoke("CreateMessageFunction", send))["statusCode"] == 409:
        refused += 1
        assert time.monotonic() - began < invocation_seconds, "409 after the first invocation's lock expired"
        time.sleep(float(header(retry, "Retry-After")))
    sent = ok(retry)
    assert refused > 0 and time.monotonic() - began >= invocation_seconds - 1

    stored = [item for item in messages_in(aws.table, group) if item["message"] == "Its record came late"]
    assert [(item["message_uuid"], item["sk"]) for item in stored] == [(planned["message_uuid"],
                                                                        planned["created_at"])]
    assert (sent["uuid"], sent["created_at"]) == (planned["message_uuid"], planned["created_at"])
