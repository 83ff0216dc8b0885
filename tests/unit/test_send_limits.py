"""The send limits' algorithm (``domain/send_limits.py`` over ``data/send_limits.py``) against moto's table from
template.yaml, with a clock the test moves: a burst, then the steady rate, Retry-After, the calls each case costs,
lost responses, and the settings read at cold start. Sequential calls only: moto in-process is not atomic under
concurrency (that is shown on the local stack, ``tests/integration/local_stack/test_send_limits_flood.py``)."""
from __future__ import annotations

from dataclasses import replace

import pytest

from cruddur_messaging.config import ConfigurationError, SendLimitSettings
from cruddur_messaging.data import keys
from cruddur_messaging.data.send_limits import LimitStore
from cruddur_messaging.domain.send_limits import NEW_CONVERSATION, SEND, SendLimits
from cruddur_messaging.errors import RateLimited
from tests.support import people
from tests.support.calls import operation_is, record_calls
from tests.support.clock import SECOND, MicrosecondClock
from tests.support.faults import lose_responses

ANDREW, BAYKO = people.ANDREW.user, people.BAYKO.user
DEFAULTS = SendLimitSettings(send_burst=20, send_rate_per_second=5, new_conversation_burst=5,
                             new_conversation_rate_per_minute=10)




@pytest.fixture
def clock() -> MicrosecondClock:
    return MicrosecondClock()


def limits(aws, clock: MicrosecondClock, settings: SendLimitSettings = DEFAULTS, resumed: bool = False) -> SendLimits:
    return SendLimits(LimitStore(aws.table), settings, resumed=lambda: resumed, clock=clock)


class Requests:
    """Distinct requests, as distinct sends are (each its own planned message uuid)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> str:
        self.count += 1
        return f"message-{self.count}"


def admitted(send_limits: SendLimits, requests: Requests, sends: int, *, user=ANDREW,
             new_conversation: bool = False) -> list[int | None]:
    """For each send, None when admitted or its Retry-After."""
    answers: list[int | None] = []
    for _ in range(sends):
        try:
            send_limits.admit(user, requests(), new_conversation=new_conversation)
            answers.append(None)
        except RateLimited as refused:
            answers.append(refused.retry_after_seconds)
    return answers


def tat(aws, user, action: str) -> int | None:
    item = aws.table.get_item(Key=keys.limit_key(user.uuid, action), ConsistentRead=True).get("Item")
    return int(item["tat"]) if item else None


def test_exactly_the_burst_is_admitted_at_once_then_one_interval_at_a_time(aws, clock) -> None:
    send_limits, requests = limits(aws, clock), Requests()

    assert admitted(send_limits, requests, 21) == [None] * 20 + [1]  # the 21st waits one interval (0.2 s): 1 s
    clock.advance(0.2)
    assert admitted(send_limits, requests, 2) == [None, 1]
    clock.advance(1.0)  # five intervals: five more, the sixth refused
    assert admitted(send_limits, requests, 6) == [None] * 5 + [1]


def test_the_steady_rate_is_admitted_forever_and_a_pause_refills_the_burst(aws, clock) -> None:
    send_limits, requests = limits(aws, clock), Requests()
    for _ in range(50):  # 5 a second, for 10 s: never refused
        assert admitted(send_limits, requests, 1) == [None]
        clock.advance(0.2)
    clock.advance(4.0)  # 20 intervals idle: the whole burst is back, and no more
    assert admitted(send_limits, requests, 21) == [None] * 20 + [1]


def test_retry_after_is_the_whole_seconds_until_the_next_send_fits(aws, clock) -> None:
    settings = replace(DEFAULTS, new_conversation_burst=2, new_conversation_rate_per_minute=1)
    send_limits, requests = limits(aws, clock, settings), Requests()

    assert admitted(send_limits, requests, 3, new_conversation=True) == [None, None, 60]
    clock.advance(59.5)
    assert admitted(send_limits, requests, 1, new_conversation=True) == [1]  # half a second: still a whole one
    clock.advance(0.5)
    assert admitted(send_limits, requests, 2, new_conversation=True) == [None, 60]


def test_a_refused_send_counts_nothing(aws, clock) -> None:
    send_limits, requests = limits(aws, clock), Requests()
    admitted(send_limits, requests, 20)
    spent = tat(aws, ANDREW, SEND)
    assert admitted(send_limits, requests, 5) == [1] * 5
    assert tat(aws, ANDREW, SEND) == spent


def test_a_new_conversation_counts_against_both_limits_and_gives_its_count_back_when_sends_refuse(aws,
                                                                                              clock) -> None:
    send_limits, requests = limits(aws, clock), Requests()
    assert admitted(send_limits, requests, 1, new_conversation=True) == [None]
    assert (tat(aws, ANDREW, NEW_CONVERSATION), tat(aws, ANDREW, SEND)) == (clock.now_us + 6 * SECOND,
                                                                            clock.now_us + SECOND // 5)
    admitted(send_limits, requests, 19)  # the send limit spent
    conversations = tat(aws, ANDREW, NEW_CONVERSATION)

    assert admitted(send_limits, requests, 1, new_conversation=True) == [1]  # refused by the send limit...
    assert tat(aws, ANDREW, NEW_CONVERSATION) == conversations  # ...which gave the conversation's count back
    clock.advance(0.2)
    assert admitted(send_limits, requests, 4, new_conversation=True) == [None, 1, 1, 1]


def test_new_conversations_past_their_limit_are_refused_while_sends_go_on(aws, clock) -> None:
    send_limits, requests = limits(aws, clock), Requests()
    assert admitted(send_limits, requests, 6, new_conversation=True) == [None] * 5 + [6]  # 6 s: one a minute / 10
    assert admitted(send_limits, requests, 15) == [None] * 15  # the refused one spent no send


def test_other_users_are_never_affected(aws, clock) -> None:
    send_limits, requests = limits(aws, clock), Requests()
    admitted(send_limits, requests, 25)
    admitted(send_limits, requests, 6, new_conversation=True)
    assert admitted(send_limits, requests, 5, user=BAYKO, new_conversation=True) == [None] * 5
    assert admitted(send_limits, requests, 15, user=BAYKO) == [None] * 15


def test_one_request_checked_twice_is_counted_once(aws, clock) -> None:
    """A send that lost the race for a new pair is checked again as a send into the pair's group."""
    send_limits = limits(aws, clock)
    send_limits.admit(ANDREW, "the-request", new_conversation=True)
    spent = (tat(aws, ANDREW, SEND), tat(aws, ANDREW, NEW_CONVERSATION))
    send_limits.admit(ANDREW, "the-request")
    assert (tat(aws, ANDREW, SEND), tat(aws, ANDREW, NEW_CONVERSATION)) == spent


