"""``make load``'s correctness part, short: a few clients for a few seconds against ``make dev``'s stack (a process
of its own on free ports), then every check of ``bench.load`` must hold: nothing lost, duplicated or leaked,
nothing stored for a refused send, every group's rows converged. It asserts correctness, never speed. The same
holds while a busy CreateMessageFunction execution environment is SIGKILLed every few seconds (``--kill-every``),
the clients retrying what the kills cut off.

The checks themselves are shown to fail on what they must catch, with hand-made records (no stack needed).
"""
from __future__ import annotations

import io

from bench.load import report, run_load, unexpected_statuses
from bench.load_checks import Findings, GroundTruth, check_responses, check_sends
from bench.load_traffic import LIST_GROUPS, LIST_MESSAGES, RETRY, SEND, Exchange, Send
from devtools.local_stack.launch import RunningStack

CLIENTS = 4
SECONDS = 4.0
CONVERGE_SECONDS = 30.0
FAULT_SECONDS = 8.0
KILL_EVERY_SECONDS = 2.0
GROUP = "5ae290ed-55d1-47a0-bc6d-fe2bc2700399"
OTHER_GROUP = "9ddc287d-e845-4d46-b2d7-7bd72dd954bb"
TAG = "load abc123 "


def test_a_short_load_loses_duplicates_and_leaks_nothing_and_every_group_converges(stack: RunningStack) -> None:
    result = run_load(stack.info, clients=CLIENTS, seconds=SECONDS, converge_seconds=CONVERGE_SECONDS, seed=8)
    printed = io.StringIO()
    report(result, printed)
    summary = printed.getvalue()
    findings = result.findings

    # The run did every kind of send it checks, so the zeros below mean something.
    assert findings.sent and findings.refused and findings.retries and findings.starts, summary
    assert (findings.lost, findings.duplicated, findings.mismatched, findings.unknown_stored_twice) == (0, 0, 0, 0), \
        summary
    assert (findings.refused_stored, findings.not_refused, findings.stray_items) == (0, 0, 0), summary
    assert (findings.retries_answered_differently, findings.unsettled) == (0, 0), summary
    assert findings.responses_checked, summary
    assert findings.leaked == 0, summary
    assert findings.pairs_in_several_groups == 0, summary
    assert findings.groups, summary
    assert findings.groups_converged == findings.groups, summary
    assert result.unexpected == [], summary
    assert result.passed and summary.rstrip().endswith("PASS"), summary


def test_a_load_whose_send_workers_are_killed_loses_and_duplicates_nothing(stack: RunningStack) -> None:
    result = run_load(stack.info, clients=CLIENTS, seconds=FAULT_SECONDS, converge_seconds=CONVERGE_SECONDS, seed=18,
                      kill_every=KILL_EVERY_SECONDS)
    printed = io.StringIO()
    report(result, printed)
    summary = printed.getvalue()
    findings = result.findings

    assert result.kills >= 1 and result.fault_answers and result.failed_attempts, summary  # kills cut sends off
    assert findings.sent and findings.starts, summary
    assert (findings.lost, findings.duplicated, findings.mismatched, findings.unknown_stored_twice) == (0, 0, 0, 0), \
        summary
    assert (findings.unknown, findings.unsettled, findings.retries_answered_differently) == (0, 0, 0), summary
    assert (findings.leaked, findings.pairs_in_several_groups, findings.stray_items) == (0, 0, 0), summary
    assert findings.groups and findings.groups_converged == findings.groups, summary
    assert result.unexpected == [] and result.passed, summary
    assert f"{result.kills} CreateMessageFunction execution environments killed" in summary, summary


def test_a_sends_5xx_is_unexpected_unless_the_run_killed_send_workers_and_a_reads_always() -> None:
    killed_send = Exchange(RETRY, "POST", "/api/messages", "andrewbrown", 500, 0.1)
    dropped_send = Exchange(SEND, "POST", "/api/messages", "andrewbrown", None, 0.1, error="ConnectionError")
    failed_read = Exchange(LIST_MESSAGES, "GET", f"/api/messages/{GROUP}", "andrewbrown", 500, 0.1, group=GROUP)

    assert unexpected_statuses([killed_send, dropped_send, failed_read]) == [killed_send, dropped_send, failed_read]
    assert unexpected_statuses([killed_send, dropped_send, failed_read], faulted=True) == [failed_read]


def test_a_sends_429_rate_limited_with_retry_after_is_expected_and_checked_as_storing_nothing() -> None:
    limited_body = {"code": "rate_limited", "message": "Too many messages"}
    limited = Exchange(SEND, "POST", "/api/messages", "andrewbrown", 429, 0.1, limited_body, retry_after="1")
    without_retry_after = Exchange(SEND, "POST", "/api/messages", "andrewbrown", 429, 0.1, limited_body)
    throttled_read = Exchange(LIST_GROUPS, "GET", "/api/message_groups", "andrewbrown", 429, 0.1,
                              {"message": "Too Many Requests"}, retry_after="1")
    assert unexpected_statuses([limited, without_retry_after, throttled_read]) == [without_retry_after,
                                                                                   throttled_read]

    kept, stored_anyway = (Send("group", "andrewbrown", f"{TAG}c04#{number}", {}, group=GROUP) for number in (1, 2))
    kept.exchanges.append(limited)
    stored_anyway.exchanges.append(limited)
    findings = Findings()
    check_sends([kept, stored_anyway], [stored(stored_anyway.text)], TAG, findings)
    assert (findings.rate_limited, findings.unknown, findings.refused_stored) == (2, 0, 1)
    assert not findings.passed


