"""Per-user send limits through CreateMessageFunction's handler: the 429, what a refused send leaves (nothing), the
retries that are never counted again nor refused (a replayed answer, a resumed send in doubt), new conversations,
other users, and two containers sharing the table.

The limits' clock is frozen (``epoch_microseconds`` of ``domain/send_limits.py``, looked up at each request) so that
no allowance comes back while a test runs, and moved by hand when a test waits. moto in-process applies requests
concurrently and not atomically, so the test of two containers racing serializes it (``serialize_moto``), as
DynamoDB applies each conditional update atomically; that both containers' sends go through one item, and not a
count of each, is what the test shows. The local stack (a moto server that serves one DynamoDB request at a time,
real execution environments) is flooded in ``local_stack/test_send_limits_flood.py``.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from cruddur_messaging.data import keys
from cruddur_messaging.domain import send_limits
from cruddur_messaging.domain.send_limits import NEW_CONVERSATION, SEND
from tests.support.api import assert_error, body, header, ok
from tests.support.calls import writes_to
from tests.support.client import Caller, create_message_event
from tests.support.clock import SECOND, MicrosecondClock
from tests.support.concurrency import separate_container, serialize_moto
from tests.support.faults import lose_responses
from tests.support.people import ANDREW, BAYKO, LONDO
from tests.support.table import census, messages_in, snapshot

BURST = 20  # the template's default SendBurst




@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> MicrosecondClock:
    frozen = MicrosecondClock()
    monkeypatch.setattr(send_limits, "epoch_microseconds", frozen)
    return frozen


def spent(aws, person, action: str = SEND) -> int | None:
    item = aws.table.get_item(Key=keys.limit_key(person.uuid, action), ConsistentRead=True).get("Item")
    return int(item["tat"]) if item else None


def group_of_bayko_and_andrew(aws) -> str:
    """Started by bayko: andrew's limits untouched."""
    return Caller(aws, BAYKO).start_conversation("andrewbrown", "Hello Andrew")


def test_past_the_burst_a_send_is_429_with_retry_after_stores_nothing_and_others_still_send(aws, clock) -> None:
    group = group_of_bayko_and_andrew(aws)
    andrew = Caller(aws, ANDREW)
    for number in range(BURST):
        ok(andrew.send(f"number {number}", group=group))
    before, allowance = snapshot(aws.table), spent(aws, ANDREW)

    refused = andrew.send("one too many", group=group)

    assert_error(refused, 429, "rate_limited")
    assert header(refused, "Retry-After") == "1"  # one interval, 0.2 s, in whole seconds
    assert body(refused)["message"].startswith("Too many messages: 20 at once, then 5 a second.")
    assert snapshot(aws.table) == before and spent(aws, ANDREW) == allowance  # nothing stored, nothing counted
    ok(Caller(aws, BAYKO).send("Slow down!", group=group))  # the other member is not affected
    clock.advance(0.2)
    ok(andrew.send("one more, later", group=group))
    assert len(messages_in(aws.table, group)) == 1 + BURST + 1 + 1


def test_a_keyed_send_refused_by_its_limit_leaves_its_key_free_for_later(aws, clock) -> None:
    group = group_of_bayko_and_andrew(aws)
    andrew = Caller(aws, ANDREW)
    for number in range(BURST):
        ok(andrew.send(f"number {number}", group=group))

    assert_error(andrew.send("keyed", group=group, idempotency_key="refused-then-sent"), 429, "rate_limited")
    assert census(aws.table).get("IDEMPOTENCY#", 0) == 0  # no record replays the refusal

    clock.advance(1)
    sent = ok(andrew.send("keyed", group=group, idempotency_key="refused-then-sent"))
    assert [item["message_uuid"] for item in messages_in(aws.table, group) if item["message"] == "keyed"] == [
        sent["uuid"]]


def test_an_accepted_sends_retries_are_neither_counted_nor_refused(aws, clock) -> None:
    group = group_of_bayko_and_andrew(aws)
    andrew = Caller(aws, ANDREW)
    first = ok(andrew.send("exactly once", group=group, idempotency_key="accepted"))
    for number in range(BURST - 1):
        ok(andrew.send(f"number {number}", group=group))
    allowance = spent(aws, ANDREW)
    assert_error(andrew.send("over", group=group), 429, "rate_limited")  # the limit is spent

    for _ in range(3):
        assert ok(andrew.send("exactly once", group=group, idempotency_key="accepted")) == first
    assert spent(aws, ANDREW) == allowance
    assert len([item for item in messages_in(aws.table, group) if item["message"] == "exactly once"]) == 1


