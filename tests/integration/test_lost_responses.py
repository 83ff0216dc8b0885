"""Writes that succeed while their response is lost: the SDK sends them again, and the retry must recognise the
write it made itself instead of taking it for someone else's (see tests/support/faults.py for the injection).

Each case is answered once with a 200, and the table holds exactly what one request writes.
"""
from __future__ import annotations

from tests.support.api import ok
from tests.support.calls import operation_is, writes_to
from tests.support.client import Caller
from tests.support.events import SEED_GROUP_UUID, load_event
from tests.support.faults import lose_responses
from tests.support.people import ANDREW, BAYKO
from tests.support.table import census, messages_in, pair_items, query_all


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
