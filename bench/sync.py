"""``make bench``: what ``GET /api/sync`` costs as Lambda runs it (issue 20), for a user with 1,000 conversations.

In-process, as ``bench.per_message`` runs the functions (moto for AWS, an embedded PostgreSQL): ``SyncFunction``
invoked warm with a token its own ``GET /api/sync`` (without ``since``) handed out before the changes, metered per
request (``bench.capacity``: DynamoDB requests and read units, the index query billed for the rows it read) and timed
(the handler's wall time, and without the time moto's DynamoDB took: in AWS a network round trip per call takes its
place). Each scenario's sync is repeated ``ROUNDS`` times on the same token (a sync only reads) for the medians.

- ``k of 1,000 changed``: the caller's 1,000 conversations, unchanged for two hours (rows as the stream function
  leaves them, written directly as ``tests/integration/test_budget.py`` does) but ``k``, each created after the
  token and then given a second message (the data layer's own writes, the stream function moving the rows);
- ``catch-up``: the caller away while ``messages`` arrive round-robin across 5 conversations (the same writes and
  stream moves), then one sync followed page by page until ``complete``.

A benchmark: it exits non-zero if a sync answers other than 200 or lists other than what changed.
"""
from __future__ import annotations

import json
import os
import statistics
import tempfile
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

from bench.per_message import MeteredCalls, MeteredFunctions, management_api_and_environment
from devtools.environment import local_function_specs, provision
from devtools.functions import ensure_layer_on_path
from devtools.local_stack import moto_transactions
from devtools.postgres import EmbeddedPostgres
from devtools.stream_reader import StreamReader

ROUNDS = 20
CONVERSATIONS = 1000
SYNC_FUNCTION = "SyncFunction"
TEXT = "a message of a typical length, about sixty characters long."


@dataclass(frozen=True)
class Scenario:
    name: str
    changed: int
    """Conversations changed since the token (created after it)."""
    messages: int
    """Messages that arrived since the token, round-robin across the changed conversations."""


CHANGED = (
    Scenario("3 of 1,000 changed (each a new conversation, then a second message)", changed=3, messages=6),
    Scenario("25 of 1,000 changed (each a new conversation, then a second message)", changed=25, messages=50),
)
CATCH_UP = (
    Scenario("catch-up: 50 messages across 5 of 1,000", changed=5, messages=50),
    Scenario("catch-up: 250 messages across 5 of 1,000 (the same token, 200 more)", changed=5, messages=250),
)
"""One user away: the first sync after 50 messages, then (from the same token) after 200 more."""


def sync_event(handle: str, since: str | None) -> dict[str, Any]:
    from tests.support.events import as_user, load_event, with_query

    event = as_user(load_event("sync"), handle)
    return with_query(event, since=since) if since else event


def unchanged_conversations(table: Any, owner: Any, count: int) -> None:
    """``count`` conversations in the owner's list, last changed two hours ago (their versions then)."""
    from cruddur_messaging.domain.group_row_timeline import version_at

    version = version_at(datetime.now(timezone.utc) - timedelta(hours=2))
    with table.batch_writer() as batch:
        for index in range(count):
            batch.put_item(Item={
                "pk": f"GRP#{owner.uuid}", "sk": f"2026-01-01T00:00:{index // 1000:02d}.{index % 1000:06d}+00:00",
                "message_group_uuid": str(uuid.uuid4()), "message": TEXT, "version": version + index,
                "user_uuid": str(uuid.UUID(int=10_000 + index)), "user_display_name": f"Someone {index}",
                "user_handle": f"someone{index}", "unread_count": 0,
                "last_read_at": "2026-01-01T00:00:00.000000+00:00",
            })


def arrive(functions: MeteredFunctions, store: Any, owner: Any, groups: list[tuple[str, Any]], changed: int,
           messages: int, first_stranger: int) -> None:
    """``changed`` new conversations of strangers with ``owner`` (added to ``groups``), then messages round-robin
    into ``groups`` until ``messages`` arrived; after the new conversations and after each round of messages, the
    stream (the stream function moves the rows, as after sends that arrive together)."""
    from cruddur_messaging.clock import format_timestamp
    from tests.support.people import stranger

    for number in range(changed):
        other, group = stranger(first_stranger + number), str(uuid.uuid4())
        store.create_group(group, other.user, owner.user, TEXT, str(uuid.uuid4()),
                           format_timestamp(datetime.now(timezone.utc)))
        groups.append((group, other))
    functions.pump()
    for number in range(messages - changed):
        group, other = groups[number % len(groups)]
        store.put_message(group, other.user, TEXT, str(uuid.uuid4()), format_timestamp(datetime.now(timezone.utc)))
        if number % len(groups) == len(groups) - 1:
            functions.pump()
    functions.pump()


def catch_up(functions: MeteredFunctions, handle: str, since: str) -> list[dict[str, Any]]:
    """Every page of a sync from ``since`` until ``complete``."""
    pages = []
    while True:
        response = functions.invoke(SYNC_FUNCTION, sync_event(handle, since))
        if response["statusCode"] != 200:
            raise SystemExit(f"the sync answered {response}")
        page = json.loads(response["body"])
        pages.append(page)
        if page["complete"]:
            return pages
        since = page["since"]


