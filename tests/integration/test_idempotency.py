"""``Idempotency-Key`` on POST /api/messages: a retry gets the first answer and writes nothing new."""
from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from cruddur_messaging.clock import utc_now
from cruddur_messaging.data import keys
from cruddur_messaging.data.idempotency import CreateMessageIdempotencyLayer
from cruddur_messaging.domain import create_message as create_message_module
from cruddur_messaging.errors import DependencyUnavailable
from devtools.environment import local_function_specs
from devtools.functions import handler_of
from devtools.lambda_runtime import LambdaContext
from tests.integration.test_postgres_outage import outage_server, own_postgres  # noqa: F401  (fixtures)
from tests.support.api import assert_error, header, ok
from tests.support.client import Caller
from tests.support.concurrency import separate_container, serialize_moto
from tests.support.containers import cold_start
from tests.support.events import SEED_GROUP_UUID, load_event, with_body
from tests.support.people import ANDREW, BAYKO
from tests.support.table import census, messages_in, scan_all, snapshot


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


def test_records_are_spread_one_partition_per_caller_and_key(aws, seeded) -> None:
    andrew, bayko = Caller(aws, ANDREW), Caller(aws, BAYKO)
    ok(andrew.send("one", group=SEED_GROUP_UUID, idempotency_key="key-1"))
    ok(andrew.send("two", group=SEED_GROUP_UUID, idempotency_key="key-2"))
    ok(bayko.send("one", group=SEED_GROUP_UUID, idempotency_key="key-1"))
    records = [item for item in scan_all(aws.table) if item["pk"].startswith("IDEMPOTENCY#")]
    assert len({record["pk"] for record in records}) == len(records) == 3
    for record in records:  # the partition is the request hash that ends Powertools' key
        assert record["pk"] == keys.idempotency_pk(record["sk"].rsplit("#", 1)[1])
        assert record["status"] == "COMPLETED"


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
    its message: it is told to come back (409 with ``Retry-After``), only the first request writes, and once it
    is done the key answers with its response."""
    other_container = separate_container(aws, "CreateMessageFunction", "retry")
    overlapping: list[dict] = []
    create = create_message_module._create

    def create_while_a_retry_arrives(sending, caller, request, plan):
        if not overlapping:
            overlapping.append(other_container(load_event("create-message-idempotent")))
        return create(sending, caller, request, plan)

    monkeypatch.setattr(create_message_module, "_create", create_while_a_retry_arrives)
    first = ok(aws.invoke("CreateMessageFunction", load_event("create-message-idempotent")))
    [retry] = overlapping
    assert_error(retry, 409, "request_in_progress")
    assert header(retry, "Retry-After") == "1"
    assert census(aws.table)["MSG#"] == len(seeded) + 1
    assert ok(aws.invoke("CreateMessageFunction", load_event("create-message-idempotent"))) == first


def test_a_concurrent_request_with_the_same_key_is_409_and_the_key_settles_on_the_first_answer(
        aws, seeded, monkeypatch) -> None:
    """Two containers at once with the same key: the first holds its in-progress record while the second comes
    in. The second is refused with ``Retry-After`` (its own record write must not pass for the first's), and a
    retry after the first finished gets the first's answer. moto serves one request at a time here (see
    tests/support/concurrency.py); the requests still interleave between calls."""
    serialize_moto(monkeypatch)
    second_container = separate_container(aws, "CreateMessageFunction", "concurrent")
    first_holds_the_key, second_answered = threading.Event(), threading.Event()
    create = create_message_module._create

    def create_slowly(sending, caller, request, plan):
        first_holds_the_key.set()
        assert second_answered.wait(timeout=20), "the second request never finished"
        return create(sending, caller, request, plan)

    monkeypatch.setattr(create_message_module, "_create", create_slowly)
    with ThreadPoolExecutor(max_workers=1) as pool:
        running = pool.submit(aws.invoke, "CreateMessageFunction", load_event("create-message-idempotent"))
        assert first_holds_the_key.wait(timeout=20)
        second = second_container(load_event("create-message-idempotent"))
        second_answered.set()
        first = ok(running.result(timeout=30))

    assert_error(second, 409, "request_in_progress")
    assert census(aws.table)["MSG#"] == len(seeded) + 1
    assert ok(second_container(load_event("create-message-idempotent"))) == first
    assert census(aws.table)["MSG#"] == len(seeded) + 1


def test_a_503_before_any_write_forgets_the_key_and_its_retry_simply_runs(aws, request) -> None:
    """PostgreSQL is down while the recipient is looked up: nothing was written, so nothing is in doubt; the
    record goes and the retry, once PostgreSQL is back, sends anew (a fresh message, not one dated from the 503)."""
    postgres = request.getfixturevalue("own_postgres")
    andrew = Caller(aws, ANDREW)
    ok(andrew.send("warm the container", handle="londo"))  # andrew is cached: only the recipient needs PostgreSQL
    postgres.stop()
    before = snapshot(aws.table)
    assert_error(andrew.send("Hello Bayko", handle="bayko", idempotency_key="pg-down"), 503, "dependency_unavailable")
    assert snapshot(aws.table) == before

    postgres.start()
    back_at = utc_now()
    started = ok(andrew.send("Hello Bayko", handle="bayko", idempotency_key="pg-down"))
    assert started["created_at"] > back_at
    [message] = messages_in(aws.table, started["message_group_uuid"])
    assert (message["message_uuid"], message["sk"]) == (started["uuid"], started["created_at"])
    assert ok(andrew.send("Hello Bayko", handle="bayko", idempotency_key="pg-down")) == started


def test_two_retries_taking_over_a_dead_requests_record_at_once_send_once(aws, seeded, monkeypatch) -> None:
    """The first request died (an exit in the middle of the use case: Powertools' handler never runs) and its lock
    expired. Two retries in two containers both find the record abandoned; the one whose takeover comes second
    is refused by its condition (the lock it read is gone) and gets the first's answer. moto serves one request
    at a time here (tests/support/concurrency.py)."""
    serialize_moto(monkeypatch)
    spec = local_function_specs(aws.resources, aws.stream_arn)["CreateMessageFunction"]
    create = create_message_module._create

    def die(sending, caller, request, plan):
        raise SystemExit("the execution environment is gone")

    monkeypatch.setattr(create_message_module, "_create", die)
    with pytest.raises(SystemExit):
        handler_of(spec)(load_event("create-message-idempotent"), LambdaContext(spec.logical_id, spec.memory_mb, 0.5))
    [record] = [item for item in scan_all(aws.table) if item["pk"].startswith("IDEMPOTENCY#")]
    assert record["status"] == "INPROGRESS"
    monkeypatch.setattr(create_message_module, "_create", create)
    time.sleep(0.6)

    other_container = separate_container(aws, "CreateMessageFunction", "other-retry")
    overlapping: list[dict] = []
    take_over = CreateMessageIdempotencyLayer._take_over
    takeovers = []

    def take_over_after_another_retry(layer, held, data_record):
        takeovers.append(held.in_progress_expiry_timestamp)
        if len(takeovers) == 1:  # the first retry, between reading the record and taking it over
            overlapping.append(other_container(load_event("create-message-idempotent")))
        return take_over(layer, held, data_record)

    monkeypatch.setattr(CreateMessageIdempotencyLayer, "_take_over", take_over_after_another_retry)
    first = ok(aws.invoke("CreateMessageFunction", load_event("create-message-idempotent")))

    [other] = overlapping
    assert ok(other) == first
    assert takeovers == [takeovers[0]] * 2  # both read the same abandoned record
    assert first["uuid"] == json.loads(record["plan"])["message_uuid"]
    sent = [item for item in messages_in(aws.table, SEED_GROUP_UUID)
            if item["message"] == "Sent exactly once, however often it is retried."]
    assert [item["message_uuid"] for item in sent] == [first["uuid"]]


@pytest.mark.filterwarnings("ignore:Couldn't determine the remaining time left")
def test_a_send_without_the_invocations_remaining_time_writes_no_record(aws, seeded) -> None:
    """Without the Lambda context the in-progress lock would have no expiry: a dead request would hold its key for
    the whole 24 hours. Such a record is refused (503), nothing is written."""
    sending = aws.container("CreateMessageFunction").message_sending
    sending.idempotency_config.lambda_context = None
    before = snapshot(aws.table)
    with pytest.raises(DependencyUnavailable):
        create_message_module.create_message(sending, ANDREW.user, create_message_module.NewMessageRequest(
            message="no lock", message_group_uuid=SEED_GROUP_UUID), idempotency_key="no-lock")
    assert snapshot(aws.table) == before
