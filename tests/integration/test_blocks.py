"""Blocking (issue 22, docs/http-api.md "Blocks"): the routes, what a block does to sends both ways, keyed sends,
tutorial-era data, and races between blocks and sends, run against the real handlers on moto."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import psycopg2
import pytest

from cruddur_messaging.data.blocks import BlockStore
from devtools.stream_reader import STREAM_FUNCTION, StreamReader
from tests.support.api import assert_error, ok
from tests.support.calls import writes_to
from tests.support.client import Caller, block_event, create_message_event
from tests.support.concurrency import metrics_disabled, separate_container, serialize_moto  # noqa: F401 - fixture
from tests.support.events import SEED_GROUP_UUID
from tests.support.faults import lose_responses
from tests.support.people import ANDREW, BAYKO, LONDO
from tests.support.table import census, messages_in, query_all, snapshot

BAYKO_CARD = {"handle": BAYKO.handle, "display_name": BAYKO.display_name}
ANDREW_CARD = {"handle": ANDREW.handle, "display_name": ANDREW.display_name}


@pytest.fixture
def run_stream(aws) -> Callable[[], None]:
    """Pattern E over the messages since the last run, as the local stack's poller would: one reader for the test,
    so a later run does not replay what an earlier one applied (a replay would give the rows new versions)."""
    reader = StreamReader(aws.stream_arn, aws.resources)

    def run() -> None:
        if records := reader.new_message_inserts():
            assert aws.invoke(STREAM_FUNCTION, {"Records": records}) == {"batchItemFailures": []}

    return run


def block_items(aws) -> list[dict]:
    """Both sides of every block: the blockers' list items and the items in the pairs' partitions."""
    return [item for item in snapshot(aws.table)
            if item["pk"].startswith("BLOCK#") or item["sk"].startswith("BLOCKED_BY#")]


@pytest.fixture
def andrew(aws) -> Caller:
    return Caller(aws, ANDREW)


@pytest.fixture
def bayko(aws) -> Caller:
    return Caller(aws, BAYKO)


def test_a_blocked_sender_is_refused_everywhere_and_nothing_is_stored(aws, andrew, bayko, run_stream) -> None:
    group = andrew.start_conversation("bayko", "hello")
    ok(bayko.send("hi back", group=group))
    run_stream()
    bayko_list = ok(bayko.list_groups())
    assert ok(bayko.block("@andrewbrown")) == {**ANDREW_CARD, "blocked": True}
    before = snapshot(aws.table)

    for refused in (andrew.send("into the group", group=group), andrew.send("by handle", handle="bayko"),
                    andrew.send("keyed", group=group, idempotency_key="k1")):
        error = assert_error(refused, 403, "recipient_unavailable")
        assert "block" not in error["message"].lower()  # the blocked sender is not told why
    assert_error(bayko.send("the last word", group=group), 403, "user_blocked")
    assert_error(bayko.send("by handle", handle="andrewbrown"), 403, "user_blocked")

    assert snapshot(aws.table) == before  # no message, no idempotency record, nothing
    run_stream()
    assert ok(bayko.list_groups()) == bayko_list  # unread counts unchanged
    assert [m["message"] for m in ok(bayko.list_messages(group))] == ["hello", "hi back"]  # both still read it
    assert [m["message"] for m in ok(andrew.list_messages(group))] == ["hello", "hi back"]


def test_unblocking_restores_sending_both_ways_and_nothing_was_lost(aws, andrew, bayko) -> None:
    group = andrew.start_conversation("bayko", "hello")
    ok(bayko.block("andrewbrown"))
    assert_error(andrew.send("refused", group=group), 403, "recipient_unavailable")
    assert ok(bayko.unblock("andrewbrown")) == {**ANDREW_CARD, "blocked": False}

    assert block_items(aws) == []
    ok(andrew.send("again", group=group))
    assert ok(andrew.send("by handle", handle="bayko"))["message_group_uuid"] == group
    ok(bayko.send("welcome back", group=group))
    assert [item["message"] for item in messages_in(aws.table, group)] == [
        "hello", "again", "by handle", "welcome back"]


def test_a_block_refuses_a_new_conversation_and_creates_no_group(aws) -> None:
    londo = Caller(aws, LONDO)
    ok(londo.block("andrewbrown"))
    before = census(aws.table)
    assert_error(Caller(aws, ANDREW).send("hello", handle="londo"), 403, "recipient_unavailable")
    assert_error(londo.send("hello", handle="andrewbrown"), 403, "user_blocked")
    assert census(aws.table) == before == {"BLOCK#": 1, "PAIR#": 1}  # the block's two items, no pair item
    ok(londo.unblock("andrewbrown"))
    group = Caller(aws, ANDREW).start_conversation("londo", "hello at last")
    assert [item["message"] for item in messages_in(aws.table, group)] == ["hello at last"]


def test_either_block_refuses_and_the_blocker_learns_of_their_own_first(aws, andrew, bayko) -> None:
    group = andrew.start_conversation("bayko")
    ok(bayko.block("andrewbrown"))
    ok(andrew.block("bayko"))
    assert_error(andrew.send("x", group=group), 403, "user_blocked")
    ok(andrew.unblock("bayko"))
    assert_error(andrew.send("x", group=group), 403, "recipient_unavailable")
    ok(bayko.unblock("andrewbrown"))
    ok(andrew.send("x", group=group))


def test_blocking_is_idempotent_and_keeps_its_first_time(aws, andrew, bayko) -> None:
    first = ok(bayko.block("andrewbrown"))
    items = block_items(aws)
    assert ok(bayko.block("@andrewbrown")) == first
    assert block_items(aws) == items  # the same two items, created_at unchanged
    assert [(item["pk"], item["sk"]) for item in items] == sorted([
        (f"BLOCK#{BAYKO.uuid}", ANDREW.uuid),
        (f"PAIR#{min(ANDREW.uuid, BAYKO.uuid)}#{max(ANDREW.uuid, BAYKO.uuid)}", f"BLOCKED_BY#{BAYKO.uuid}")])
    assert ok(bayko.unblock("andrewbrown")) == ok(bayko.unblock("andrewbrown")) == {**ANDREW_CARD, "blocked": False}
    assert ok(andrew.unblock("bayko")) == {**BAYKO_CARD, "blocked": False}  # never blocked: the same answer
    assert block_items(aws) == []


def test_the_list_names_whom_i_block_with_their_current_names(aws, postgres, bayko) -> None:
    assert ok(bayko.blocks()) == []
    ok(bayko.block("londo"))
    ok(bayko.block("andrewbrown"))
    assert ok(Caller(aws, LONDO).blocks()) == []  # a block is its blocker's
    connection = psycopg2.connect(postgres.database_url)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("UPDATE users SET display_name = 'Ambassador Mollari' WHERE handle = 'londo'")
        assert ok(bayko.blocks()) == [ANDREW_CARD, {"handle": "londo", "display_name": "Ambassador Mollari"}]
    finally:
        with connection.cursor() as cursor:
            cursor.execute("UPDATE users SET display_name = %s WHERE handle = 'londo'", (LONDO.display_name,))
        connection.close()
    ok(bayko.unblock("londo"))
    assert ok(bayko.blocks()) == [ANDREW_CARD]


@pytest.mark.parametrize(("handle", "status", "code"), [
    ("andrewbrown", 422, "block_self"), ("@andrewbrown", 422, "block_self"), ("nobody", 404, "user_not_found"),
    ("not a handle!", 400, "invalid_handle")])
@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_bad_targets_are_refused_and_write_nothing(aws, method, handle, status, code) -> None:
    before = snapshot(aws.table)
    assert_error(aws.invoke("BlocksFunction", block_event(ANDREW, handle, method)), status, code)
    assert snapshot(aws.table) == before


def test_a_keyed_send_refused_by_a_block_is_not_replayed_after_unblocking(aws, andrew, bayko) -> None:
    """Powertools deletes the in-progress record when the function raises (a refusal writes nothing to settle), so
    the same key and body after unblocking is a new attempt: it is sent, once."""
    group = andrew.start_conversation("bayko")
    ok(bayko.block("andrewbrown"))
    assert_error(andrew.send("keyed", group=group, idempotency_key="k"), 403, "recipient_unavailable")
    assert census(aws.table)["IDEMPOTENCY#"] == 0
    ok(bayko.unblock("andrewbrown"))
    sent = ok(andrew.send("keyed", group=group, idempotency_key="k"))
    assert ok(andrew.send("keyed", group=group, idempotency_key="k")) == sent
    assert [item["message_uuid"] for item in messages_in(aws.table, group)][1:] == [sent["uuid"]]


def test_a_keyed_send_accepted_before_the_block_replays_its_answer_and_stores_nothing(aws, andrew, bayko) -> None:
    group = andrew.start_conversation("bayko")
    sent = ok(andrew.send("just in time", group=group, idempotency_key="k"))
    ok(bayko.block("andrewbrown"))
    before = snapshot(aws.table)
    assert ok(andrew.send("just in time", group=group, idempotency_key="k")) == sent  # the first answer
    assert snapshot(aws.table) == before


def test_a_tutorial_era_conversation_is_blocked_too(aws, seeded, andrew, bayko) -> None:
    """No pair or membership item yet: the block is in the pair's partition all the same, and a refused send by
    handle does not even record the pair (its tutorial fallback is not run)."""
    ok(bayko.block("andrewbrown"))
    before = census(aws.table)
    assert_error(andrew.send("by handle", handle="bayko"), 403, "recipient_unavailable")
    assert census(aws.table) == before
    assert_error(andrew.send("into the group", group=SEED_GROUP_UUID), 403, "recipient_unavailable")
    assert len(messages_in(aws.table, SEED_GROUP_UUID)) == len(seeded)
    ok(bayko.unblock("andrewbrown"))
    assert ok(andrew.send("by handle", handle="bayko"))["message_group_uuid"] == SEED_GROUP_UUID


SENDERS = 6


@pytest.mark.usefixtures("metrics_disabled")
def test_sends_racing_a_block_are_each_stored_once_or_refused_with_nothing_stored(aws, monkeypatch) -> None:
    """Sends from separate containers race a block. Each send is either accepted (and stored exactly once) or
    refused (and stored nowhere); once the block has answered, every send is refused."""
    serialize_moto(monkeypatch)
    group = Caller(aws, ANDREW).start_conversation("bayko", "before")
    senders = [separate_container(aws, "CreateMessageFunction", f"sender{index}") for index in range(SENDERS)]
    blocker = separate_container(aws, "BlocksFunction", "blocker")
    start = threading.Barrier(SENDERS + 1, timeout=20)

    def send(index: int) -> dict:
        start.wait()
        return senders[index](create_message_event(ANDREW, {"message": f"racer {index}",
                                                            "message_group_uuid": group}))

    def block() -> dict:
        start.wait()
        return blocker(block_event(BAYKO, "andrewbrown"))

    with ThreadPoolExecutor(SENDERS + 1) as pool:
        sends = [pool.submit(send, index) for index in range(SENDERS)]
        blocked = pool.submit(block)
        responses = [future.result() for future in sends]
        ok(blocked.result())

    accepted = [ok(response) for response in responses if response["statusCode"] == 200]
    refused = [assert_error(response, 403, "recipient_unavailable")
               for response in responses if response["statusCode"] != 200]
    assert len(accepted) + len(refused) == SENDERS
    stored = messages_in(aws.table, group)[1:]
    assert sorted(item["message_uuid"] for item in stored) == sorted(body["uuid"] for body in accepted)
    assert_error(senders[0](create_message_event(ANDREW, {"message": "after", "message_group_uuid": group})),
                 403, "recipient_unavailable")


@pytest.mark.usefixtures("metrics_disabled")
def test_concurrent_blocks_and_unblocks_never_leave_the_two_sides_apart(aws, monkeypatch) -> None:
    """Two blocks, and blocks racing unblocks, from separate containers: the list item and the pair's item are
    written in one transaction, so whatever order they land in, both exist or neither does, and a send agrees."""
    serialize_moto(monkeypatch)
    group = Caller(aws, ANDREW).start_conversation("bayko", "before")
    methods = ["POST", "POST", "DELETE", "POST", "DELETE", "POST"]
    containers = [separate_container(aws, "BlocksFunction", f"blocks{index}") for index in range(len(methods))]
    start = threading.Barrier(len(methods), timeout=20)

    def call(index: int) -> dict:
        start.wait()
        return containers[index](block_event(BAYKO, "andrewbrown", methods[index]))

    with ThreadPoolExecutor(len(methods)) as pool:
        responses = list(pool.map(call, range(len(methods))))
    assert all(response["statusCode"] == 200 for response in responses), responses

    sides = {(item["pk"].split("#")[0], item["sk"].split("#")[0]) for item in block_items(aws)}
    assert sides in (set(), {("BLOCK", ANDREW.uuid.split("#")[0]), ("PAIR", "BLOCKED_BY")})
    send = Caller(aws, ANDREW).send("after the dust settles", group=group)
    if sides:
        assert_error(send, 403, "recipient_unavailable")
        assert ok(Caller(aws, BAYKO).blocks()) == [ANDREW_CARD]
    else:
        ok(send)
        assert ok(Caller(aws, BAYKO).blocks()) == []


def test_a_block_then_unblock_then_block_ends_blocked(aws, andrew, bayko) -> None:
    group = andrew.start_conversation("bayko")
    for _ in range(2):
        ok(bayko.block("andrewbrown"))
        ok(bayko.unblock("andrewbrown"))
    ok(bayko.block("andrewbrown"))
    assert_error(andrew.send("x", group=group), 403, "recipient_unavailable")
    assert len(query_all(aws.table, f"BLOCK#{BAYKO.uuid}")) == 1


@pytest.mark.usefixtures("metrics_disabled")
def test_a_send_checked_before_the_block_committed_lands_and_none_checked_after(aws, monkeypatch) -> None:
    """What the race guarantees (docs/http-api.md, "Blocks"): a send whose check ran before the block committed is
    ordered before it and lands, once; every send checked after the block's answer is refused."""
    serialize_moto(monkeypatch)
    group = Caller(aws, ANDREW).start_conversation("bayko", "before")
    checked, blocked = threading.Event(), threading.Event()
    blockers = BlockStore.blockers

    def check_then_wait_for_the_block(store, user_uuid, other_user_uuid):
        found = blockers(store, user_uuid, other_user_uuid)
        checked.set()
        assert blocked.wait(20)
        return found

    monkeypatch.setattr(BlockStore, "blockers", check_then_wait_for_the_block)
    sender = separate_container(aws, "CreateMessageFunction", "in-flight")
    with ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(sender, create_message_event(ANDREW, {"message": "in flight",
                                                                      "message_group_uuid": group}))
        assert checked.wait(20)
        ok(Caller(aws, BAYKO).block("andrewbrown"))
        blocked.set()
        landed = ok(in_flight.result())
    monkeypatch.setattr(BlockStore, "blockers", blockers)

    assert_error(Caller(aws, ANDREW).send("after", group=group), 403, "recipient_unavailable")
    assert [item["message_uuid"] for item in messages_in(aws.table, group)][1:] == [landed["uuid"]]