def fresh_token(functions: MeteredFunctions, table: Any, owner: Any, changed: int) -> str:
    """The owner's list of ``CONVERSATIONS - changed`` unchanged conversations, and a token of now."""
    functions.step = "setup"
    unchanged_conversations(table, owner, CONVERSATIONS - changed)
    return json.loads(functions.invoke(SYNC_FUNCTION, sync_event(owner.handle, None))["body"])["since"]


def measure_sync(functions: MeteredFunctions, owner: Any, since: str, scenario: Scenario) -> dict[str, Any]:
    """The sync from ``since`` followed to ``complete``: checked once (warming the container), then metered
    ``ROUNDS`` times."""
    functions.step = "setup"
    pages = catch_up(functions, owner.handle, since)
    conversations = {item["uuid"] for page in pages for item in page["conversations"]}
    messages = [message["uuid"] for page in pages for message in page["messages"]]
    if (len(conversations), len(set(messages)), len(messages)) != (scenario.changed, scenario.messages,
                                                                   scenario.messages):
        raise SystemExit(f"{scenario.name}: the sync listed {len(conversations)} conversations and "
                         f"{len(messages)} messages")
    functions.usage.clear()
    functions.step = scenario.name
    for _ in range(ROUNDS):
        catch_up(functions, owner.handle, since)
    usage = functions.usage[scenario.name][SYNC_FUNCTION]
    if usage.invocations != ROUNDS * len(pages):
        raise SystemExit(f"{scenario.name}: the pages changed between rounds")
    per_round = range(0, usage.invocations, len(pages))
    return {
        "scenario": scenario.name, "conversations": CONVERSATIONS, "changed": scenario.changed,
        "messages": scenario.messages, "pages": len(pages),
        "page_sizes": [[len(page["conversations"]), len(page["messages"])] for page in pages],
        "dynamodb_requests": usage.dynamodb_requests / ROUNDS,
        "rcu": usage.rcu / ROUNDS,
        "duration_ms_median": statistics.median(sum(usage.durations_ms[start:start + len(pages)])
                                                for start in per_round),
        "own_ms_median": statistics.median(sum(usage.own_ms[start:start + len(pages)]) for start in per_round),
    }


def measure(database_url: str) -> dict[str, Any]:
    management, _, resources, environment = management_api_and_environment()
    os.environ.update(environment)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    ensure_layer_on_path()
    from cruddur_messaging.data.messages import MessageStore
    from tests.support.people import ANDREW, BAYKO, LONDO

    # moto as shipped copies the whole table for each transaction (and a stream function's moves of rows among
    # 1,000 took gigabytes): the local stack's item-level rollback instead, as `make dev` runs it.
    moto_transactions.install()
    calls = MeteredCalls()
    results = []
    try:
        with mock_aws(), calls.installed():
            stream_arn = provision(resources, database_url)["stream_arn"]
            meter_reads = boto3.client("dynamodb", region_name=resources.region)
            functions = MeteredFunctions(local_function_specs(resources, stream_arn), calls, meter_reads,
                                         resources.table_name, StreamReader(stream_arn, resources))
            table = boto3.resource("dynamodb", region_name=resources.region).Table(resources.table_name)
            store = MessageStore(table, environment["MESSAGE_GROUP_INDEX_NAME"])
            for position, (scenario, owner) in enumerate(zip(CHANGED, (ANDREW, BAYKO))):
                since = fresh_token(functions, table, owner, scenario.changed)
                arrive(functions, store, owner, [], scenario.changed, scenario.messages, 100 * position + 1)
                results.append(measure_sync(functions, owner, since, scenario))
            since = fresh_token(functions, table, LONDO, CATCH_UP[0].changed)
            groups: list[tuple[str, Any]] = []
            arrived = 0
            for scenario in CATCH_UP:
                arrive(functions, store, LONDO, groups, scenario.changed - len(groups), scenario.messages - arrived,
                       1000)
                arrived = scenario.messages
                results.append(measure_sync(functions, LONDO, since, scenario))
    finally:
        management.shutdown()
        management.server_close()
    return {"measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "rounds": ROUNDS,
            "load_average_1min": round(os.getloadavg()[0], 2), "scenarios": results}


def report(results: dict[str, Any], round_trip_ms: float = 5.0) -> str:
    lines = [f"GET /api/sync, warm, a user with {CONVERSATIONS:,} conversations (means of {results['rounds']} "
             f"rounds, median durations in-process; load {results['load_average_1min']}):", "",
             "| since the token | pages (conversations, messages) | DynamoDB requests | RCU | duration (ms) "
             f"| without DynamoDB (ms) | in AWS, + {round_trip_ms:g} ms a request (ms) |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for row in results["scenarios"]:
        pages = " + ".join(f"({conversations}, {messages})" for conversations, messages in row["page_sizes"])
        lines.append(f"| {row['scenario']} | {row['pages']}: {pages} | {row['dynamodb_requests']:g} | "
                     f"{row['rcu']:g} | {row['duration_ms_median']:.1f} | {row['own_ms_median']:.1f} | "
                     f"{row['own_ms_median'] + row['dynamodb_requests'] * round_trip_ms:.0f} |")
    return "\n".join(lines)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="cruddur-sync-bench-") as data_dir:
        postgres = EmbeddedPostgres(Path(data_dir)).start().setup()
        try:
            results = measure(postgres.database_url)
        finally:
            postgres.stop()
    print(report(results))


if __name__ == "__main__":
    main()
