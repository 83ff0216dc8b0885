"""The calls each request makes, held to the budget exactly: a new call on the warm path fails a test.

Warm: the container has served the same user before (caller cached, connection open, parameters cached).
Cold: a fresh container, which also resolves the caller (+1 PostgreSQL query) and reads its configuration.
DynamoDB calls are counted wherever they come from (the layer's table, the idempotency layer's own client);
see tests/support/calls.py.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import pytest

from tests.support.api import assert_error, ok
from tests.support.calls import CallLog, record_calls, writes_to
from tests.support.client import Caller
from tests.support.containers import cold_start
from tests.support.events import SEED_GROUP_UUID, load_event
from tests.support.faults import lose_responses
from tests.support.people import ANDREW, BAYKO
from tests.support.tutorial import SEEDED_AT, seed_conversation, tutorial_client


@dataclass(frozen=True)
class Scenario:
    dynamodb: list[str]
    sql: list[str]
    prepare: Callable[[Any], Any]
    """Builds the state and warms the container: a request from the same user to the same function."""
    request: Callable[[Any, Any], dict[str, Any]]
    authenticated: bool = True
    warm_sql: list[str] | None = None
    """When a warm container answers from its own cache: the queries it still makes (else ``sql``)."""


def group_with_bayko(aws) -> str:
    return Caller(aws, ANDREW).start_conversation("bayko", "warming up")


def read_group_with_bayko(aws) -> str:
    group = group_with_bayko(aws)
    ok(Caller(aws, ANDREW).list_messages(group))
    return group


def legacy_group(aws) -> str:
    seed_conversation(tutorial_client(aws), SEED_GROUP_UUID, ANDREW, BAYKO, SEEDED_AT, lines=["old", "times"])
    ok(Caller(aws, ANDREW).list_groups())  # the caller's row and configuration cached, no write to the group
    return SEED_GROUP_UUID


def warmed_for_idempotency(aws) -> str:
    group = group_with_bayko(aws)
    ok(Caller(aws, ANDREW).send("warm", group=group, idempotency_key="warm-key"))
    return group


def sent_with_key_into_timeouts(aws) -> str:
    """A keyed send whose message put was applied on every attempt but never answered: a 503, outcome unknown."""
    group = group_with_bayko(aws)
    with pytest.MonkeyPatch.context() as patch:
        lose_responses(patch, writes_to("MSG#"), times=3)
        assert_error(Caller(aws, ANDREW).send("in doubt", group=group, idempotency_key="in-doubt"),
                     503, "dependency_unavailable")
    return group


def already_sent_with_key(aws) -> str:
    group = group_with_bayko(aws)
    ok(Caller(aws, ANDREW).send("once", group=group, idempotency_key="the-key"))
    return group


BUDGET: dict[str, Scenario] = {
    "list-groups": Scenario(
        ["Query"], [],
        lambda aws: ok(Caller(aws, ANDREW).list_groups()),
        lambda aws, _: Caller(aws, ANDREW).list_groups()),
    "list-messages": Scenario(
        ["GetItem", "Query"], [],
        read_group_with_bayko,
        lambda aws, group: Caller(aws, ANDREW).list_messages(group)),
    "create-message into a group": Scenario(
        ["GetItem", "PutItem"], [],
        group_with_bayko,
        lambda aws, group: Caller(aws, ANDREW).send("budgeted", group=group)),
    "create-message into a group with an Idempotency-Key": Scenario(
        ["PutItem", "GetItem", "PutItem", "UpdateItem"], [],
        warmed_for_idempotency,
        lambda aws, group: Caller(aws, ANDREW).send("budgeted", group=group, idempotency_key="new-key")),
    "create-message retried with its Idempotency-Key": Scenario(
        ["PutItem"], [],
        already_sent_with_key,
        lambda aws, group: Caller(aws, ANDREW).send("once", group=group, idempotency_key="the-key")),
    "create-message retried with its Idempotency-Key after a 503 in doubt": Scenario(
        ["PutItem", "UpdateItem", "GetItem", "PutItem", "UpdateItem"], [],
        sent_with_key_into_timeouts,
        lambda aws, group: Caller(aws, ANDREW).send("in doubt", group=group, idempotency_key="in-doubt")),
    "start a conversation, new pair": Scenario(
        ["GetItem", "Query", "TransactWriteItems"], ["user_by_handle"],
        group_with_bayko,
        lambda aws, _: Caller(aws, ANDREW).send("budgeted", handle="londo")),
    "start a conversation, existing pair": Scenario(
        ["GetItem", "PutItem"], ["user_by_handle"],
        group_with_bayko,
        lambda aws, _: Caller(aws, ANDREW).send("budgeted", handle="bayko")),
    "users-short": Scenario(
        [], ["user_by_handle"],
        lambda aws: ok(aws.invoke("UsersShortFunction", load_event("users-short"))),
        lambda aws, _: aws.invoke("UsersShortFunction", load_event("users-short")),
        authenticated=False, warm_sql=[]),  # the card is cached for a minute
    # Data written the tutorial's way, until a member's first write records the membership:
    "list-messages, legacy group not yet written to": Scenario(
        ["GetItem", "Query", "Query"], [],
        legacy_group,
        lambda aws, group: Caller(aws, ANDREW).list_messages(group)),
    "create-message, first post into a legacy group": Scenario(
        ["GetItem", "Query", "PutItem", "PutItem"], [],
        legacy_group,
        lambda aws, group: Caller(aws, ANDREW).send("budgeted", group=group)),
    "start a conversation with a legacy partner, first time": Scenario(
        ["GetItem", "Query", "PutItem", "PutItem", "PutItem"], ["user_by_handle"],
        legacy_group,
        lambda aws, _: Caller(aws, ANDREW).send("budgeted", handle="bayko")),
}


def measure(aws, monkeypatch, scenario: Scenario, cold: bool) -> tuple[CallLog, dict[str, Any]]:
    state = scenario.prepare(aws)
    if cold:
        cold_start()
    calls = record_calls(monkeypatch)
    response = scenario.request(aws, state)
    assert response["statusCode"] == 200, response
    return calls, response


@pytest.mark.parametrize("name", BUDGET)
def test_warm_request_stays_within_budget(aws, monkeypatch, name: str) -> None:
    scenario = BUDGET[name]
    calls, _ = measure(aws, monkeypatch, scenario, cold=False)
    assert calls.dynamodb() == scenario.dynamodb
    assert calls.sql == (scenario.sql if scenario.warm_sql is None else scenario.warm_sql)
    assert calls.other_aws() == []  # parameters and secrets cached
    assert calls.connections == 0  # the container's PostgreSQL connection is reused


@pytest.mark.parametrize("name", BUDGET)
def test_cold_request_adds_only_the_caller_lookup_and_configuration(aws, monkeypatch, name: str) -> None:
    scenario = BUDGET[name]
    calls, _ = measure(aws, monkeypatch, scenario, cold=True)
    assert calls.dynamodb() == scenario.dynamodb
    assert calls.sql == (["user_by_cognito_user_id"] if scenario.authenticated else []) + scenario.sql
    assert set(calls.other_aws()) <= {("ssm", "GetParameter"), ("secretsmanager", "GetSecretValue")}
    assert len(calls.other_aws()) == len(set(calls.other_aws()))
    assert calls.connections == 1


def test_warm_caller_makes_no_postgres_query_across_many_requests(aws, monkeypatch) -> None:
    andrew = Caller(aws, ANDREW)
    group = andrew.start_conversation("bayko", "first")
    calls = record_calls(monkeypatch)
    for index in range(5):
        ok(andrew.send(f"message {index}", group=group))
        ok(andrew.list_messages(group))
        ok(andrew.list_groups())
    assert calls.sql == [] and calls.connections == 0
    assert calls.dynamodb() == ["GetItem", "PutItem", "GetItem", "Query", "Query"] * 5
