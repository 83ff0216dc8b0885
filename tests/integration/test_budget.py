"""The calls each request makes, held to the budget exactly: a new call on the warm path fails a test.

Warm: the container has served the same user before (caller cached, connection open, parameters cached).
A sender's limits are whole unless a scenario says otherwise (a sender who has not sent for a while: their limit
items expired), so a send counts against each of its limits with one UpdateItem.
Cold: a fresh container, which also resolves the caller (+1 PostgreSQL query) and reads its configuration.
DynamoDB calls are counted wherever they come from (the layer's table, the idempotency layer's own client);
see tests/support/calls.py.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import pytest
from boto3.dynamodb.conditions import Key

from cruddur_messaging.clock import format_timestamp
from cruddur_messaging.domain.group_row_timeline import version_at
from cruddur_messaging.domain.sync import SyncToken, encode_token

from cruddur_messaging.data import keys
from cruddur_messaging.domain.send_limits import SEND
from devtools.ops.ddb_migrate import migrate_table
from devtools.stream_reader import STREAM_FUNCTION, StreamReader
from devtools.template import load_template, parameter_defaults
from tests.support.api import assert_error, body, ok
from tests.support.calls import CallLog, record_calls, writes_to
from tests.support.client import Caller
from tests.support.containers import cold_start
from tests.support.events import SEED_GROUP_UUID, as_user, load_event, with_query
from tests.support.faults import lose_responses
from tests.support.people import ANDREW, BAYKO
from tests.support.table import limit_items, messages_in
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
    tutorial_data: str = "read"
    """The template's ``TutorialData`` the functions run with (``migrated``: no tutorial fallback)."""
    limits_whole: bool = True
    """The sender's limit items are forgotten before the request (as after a pause): else ``prepare`` sets them."""


def group_with_bayko(aws) -> str:
    return Caller(aws, ANDREW).start_conversation("bayko", "warming up")


def read_group_with_bayko(aws) -> str:
    group = group_with_bayko(aws)
    ok(Caller(aws, ANDREW).list_messages(group))
    return group


def unread_group_of_bayko(aws) -> str:
    """Three messages to bayko, counted by the stream function, the first read (two unread); bayko's containers
    warmed."""
    group = group_with_bayko(aws)
    ok(Caller(aws, ANDREW).send("two", group=group))
    ok(Caller(aws, ANDREW).send("three", group=group))
    run_stream(aws)
    ok(Caller(aws, BAYKO).mark_read(group, ok(Caller(aws, BAYKO).list_messages(group))[0]["created_at"]))
    ok(Caller(aws, BAYKO).unread_badge())
    return group


def clock_ahead() -> str:
    """A read_at from a client clock almost a minute ahead (the most that is accepted)."""
    return (datetime.now(timezone.utc) + timedelta(seconds=55)).isoformat(timespec="microseconds")


def run_stream(aws) -> None:
    """Pattern E over every message so far, as the local stack's poller would."""
    records = StreamReader(aws.stream_arn, aws.resources).new_message_inserts()
    assert aws.invoke(STREAM_FUNCTION, {"Records": records}) == {"batchItemFailures": []}


def legacy_group(aws) -> str:
    """A tutorial-era group; andrew's list-messages and create-message containers warmed (his row and their
    configuration cached) by requests that write nothing to the group: a read, and a blank message refused."""
    seed_conversation(tutorial_client(aws), SEED_GROUP_UUID, ANDREW, BAYKO, SEEDED_AT, lines=["old", "times"])
    ok(Caller(aws, ANDREW).list_messages(SEED_GROUP_UUID))
    assert_error(Caller(aws, ANDREW).send(" ", group=SEED_GROUP_UUID), 422, "message_blank")
    return SEED_GROUP_UUID


def migrated_legacy_group(aws) -> str:
    """The legacy group after ``bin/ddb/migrate`` wrote its membership and pair items."""
    group = legacy_group(aws)
    migrate_table(aws.table)
    return group


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


