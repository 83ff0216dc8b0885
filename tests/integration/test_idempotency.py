"""``Idempotency-Key`` on POST /api/messages: a retry gets the first answer and writes nothing new."""
from __future__ import annotations

from cruddur_messaging.domain import create_message as create_message_module
from tests.support.api import assert_error, ok
from tests.support.client import Caller
from tests.support.concurrency import separate_container
from tests.support.containers import cold_start
from tests.support.events import SEED_GROUP_UUID, load_event, with_body
from tests.support.people import ANDREW, BAYKO
from tests.support.table import census, messages_in, snapshot


def test_retry_with_the_same_key_and_body_returns_the_first_response(aws, seeded) -> None:
    first = aws.invoke("CreateMessageFunction", load_event("create-message-idempotent"))
    after_first = snapshot(aws.table)
    for _ in range(3):
        retry = aws.invoke("CreateMessageFunction", load_event("create-message-idempotent"))
        assert ok(retry) == ok(first)
    assert snapshot(aws.table) == after_first
    sent = [item for item in messages_in(aws.table, SEED_GROUP_UUID)
            if item["message"] == "Sent exactly once, however often it is retried."]
    assert [item["message_uuid"] for item in sent] == [ok(first)["uuid"]]


def test_retry_from_a_cold_container_is_still_recognised(aws, seeded) -> None:
    first = ok(aws.invoke("CreateMessageFunction", load_event("create-message-idempotent")))
    cold_start()
    assert ok(aws.invoke("CreateMessageFunction", load_event("create-message-idempotent"))) == first
    assert census(aws.table)["MSG#"] == len(seeded) + 1


def test_same_key_with_another_body_is_422_and_writes_nothing(aws, seeded) -> None:
    ok(aws.invoke("CreateMessageFunction", load_event("create-message-idempotent")))
    before = snapshot(aws.table)
    other = with_body(load_event("create-message-idempotent"),
                      {"message_group_uuid": SEED_GROUP_UUID, "message": "A different message."})
    assert_error(aws.invoke("CreateMessageFunction", other), 422, "idempotency_key_reused")
    assert snapshot(aws.table) == before


def test_the_key_belongs_to_the_caller(aws, seeded) -> None:
    andrew, bayko = Caller(aws, ANDREW), Caller(aws, BAYKO)
    mine = ok(andrew.send("same words", group=SEED_GROUP_UUID, idempotency_key="shared-key"))
    theirs = ok(bayko.send("same words", group=SEED_GROUP_UUID, idempotency_key="shared-key"))
    assert mine["uuid"] != theirs["uuid"] and (mine["handle"], theirs["handle"]) == ("andrewbrown", "bayko")
    assert census(aws.table)["MSG#"] == len(seeded) + 2


def test_other_keys_are_other_messages(aws, seeded) -> None:
    andrew = Caller(aws, ANDREW)
    first = ok(andrew.send("again", group=SEED_GROUP_UUID, idempotency_key="key-1"))
    second = ok(andrew.send("again", group=SEED_GROUP_UUID, idempotency_key="key-2"))
    third = ok(andrew.send("again", group=SEED_GROUP_UUID))
    assert len({first["uuid"], second["uuid"], third["uuid"]}) == 3


def test_idempotent_start_of_a_conversation(aws) -> None:
    andrew = Caller(aws, ANDREW)
    first = andrew.send("Hello Londo", handle="@londo", idempotency_key="start-1")
    after_first = snapshot(aws.table)
    retry = andrew.send("Hello Londo", handle="londo", idempotency_key="start-1")  # same request, other spelling
    assert ok(retry) == ok(first) and "message_group_uuid" in ok(retry)
    assert snapshot(aws.table) == after_first
    assert census(aws.table) == {"PAIR#": 1, "GROUP#": 1, "GRP#": 2, "MSG#": 1, "IDEMPOTENCY#": 1}


def test_a_refused_request_does_not_burn_its_key(aws, seeded) -> None:
    """A 4xx from the use case stores no answer: the same key still works for a valid request."""
    andrew = Caller(aws, ANDREW)
    assert_error(andrew.send("Hello?", handle="nobody-by-that-name", idempotency_key="key-x"), 404, "user_not_found")
    assert census(aws.table).get("IDEMPOTENCY#", 0) == 0
    assert ok(andrew.send("Hello?", handle="bayko", idempotency_key="key-x"))["message_group_uuid"] == SEED_GROUP_UUID


def test_a_retry_while_the_first_request_is_still_running_is_409(aws, seeded, monkeypatch) -> None:
    """The retry arrives (in another container) while the first request is between its idempotency record and
    its message: it is told to come back, and only the first request writes."""
    other_container = separate_container(aws, "CreateMessageFunction", "retry")
    overlapping: list[dict] = []
    create = create_message_module._create

    def create_while_a_retry_arrives(caller, request):
        if not overlapping:
            overlapping.append(other_container(load_event("create-message-idempotent")))
        return create(caller, request)

    monkeypatch.setattr(create_message_module, "_create", create_while_a_retry_arrives)
    first = ok(aws.invoke("CreateMessageFunction", load_event("create-message-idempotent")))
    [retry] = overlapping
    assert_error(retry, 409, "request_in_progress")
    assert census(aws.table)["MSG#"] == len(seeded) + 1
    assert ok(aws.invoke("CreateMessageFunction", load_event("create-message-idempotent"))) == first