def test_a_resumed_request_is_neither_counted_nor_refused(aws, clock, monkeypatch) -> None:
    admitted(limits(aws, clock), Requests(), 25)
    spent = tat(aws, ANDREW, SEND)
    calls = record_calls(monkeypatch)
    limits(aws, clock, resumed=True).admit(ANDREW, "resumed-request", new_conversation=True)
    assert calls.dynamodb() == [] and tat(aws, ANDREW, SEND) == spent


def test_the_common_path_is_one_update_a_burst_two_and_a_refusal_one(aws, clock, monkeypatch) -> None:
    send_limits, requests = limits(aws, clock), Requests()
    calls = record_calls(monkeypatch)
    admitted(send_limits, requests, 1)
    assert calls.dynamodb() == ["UpdateItem"]
    calls.clear()
    admitted(send_limits, requests, 19)
    assert calls.dynamodb() == ["UpdateItem", "UpdateItem"] * 19
    calls.clear()
    assert admitted(send_limits, requests, 1) == [1]
    assert calls.dynamodb() == ["UpdateItem"]
    calls.clear()
    clock.advance(10)
    admitted(send_limits, requests, 1)
    assert calls.dynamodb() == ["UpdateItem"]


@pytest.mark.parametrize("spent_before", [0, 5], ids=["afresh", "incremented"])
def test_an_update_whose_response_is_lost_is_counted_once(aws, clock, monkeypatch, spent_before: int) -> None:
    """DynamoDB applied it, the response was lost, the SDK resent it: the resend finds its own writer."""
    send_limits, requests = limits(aws, clock), Requests()
    admitted(send_limits, requests, spent_before)
    before = tat(aws, ANDREW, SEND) or clock.now_us
    faults = lose_responses(monkeypatch, operation_is("UpdateItem"), times=1 if spent_before == 0 else 2)

    send_limits.admit(ANDREW, requests())

    assert faults.lost  # the fault happened
    assert tat(aws, ANDREW, SEND) == before + SECOND // 5


def test_the_item_expires_once_it_means_a_whole_allowance_and_such_an_item_is_read_as_none(aws, clock) -> None:
    send_limits, requests = limits(aws, clock), Requests()
    admitted(send_limits, requests, 3)
    item = aws.table.get_item(Key=keys.limit_key(ANDREW.uuid, SEND))["Item"]
    assert int(item["expiration"]) * SECOND >= int(item["tat"])  # TTL never deletes an allowance still spent
    assert int(item["expiration"]) <= -(-(clock.now_us + 20 * SECOND // 5) // SECOND)
    clock.advance(3600)  # expired, not deleted yet (TTL deletes within days): as good as no item
    assert admitted(send_limits, requests, 21) == [None] * 20 + [1]


@pytest.mark.parametrize("name, value", [("SEND_BURST", None), ("SEND_RATE_PER_SECOND", "0"),
                                         ("NEW_CONVERSATION_BURST", "-1"), ("NEW_CONVERSATION_RATE_PER_MINUTE", "2.5")])
def test_the_settings_are_required_positive_whole_numbers(name: str, value: str | None) -> None:
    environ = {"SEND_BURST": "20", "SEND_RATE_PER_SECOND": "5", "NEW_CONVERSATION_BURST": "5",
               "NEW_CONVERSATION_RATE_PER_MINUTE": "10"}
    assert SendLimitSettings.from_environment(environ) == DEFAULTS
    if value is None:
        del environ[name]
    else:
        environ[name] = value
    with pytest.raises(ConfigurationError, match=name):
        SendLimitSettings.from_environment(environ)


def test_a_bad_limit_fails_create_messages_cold_start_naming_it(aws, monkeypatch) -> None:
    from tests.support.containers import cold_start

    cold_start()
    monkeypatch.setenv("SEND_RATE_PER_SECOND", "fast")
    with pytest.raises(ConfigurationError, match="SEND_RATE_PER_SECOND"):
        aws.container("CreateMessageFunction")
    monkeypatch.setenv("SEND_RATE_PER_SECOND", "5")
    assert aws.container("CreateMessageFunction").limit_settings == DEFAULTS