def group_with_bayko_in_a_burst(aws) -> str:
    """andrew, mid-burst: his send limit spent three seconds ahead (15 of 20 at the default 5 a second), so the next
    send fits but only by moving that time on: two UpdateItems."""
    group = group_with_bayko(aws)
    now_us = time.time_ns() // 1000
    aws.table.put_item(Item={**keys.limit_key(ANDREW.uuid, SEND), "tat": now_us + 3_000_000, "writer": "earlier",
                             "expiration": now_us // 1_000_000 + 4})
    return group


def forget_send_limits(aws) -> None:
    for item in limit_items(aws.table):
        aws.table.delete_item(Key={"pk": item["pk"], "sk": item["sk"]})


def already_sent_with_key(aws) -> str:
    group = group_with_bayko(aws)
    ok(Caller(aws, ANDREW).send("once", group=group, idempotency_key="the-key"))
    return group


def warmed_blocks(aws) -> None:
    """Bayko's blocks container warmed (his row cached) by a request that writes nothing."""
    ok(Caller(aws, BAYKO).blocks())


def a_message_of_andrew(aws) -> tuple[str, str]:
    """andrew's message in his group with bayko; his edit container warmed by an edit refused before any read."""
    group = group_with_bayko(aws)
    message_uuid = ok(Caller(aws, ANDREW).send("to be changed", group=group))["uuid"]
    assert_error(Caller(aws, ANDREW).edit(group, message_uuid, " "), 422, "message_blank")
    return group, message_uuid


def a_deleted_message_of_andrew(aws) -> tuple[str, str]:
    group, message_uuid = a_message_of_andrew(aws)
    ok(Caller(aws, ANDREW).delete(group, message_uuid))
    return group, message_uuid


def a_legacy_message_of_andrew(aws) -> tuple[str, str]:
    """andrew's line of the tutorial-era group (a uuid5: found by reading the conversation)."""
    group = legacy_group(aws)
    [first] = [item for item in messages_in(aws.table, group) if item["user_uuid"] == ANDREW.uuid]
    assert_error(Caller(aws, ANDREW).edit(group, first["message_uuid"], " "), 422, "message_blank")
    return group, first["message_uuid"]


# The measured requests several scenarios share.
def andrew_reads_the_group(aws, group: str) -> Any:
    return Caller(aws, ANDREW).list_messages(group)


def andrew_posts_into_the_group(aws, group: str) -> Any:
    return Caller(aws, ANDREW).send("budgeted", group=group)


def andrew_writes_to_bayko(aws, _: Any) -> Any:
    return Caller(aws, ANDREW).send("budgeted", handle="bayko")


def andrew_syncs(aws, since: str | None) -> Any:
    return aws.invoke("SyncFunction", with_query(as_user(load_event("sync"), ANDREW.handle), since=since)
                      if since else as_user(load_event("sync"), ANDREW.handle))


def three_of_a_thousand_changed(aws) -> str:
    """Andrew's 1,000 conversations, unchanged for an hour but 3, each with a new message; his sync container
    warmed. Returns his token of an hour ago."""
    now = datetime.now(timezone.utc)
    many_conversations(aws, ANDREW, 1000, version=version_at(now - timedelta(hours=2)))
    rows = aws.table.query(KeyConditionExpression=Key("pk").eq(f"GRP#{ANDREW.uuid}"), Limit=3)["Items"]
    for index, row in enumerate(rows):
        at = format_timestamp(now - timedelta(minutes=10 - index))
        aws.table.put_item(Item={"pk": f"MSG#{row['message_group_uuid']}", "sk": at, "message_uuid": str(uuid.uuid4()),
                                 "message": "news", "user_uuid": row["user_uuid"], "user_handle": row["user_handle"],
                                 "user_display_name": row["user_display_name"]})
        aws.table.delete_item(Key={"pk": row["pk"], "sk": row["sk"]})
        aws.table.put_item(Item={**row, "sk": at, "message": "news", "unread_count": 3,
                                 "version": version_at(now - timedelta(minutes=10 - index))})
    ok(andrew_syncs(aws, None))
    codec = aws.container("SyncFunction").cursor_codec()
    return encode_token(codec, ANDREW.uuid, SyncToken.starting_at(version_at(now - timedelta(hours=1))))


BUDGET: dict[str, Scenario] = {
    "list-groups": Scenario(
        ["Query"], [],
        lambda aws: ok(Caller(aws, ANDREW).list_groups()),
        lambda aws, _: Caller(aws, ANDREW).list_groups()),
    "list-messages": Scenario(
        ["GetItem", "Query"], [],
        read_group_with_bayko,
        andrew_reads_the_group),
    "create-message into a group": Scenario(
        ["GetItem", "Query", "UpdateItem", "PutItem"], [],
        group_with_bayko,
        andrew_posts_into_the_group),
    "create-message into a group, the sender mid-burst": Scenario(
        ["GetItem", "Query", "UpdateItem", "UpdateItem", "PutItem"], [],
        group_with_bayko_in_a_burst,
        andrew_posts_into_the_group,
        limits_whole=False),
    "create-message into a group with an Idempotency-Key": Scenario(
        ["PutItem", "GetItem", "Query", "UpdateItem", "PutItem", "UpdateItem"], [],
        warmed_for_idempotency,
        lambda aws, group: Caller(aws, ANDREW).send("budgeted", group=group, idempotency_key="new-key")),
    "create-message retried with its Idempotency-Key": Scenario(
        ["PutItem"], [],
        already_sent_with_key,
        lambda aws, group: Caller(aws, ANDREW).send("once", group=group, idempotency_key="the-key")),
    "create-message retried with its Idempotency-Key after a 503 in doubt": Scenario(
        ["PutItem", "UpdateItem", "GetItem", "Query", "PutItem", "UpdateItem"], [],
        sent_with_key_into_timeouts,
        lambda aws, group: Caller(aws, ANDREW).send("in doubt", group=group, idempotency_key="in-doubt")),
    "start a conversation, new pair": Scenario(
        ["Query", "Query", "UpdateItem", "UpdateItem", "TransactWriteItems"], ["user_by_handle"],
        group_with_bayko,
        lambda aws, _: Caller(aws, ANDREW).send("budgeted", handle="londo")),
    "start a conversation, existing pair": Scenario(
        ["Query", "UpdateItem", "PutItem"], ["user_by_handle"],
        group_with_bayko,
        andrew_writes_to_bayko),
    "mark-read": Scenario(
        ["Query", "UpdateItem"], [],
        unread_group_of_bayko,
        lambda aws, group: Caller(aws, BAYKO).mark_read(group)),
    "mark-read up to an older message": Scenario(
        ["Query", "Query", "UpdateItem"], [],
        lambda aws: (group := unread_group_of_bayko(aws), ok(Caller(aws, BAYKO).list_messages(group))[1]["created_at"]),
        lambda aws, state: Caller(aws, BAYKO).mark_read(*state)),
    "mark-read with a read_at past the newest message (a clock ahead)": Scenario(
        ["Query", "Query", "UpdateItem"], [],
        unread_group_of_bayko,
        lambda aws, group: Caller(aws, BAYKO).mark_read(group, clock_ahead())),
    "unread badge": Scenario(
        ["Query"], [],
        unread_group_of_bayko,
        lambda aws, _: Caller(aws, BAYKO).unread_badge()),
    "block a user": Scenario(
        ["TransactWriteItems"], ["user_by_handle"],
        warmed_blocks,
        lambda aws, _: Caller(aws, BAYKO).block("andrewbrown")),
    "unblock a user": Scenario(
        ["TransactWriteItems"], ["user_by_handle"],
        lambda aws: (warmed_blocks(aws), ok(Caller(aws, BAYKO).block("andrewbrown"))),
        lambda aws, _: Caller(aws, BAYKO).unblock("andrewbrown")),
    "list blocks": Scenario(
        ["Query"], ["users_by_uuids"],
        lambda aws: (warmed_blocks(aws), ok(Caller(aws, BAYKO).block("andrewbrown")),
                     ok(Caller(aws, BAYKO).block("londo"))),
        lambda aws, _: Caller(aws, BAYKO).blocks()),
    "users-short": Scenario(
        [], ["user_by_handle"],
        lambda aws: ok(aws.invoke("UsersShortFunction", load_event("users-short"))),
        lambda aws, _: aws.invoke("UsersShortFunction", load_event("users-short")),
        authenticated=False, warm_sql=[]),  # the card is cached for a minute
    "sync without since": Scenario(
        [], [],
        lambda aws: ok(andrew_syncs(aws, None)),
        lambda aws, _: andrew_syncs(aws, None)),
    "sync, 3 of 1,000 conversations changed": Scenario(
        ["Query", "Query", "Query", "Query"], [],
        three_of_a_thousand_changed,
        andrew_syncs),
    "edit a message": Scenario(
        ["GetItem", "Query", "UpdateItem"], [],
        a_message_of_andrew,
        lambda aws, state: Caller(aws, ANDREW).edit(*state, "changed")),
    "edit a message to the text it has": Scenario(
        ["GetItem", "Query"], [],
        a_message_of_andrew,
        lambda aws, state: Caller(aws, ANDREW).edit(*state, "to be changed")),
    "delete a message": Scenario(
        ["GetItem", "Query", "UpdateItem"], [],
        a_message_of_andrew,
        lambda aws, state: Caller(aws, ANDREW).delete(*state)),
    "delete a deleted message": Scenario(
        ["GetItem", "Query"], [],
        a_deleted_message_of_andrew,
        lambda aws, state: Caller(aws, ANDREW).delete(*state)),
    # Data written the tutorial's way, until a member's first write records the membership:
    "delete a tutorial-era message (its conversation read to find it)": Scenario(
        ["GetItem", "Query", "Query", "UpdateItem"], [],
        a_legacy_message_of_andrew,
        lambda aws, state: Caller(aws, ANDREW).delete(*state)),
    "list-messages, legacy group not yet written to": Scenario(
        ["GetItem", "Query", "Query"], [],
        legacy_group,
        andrew_reads_the_group),
    "create-message, first post into a legacy group": Scenario(
        ["GetItem", "Query", "PutItem", "Query", "UpdateItem", "PutItem"], [],
        legacy_group,
        andrew_posts_into_the_group),
    "start a conversation with a legacy partner, first time": Scenario(
        ["Query", "Query", "PutItem", "PutItem", "UpdateItem", "PutItem"], ["user_by_handle"],
        legacy_group,
        andrew_writes_to_bayko),
    # Deployed with TutorialData=migrated (after bin/ddb/migrate): a new pair is not looked for among the
    # tutorial-era groups.
    "start a conversation, new pair, TutorialData=migrated": Scenario(
        ["Query", "UpdateItem", "UpdateItem", "TransactWriteItems"], ["user_by_handle"],
        group_with_bayko,
        lambda aws, _: Caller(aws, ANDREW).send("budgeted", handle="londo"),
        tutorial_data="migrated"),
}
# The same data once bin/ddb/migrate ran: the same requests as for a group the API wrote, no fallback read.
BUDGET.update({migrated: replace(BUDGET[written_by_the_api], prepare=migrated_legacy_group)
               for migrated, written_by_the_api in {
                   "list-messages, migrated legacy group": "list-messages",
                   "create-message, first post into a migrated legacy group": "create-message into a group",
                   "start a conversation with a migrated legacy partner": "start a conversation, existing pair",
               }.items()})


def measure(aws, monkeypatch, scenario: Scenario, cold: bool) -> tuple[CallLog, dict[str, Any]]:
    aws.deploy_with(monkeypatch, TutorialData=scenario.tutorial_data)
    state = scenario.prepare(aws)
    if scenario.limits_whole:
        forget_send_limits(aws)
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
    aws.deploy_with(monkeypatch, SendRatePerSecond=1_000_000)  # sends further apart than the limit's interval
    andrew = Caller(aws, ANDREW)
    group = andrew.start_conversation("bayko", "first")
    ok(andrew.list_messages(group))  # each function's container has seen the caller once
    ok(andrew.list_groups())
    calls = record_calls(monkeypatch)
    for index in range(5):
        ok(andrew.send(f"message {index}", group=group))
        ok(andrew.list_messages(group))
        ok(andrew.list_groups())
    assert calls.sql == [] and calls.connections == 0
    assert calls.dynamodb() == ["GetItem", "Query", "UpdateItem", "PutItem", "GetItem", "Query", "Query"] * 5


def many_conversations(aws, owner, count: int, version: int | None = None) -> None:
    """``count`` conversations in the owner's list, each with unread messages, as the stream function leaves them
    (written directly: a thousand conversations through the handlers would take minutes); ``version``: each row's
    version (rows written before versions have none)."""
    with aws.table.batch_writer() as batch:
        for index in range(count):
            batch.put_item(Item={**({"version": version + index} if version is not None else {}),
                "pk": f"GRP#{owner.uuid}", "sk": f"2026-01-01T00:00:{index // 1000:02d}.{index % 1000:06d}+00:00",
                "message_group_uuid": str(uuid.UUID(int=index + 1)), "message": "m" * 200,
                "user_uuid": str(uuid.UUID(int=10_000 + index)), "user_display_name": f"Someone {index}",
                "user_handle": f"someone{index}", "unread_count": 2, "last_read_at": "2025-12-31T00:00:00.000000+00:00",
            })


def test_the_badge_and_mark_read_stay_within_two_requests_for_a_thousand_conversations(aws, monkeypatch) -> None:
    group = unread_group_of_bayko(aws)
    many_conversations(aws, BAYKO, 1000)
    bayko = Caller(aws, BAYKO)

    calls = record_calls(monkeypatch)
    badge = body(bayko.unread_badge())
    assert badge == {"conversations": 1001, "messages": 2000 + 2}
    assert calls.dynamodb() == ["Query"]
    calls.clear()
    assert ok(bayko.mark_read(group))["unread_count"] == 0
    assert calls.dynamodb() == ["Query", "UpdateItem"]
    calls.clear()
    assert body(bayko.unread_badge()) == {"conversations": 1000, "messages": 2000}
    assert calls.dynamodb() == ["Query"]


@pytest.mark.parametrize("target", ["group", "handle"])
def test_a_send_refused_by_a_block_costs_the_reads_of_an_accepted_one_and_writes_nothing(aws, monkeypatch,
                                                                                           target) -> None:
    group = group_with_bayko(aws)
    ok(Caller(aws, BAYKO).block("andrewbrown"))
    ok(Caller(aws, ANDREW).list_messages(group))
    assert_error(Caller(aws, ANDREW).send("warm", group=group), 403, "recipient_unavailable")
    calls = record_calls(monkeypatch)
    refused = Caller(aws, ANDREW).send("refused", **{target: group if target == "group" else "bayko"})
    assert_error(refused, 403, "recipient_unavailable")
    assert calls.dynamodb() == (["GetItem", "Query"] if target == "group" else ["Query"])
    assert calls.sql == ([] if target == "group" else ["user_by_handle"])


def test_a_send_refused_by_the_senders_limit_costs_its_reads_and_one_update(aws, monkeypatch) -> None:
    """Past the limit the refusal needs no second UpdateItem: the first one's refusal returned the spent time."""
    group = group_with_bayko(aws)
    now_us = time.time_ns() // 1000
    aws.table.put_item(Item={**keys.limit_key(ANDREW.uuid, SEND), "tat": now_us + 60_000_000, "writer": "earlier",
                             "expiration": now_us // 1_000_000 + 61})
    calls = record_calls(monkeypatch)
    assert_error(andrew_posts_into_the_group(aws, group), 429, "rate_limited")
    assert calls.dynamodb() == ["GetItem", "Query", "UpdateItem"] and calls.sql == []


def test_a_sync_of_three_changed_among_a_thousand_conversations_reads_just_those(aws, monkeypatch) -> None:
    since = three_of_a_thousand_changed(aws)
    calls = record_calls(monkeypatch)
    page = body(andrew_syncs(aws, since))
    assert (len(page["conversations"]), len(page["messages"]), page["complete"]) == (3, 3, True)
    assert {item["message"] for item in page["conversations"]} == {"news"}
    assert calls.dynamodb() == ["Query"] * 4 and calls.sql == []
    [index_query, *message_queries] = calls.dynamodb_calls("Query")
    assert index_query["IndexName"] == parameter_defaults(load_template())["RowVersionIndexName"]
    assert all("IndexName" not in query and query["ConsistentRead"] for query in message_queries)


def test_the_stream_function_refreshes_both_rows_for_an_edit_and_a_delete_within_its_budget(aws, monkeypatch) -> None:
    """An edit or delete of a message (its MODIFY record; docs/performance.md, "The stream function's DynamoDB
    cost"): the index, then per member row the newest message that remains, a count only when it can change, and
    one write (in place, or a move back)."""
    group = group_with_bayko(aws)
    ok(Caller(aws, ANDREW).send("two", group=group))
    stream = StreamReader(aws.stream_arn, aws.resources)
    assert aws.invoke(STREAM_FUNCTION, {"Records": stream.new_message_inserts()}) == {"batchItemFailures": []}
    [newest] = aws.table.query(KeyConditionExpression=Key("pk").eq(keys.messages_pk(group)), ScanIndexForward=False,
                               Limit=1)["Items"]
    key = {"pk": newest["pk"], "sk": newest["sk"]}
    now = format_timestamp(datetime.now(timezone.utc))
    aws.table.update_item(Key=key, UpdateExpression="SET message = :text, edited_at = :now",
                          ExpressionAttributeValues={":text": "two!", ":now": now})
    [edit] = stream.new_message_inserts()  # what the mapping's filter passes: the modify
    calls = record_calls(monkeypatch)
    assert aws.invoke(STREAM_FUNCTION, {"Records": [edit]}) == {"batchItemFailures": []}
    assert calls.dynamodb() == ["Query", "Query", "UpdateItem", "Query", "UpdateItem"] and calls.sql == []

    aws.table.update_item(Key=key, UpdateExpression="REMOVE message, edited_at SET deleted_at = :now",
                          ExpressionAttributeValues={":now": now})
    [delete] = stream.new_message_inserts()
    calls.clear()
    assert aws.invoke(STREAM_FUNCTION, {"Records": [delete]}) == {"batchItemFailures": []}
    # andrewbrown's marker is at his deleted message, past the row's new place: nothing to count for him.
    [index_query, *rest] = calls.dynamodb()
    assert index_query == "Query" and sorted(rest) == ["Query", "Query", "Query", "TransactWriteItems",
                                                       "TransactWriteItems"]