def test_a_send_in_doubt_retried_while_blocked_stays_unsettled_and_settles_once_after(aws, andrew, bayko) -> None:
    """The first attempt's message was stored but never answered (a 503 in doubt); the block comes before its retry.
    The retry is checked like a new send and refused, its record kept with the plan; after unblocking the retry
    settles it: the stored message, with the first attempt's uuid, and no second one."""
    group = andrew.start_conversation("bayko")
    with pytest.MonkeyPatch.context() as patch:
        lose_responses(patch, writes_to("MSG#"), times=3)
        assert_error(andrew.send("in doubt", group=group, idempotency_key="k"), 503, "dependency_unavailable")
    ok(bayko.block("andrewbrown"))
    assert_error(andrew.send("in doubt", group=group, idempotency_key="k"), 403, "recipient_unavailable")
    [record] = [item for item in snapshot(aws.table) if item["pk"].startswith("IDEMPOTENCY#")]
    assert record["status"] == "OUTCOME_UNKNOWN"
    ok(bayko.unblock("andrewbrown"))
    settled = ok(andrew.send("in doubt", group=group, idempotency_key="k"))
    stored = [item for item in messages_in(aws.table, group) if item["message"] == "in doubt"]
    assert [item["message_uuid"] for item in stored] == [settled["uuid"]]