def test_a_send_in_doubt_is_resumed_even_when_the_limit_is_spent_since_and_counted_once(aws, clock,
                                                                                         monkeypatch) -> None:
    group = group_of_bayko_and_andrew(aws)
    andrew = Caller(aws, ANDREW)
    with monkeypatch.context() as patch:
        lose_responses(patch, writes_to("MSG#"), times=3)  # applied on every attempt, never answered
        assert_error(andrew.send("in doubt", group=group, idempotency_key="in-doubt"), 503, "dependency_unavailable")
    for number in range(BURST - 1):  # the first attempt was counted: 19 more spend the burst
        ok(andrew.send(f"number {number}", group=group))
    allowance = spent(aws, ANDREW)
    assert_error(andrew.send("over", group=group), 429, "rate_limited")

    settled = ok(andrew.send("in doubt", group=group, idempotency_key="in-doubt"))

    assert spent(aws, ANDREW) == allowance
    stored = [item for item in messages_in(aws.table, group) if item["message"] == "in doubt"]
    assert [(item["message_uuid"], item["sk"]) for item in stored] == [(settled["uuid"], settled["created_at"])]


def test_new_conversations_past_their_limit_are_refused_while_sends_and_other_users_go_on(aws, clock,
                                                                                          monkeypatch) -> None:
    aws.deploy_with(monkeypatch, NewConversationBurst=1)
    andrew = Caller(aws, ANDREW)
    group = andrew.start_conversation("bayko", "Hello Bayko")
    before = snapshot(aws.table)

    refused = andrew.send("Hello Londo", handle="londo")

    assert_error(refused, 429, "rate_limited")
    assert header(refused, "Retry-After") == "6"  # 10 a minute: one every 6 s
    assert snapshot(aws.table) == before  # no pair, group, rows or message
    ok(andrew.send("Still talking to you", handle="bayko"))  # into the pair's group: only a send
    ok(andrew.send("And here", group=group))
    assert ok(Caller(aws, BAYKO).send("Hello Londo", handle="londo"))["message_group_uuid"]
    assert census(aws.table)["PAIR#"] == 2
    clock.advance(6)
    assert ok(andrew.send("Hello Londo", handle="londo"))["message_group_uuid"]
    assert spent(aws, ANDREW, NEW_CONVERSATION) == clock.now_us + 6 * SECOND


def test_two_containers_sharing_the_table_grant_one_burst_between_them(aws, clock, monkeypatch) -> None:
    """Each container alone would grant the whole burst; racing, they grant it once between them."""
    group = group_of_bayko_and_andrew(aws)
    serialize_moto(monkeypatch)
    containers = [separate_container(aws, "CreateMessageFunction", f"container{index}") for index in range(2)]
    events = [create_message_event(ANDREW, {"message_group_uuid": group, "message": f"from {index} #{number}"})
              for number in range(BURST) for index in range(2)]

    def send(numbered: tuple[int, dict[str, Any]]) -> dict[str, Any]:
        index, event = numbered
        return containers[index % 2](event)

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(send, enumerate(events)))

    statuses = sorted(response["statusCode"] for response in responses)
    assert statuses == [200] * BURST + [429] * BURST
    assert all(header(response, "Retry-After") for response in responses if response["statusCode"] == 429)
    by_container = {index: sum(1 for number, response in enumerate(responses)
                               if number % 2 == index and response["statusCode"] == 200) for index in range(2)}
    assert sum(by_container.values()) == BURST and all(by_container.values())  # both served, one burst in all
    stored = [item for item in messages_in(aws.table, group) if item["message"].startswith("from ")]
    assert sorted(item["message_uuid"] for item in stored) == sorted(
        body(response)["uuid"] for response in responses if response["statusCode"] == 200)
    assert spent(aws, ANDREW) == clock.now_us + BURST * SECOND // 5


def test_a_lost_race_for_a_new_pair_counts_the_send_once(aws, clock, monkeypatch) -> None:
    """Between the pair's read and the transaction, another request creates the pair's group: the send is checked
    again as a send into that group, which recognises it as counted."""
    from cruddur_messaging.data.messages import MessageStore

    create_group = MessageStore.create_group
    raced: list[str] = []

    def another_request_first(store: MessageStore, *args: Any, **kwargs: Any) -> Any:
        if not raced:
            raced.append("racing")
            raced[0] = Caller(aws, LONDO).start_conversation("andrewbrown", "I was first")
        return create_group(store, *args, **kwargs)

    monkeypatch.setattr(MessageStore, "create_group", another_request_first)
    sent = ok(Caller(aws, ANDREW).send("Hello Londo", handle="londo"))

    assert sent["message_group_uuid"] == raced[0]
    assert spent(aws, ANDREW) == clock.now_us + SECOND // 5  # one send
    assert spent(aws, ANDREW, NEW_CONVERSATION) == clock.now_us + 6 * SECOND