def sent(text: str, *, uuid: str = "m-1", created_at: str = "2026-11-29T19:00:00.000001+00:00") -> Send:
    send = Send("group", "andrewbrown", text, {"message": text, "message_group_uuid": GROUP}, group=GROUP)
    send.exchanges.append(Exchange(SEND, "POST", "/api/messages", "andrewbrown", 200, 0.1))
    send.response = {"uuid": uuid, "handle": "andrewbrown", "message": text, "created_at": created_at}
    return send


def stored(text: str, *, uuid: str = "m-1", sk: str = "2026-11-29T19:00:00.000001+00:00") -> dict[str, str]:
    return {"pk": f"MSG#{GROUP}", "sk": sk, "message_uuid": uuid, "message": text, "user_handle": "andrewbrown"}


def test_the_send_checks_see_a_lost_a_duplicated_and_a_refused_but_stored_message() -> None:
    kept, twice, lost = (sent(f"{TAG}c01#{number}", uuid=f"m-{number}") for number in (1, 2, 3))
    refused = Send("too_long", "bayko", f"{TAG}c02#1 " + "x" * 1100, {}, group=GROUP)
    refused.exchanges.append(Exchange(SEND, "POST", "/api/messages", "bayko", 422, 0.1,
                                      {"code": "message_exceed_max_chars", "message": "..."}))
    blank = Send("blank", "bayko", "   ", {}, group=GROUP)
    blank.exchanges.append(Exchange(SEND, "POST", "/api/messages", "bayko", 422, 0.1,
                                    {"code": "message_blank", "message": "..."}))
    items = [stored(kept.text, uuid="m-1"), stored(twice.text, uuid="m-2"),
             stored(twice.text, uuid="m-2", sk="2026-11-29T19:00:00.000002+00:00"), stored(refused.text),
             stored("   ")]
    findings = Findings()

    check_sends([kept, twice, lost, refused, blank], items, TAG, findings)

    assert (findings.sent, findings.lost, findings.duplicated) == (3, 1, 1)
    assert (findings.refused, findings.refused_stored) == (2, 2)  # the long one, and the blank one
    assert findings.not_refused == 0  # the status and code the contract gives
    assert not findings.passed


def test_the_send_checks_see_an_invalid_send_accepted_or_refused_otherwise() -> None:
    accepted = sent(f"{TAG}c03#1 into a group of others")
    accepted.kind = "not_a_member"
    malformed = Send("malformed_group", "londo", f"{TAG}c03#2", {}, group="not-a-uuid")
    malformed.exchanges.append(Exchange(SEND, "POST", "/api/messages", "londo", 404, 0.1,
                                        {"code": "message_group_not_found", "message": "..."}))
    findings = Findings()

    check_sends([accepted, malformed], [stored(accepted.text)], TAG, findings)

    assert (findings.not_refused, findings.refused_stored, findings.refused) == (2, 1, 1)
    assert not findings.passed


def test_the_response_checks_see_another_requests_link_messages_groups_and_echo() -> None:
    truth = GroundTruth(messages={GROUP: {"m-1": stored("hello")}, OTHER_GROUP: {"m-9": stored("psst")}},
                        members={GROUP: {"andrewbrown", "bayko"}, OTHER_GROUP: {"bayko", "londo"}},
                        cards={})
    page = [{"uuid": "m-1", "handle": "andrewbrown", "message": "hello"}]
    exchanges = [
        Exchange(LIST_MESSAGES, "GET", f"/api/messages/{GROUP}", "andrewbrown", 200, 0.1, page,
                 link='</api/message_groups?cursor=x>; rel="next"', group=GROUP),
        Exchange(LIST_MESSAGES, "GET", f"/api/messages/{GROUP}", "andrewbrown", 200, 0.1,
                 [{"uuid": "m-9", "handle": "andrewbrown", "message": "psst"}], group=GROUP),
        Exchange(LIST_GROUPS, "GET", "/api/message_groups", "andrewbrown", 200, 0.1,
                 [{"uuid": OTHER_GROUP, "handle": "londo"}]),
        Exchange(LIST_MESSAGES, "GET", f"/api/messages/{GROUP}", "bayko", 200, 0.1, page,
                 link=f'</api/messages/{GROUP}?cursor=x>; rel="next"', group=GROUP),
    ]
    echoed = sent("mine")
    echoed.exchanges[0].body = {"uuid": "m-1", "handle": "bayko", "message": "theirs"}
    findings = Findings()

    check_responses(exchanges, [echoed], truth, findings)

    assert dict(findings.leaks) == {"Link to another route or group": 1, "a message of another group": 1,
                                    "a group of other users": 1, "an answer to another send": 1}
    assert findings.responses_checked == 4 and not findings.passed
