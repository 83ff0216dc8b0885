"""Live delivery: latency over real sockets against ``make dev``, and AWS calls per delivered message.

1. **Latency.** ``make dev`` runs as a process of its own (free ports, a temporary directory). 50 clients connect
   to its WebSocket API, one per user (25 pairs of bench users, each pair in a conversation). A steady, bounded
   stream of sends (``RATE`` a second for ``DURATION`` seconds, round robin over the pairs, a few in flight at
   most) goes over the HTTP API; for every message the bench records when its POST answered and when each frame
   reached each member's socket. Printed: p50/p95/p99 from the POST's response to ``message.created`` at the
   recipient, to ``conversation.updated`` at both members (the lists moved: both group rows were written), and
   from the POST's start to ``message.created`` (what a user sees end to end).
2. **Conversation lists.** One conversation, one message a second: from each POST's response until both members'
   group rows hold it, read from the table every 20 ms (the issue's measure of a list that feels live).
3. **Calls per delivered message.** The delivery function in-process against moto (``mock_aws``) with the real
   stream records of 25 conversations, its management API the local one: DynamoDB requests (and how many of them
   read a member's unread totals for the ``unread`` frame) and ``PostToConnection`` calls per message, for a
   message alone in its batch and for a burst of 25 in one batch (the messages in one invocation, the group rows
   the stream function then wrote in the next, as live).

A benchmark, not a test: it prints figures and asserts nothing.
"""
from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import psycopg2
import requests
from moto import mock_aws
from websockets.asyncio.client import ClientConnection, connect

from devtools.environment import LocalResources, function_environment, local_function_specs, provision
from devtools.functions import ensure_layer_on_path, invoke, load_handler_module
from devtools.local_stack.cognito import PoolUser, access_token, add_user
from devtools.local_stack.launch import running_stack
from devtools.local_stack.stack_file import StackInfo
from devtools.local_stack.stream_poller import StreamMapping
from devtools.local_stack.websocket_api import ManagementServer, Session
from devtools.stream_reader import STREAM_FUNCTION, StreamReader

PAIRS = 25
RATE_PER_SECOND = 2.0
DURATION_SECONDS = 20.0
IN_FLIGHT = 4
SETTLE_SECONDS = 3.0
DELIVERY_FUNCTION = "LiveDeliveryFunction"


# --- 1. latency over real sockets ----------------------------------------------------------------------------

@dataclass
class BenchUser:
    handle: str
    uuid: str
    token: str


def bench_users(info: StackInfo) -> list[BenchUser]:
    """``2 * PAIRS`` users in Cognito and PostgreSQL, each with an access token (the seed has only three)."""
    cognito = boto3.client("cognito-idp", endpoint_url=info.aws_endpoint_url, region_name=info.region,
                           aws_access_key_id="bench", aws_secret_access_key="bench")
    users = []
    with psycopg2.connect(info.database_url) as connection, connection.cursor() as cursor:
        for number in range(2 * PAIRS):
            handle = f"bench{number:02d}"
            signed_up = add_user(cognito, info.user_pool_id, PoolUser(handle, f"Bench {number}",
                                                                      f"{handle}@bench.example"))
            cursor.execute("INSERT INTO users (display_name, handle, email, cognito_user_id) "
                           "VALUES (%s, %s, %s, %s) RETURNING uuid",
                           (f"Bench {number}", handle, f"{handle}@bench.example", signed_up.sub))
            [user_uuid] = cursor.fetchone()
            token = access_token(cognito, info.user_pool_client_id, signed_up.username, signed_up.password)
            users.append(BenchUser(handle, str(user_uuid), token))
    return users


@dataclass
class Timeline:
    """When each message's POST started and answered, and when each frame reached each user."""

    post_started: dict[str, float] = field(default_factory=dict)
    post_answered: dict[str, float] = field(default_factory=dict)
    sender: dict[str, str] = field(default_factory=dict)
    created_at: dict[str, str] = field(default_factory=dict)
    message_created: dict[tuple[str, str], float] = field(default_factory=dict)  # (handle, message uuid)
    list_moved: dict[tuple[str, str], float] = field(default_factory=dict)  # (handle, created_at of the item)
    lock: threading.Lock = field(default_factory=threading.Lock)


async def listen(socket: ClientConnection, handle: str, timeline: Timeline) -> None:
    async for raw in socket:
        now = time.monotonic()
        frame = json.loads(raw)
        with timeline.lock:
            if frame["type"] == "message.created":
                timeline.message_created.setdefault((handle, frame["message"]["uuid"]), now)
            elif frame["type"] == "conversation.updated":
                timeline.list_moved.setdefault((handle, frame["conversation"]["created_at"]), now)


def send(info: StackInfo, sender: BenchUser, group: str, number: int, timeline: Timeline) -> None:
    started = time.monotonic()
    response = requests.post(f"{info.api_url}/api/messages", timeout=30,
                             json={"message": f"bench message {number}", "message_group_uuid": group},
                             headers={"Authorization": f"Bearer {sender.token}"})
    answered = time.monotonic()
    response.raise_for_status()
    body = response.json()
    with timeline.lock:
        timeline.post_started[body["uuid"]] = started
        timeline.post_answered[body["uuid"]] = answered
        timeline.sender[body["uuid"]] = sender.handle
        timeline.created_at[body["uuid"]] = body["created_at"]


async def measure_latency(info: StackInfo, users: list[BenchUser]) -> tuple[Timeline, dict[str, str], int]:
    pairs = [(users[2 * index], users[2 * index + 1]) for index in range(PAIRS)]
    groups = {}
    for first, second in pairs:  # every pair's conversation, before anyone listens
        response = requests.post(f"{info.api_url}/api/messages", timeout=30, json={"message": "hello",
                                 "handle": second.handle}, headers={"Authorization": f"Bearer {first.token}"})
        response.raise_for_status()
        groups[first.handle] = response.json()["message_group_uuid"]
    partner = {first.handle: second.handle for first, second in pairs}
    partner.update({second.handle: first.handle for first, second in pairs})
    await asyncio.sleep(SETTLE_SECONDS)

    timeline = Timeline()
    sockets = [await connect(info.websocket_url, subprotocols=["cruddur.v1", user.token], open_timeout=60)
               for user in users]
    listeners = [asyncio.create_task(listen(socket, user.handle, timeline)) for socket, user in zip(sockets, users)]
    sends = 0
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=IN_FLIGHT) as posts:
        pending = []
        started = time.monotonic()
        while time.monotonic() - started < DURATION_SECONDS:
            first, second = pairs[sends % PAIRS]
            sender = first if (sends // PAIRS) % 2 == 0 else second
            group = groups[first.handle]
            pending.append(loop.run_in_executor(posts, send, info, sender, group, sends, timeline))
            sends += 1
            await asyncio.sleep(max(0.0, started + sends / RATE_PER_SECOND - time.monotonic()))
        await asyncio.gather(*pending)
    await asyncio.sleep(SETTLE_SECONDS)
    for listener in listeners:
        listener.cancel()
    for socket in sockets:
        await socket.close()
    return timeline, partner, sends


def percentiles(values: list[float]) -> str:
    if not values:
        return "no samples"
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return (f"p50 {cuts[49] * 1000:6.0f} ms   p95 {cuts[94] * 1000:6.0f} ms   p99 {cuts[98] * 1000:6.0f} ms   "
            f"({len(values)} samples)")


def report_latency(timeline: Timeline, partner: dict[str, str], sends: int) -> None:
    to_recipient, end_to_end, lists = [], [], []
    missing = 0
    for message_uuid, answered in timeline.post_answered.items():
        sender = timeline.sender[message_uuid]
        recipient = partner[sender]
        arrived = timeline.message_created.get((recipient, message_uuid))
        if arrived is None:
            missing += 1
            continue
        to_recipient.append(arrived - answered)
        end_to_end.append(arrived - timeline.post_started[message_uuid])
        for handle in (sender, recipient):
            moved = timeline.list_moved.get((handle, timeline.created_at[message_uuid]))
            if moved is not None:
                lists.append(moved - answered)
    print(f"\nLive delivery over real sockets: {2 * PAIRS} clients, {sends} sends at {RATE_PER_SECOND:g}/s "
          f"({IN_FLIGHT} in flight at most), {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    print(f"  POST answered -> message.created at the recipient   {percentiles(to_recipient)}")
    print(f"  POST started  -> message.created at the recipient   {percentiles(end_to_end)}")
    print(f"  POST answered -> conversation.updated at a member   {percentiles(lists)}"
          "   (both rows moved; a burst moves once, so fewer samples)")
    print(f"  messages not delivered to the recipient: {missing}")


# --- 2. both group rows at the new message --------------------------------------------------------------------

ROW_SAMPLES = 20
ROW_POLL_SECONDS = 0.02


def measure_rows(info: StackInfo, users: list[BenchUser]) -> list[float]:
    """Seconds from each POST's response until both members' rows of the conversation show that message."""
    table = boto3.resource("dynamodb", endpoint_url=info.aws_endpoint_url, region_name=info.region,
                           aws_access_key_id="bench", aws_secret_access_key="bench").Table(info.table_name)
    first, second = users[0], users[1]
    group = requests.post(f"{info.api_url}/api/messages", timeout=30, json={"message": "rows", "handle": second.handle},
                          headers={"Authorization": f"Bearer {first.token}"}).json()["message_group_uuid"]
    lags = []
    for number in range(ROW_SAMPLES):
        time.sleep(1.0)
        response = requests.post(f"{info.api_url}/api/messages", timeout=30,
                                 json={"message": f"row {number}", "message_group_uuid": group},
                                 headers={"Authorization": f"Bearer {first.token}"})
        answered = time.monotonic()
        created_at = response.json()["created_at"]
        while not all(_row_at(table, user.uuid, group) == created_at for user in (first, second)):
            if time.monotonic() - answered > 10:
                break
            time.sleep(ROW_POLL_SECONDS)
        lags.append(time.monotonic() - answered)
    return lags


def _row_at(table: Any, owner_uuid: str, group: str) -> str | None:
    """The ``sk`` of the owner's row of ``group`` (their newest rows first; the bench users have one or two)."""
    items = table.query(KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": f"GRP#{owner_uuid}"},
                        ConsistentRead=True)["Items"]
    return next((item["sk"] for item in items if item.get("message_group_uuid") == group), None)


# --- 3. calls per delivered message --------------------------------------------------------------------------

class AcceptingConnections:
    """Every connection open; frames counted, not kept."""

    def __init__(self) -> None:
        self.frames = 0

    def open_session(self, connection_id: str) -> Session:
        return Session(connection_id, source_ip="127.0.0.1", user_agent="bench")

    def send(self, session: Session, data: bytes) -> None:
        self.frames += 1

    def close(self, session: Session) -> None:
        pass


@dataclass
class Counts:
    dynamodb: int = 0
    management: int = 0
    totals: int = 0
    """Queries of a member's own group rows: the ``unread`` frame's totals."""

    def __call__(self, model: Any, params: dict[str, Any] | None = None, **_: Any) -> None:
        self.dynamodb += 1
        body = json.loads((params or {}).get("body") or b"{}")
        values = body.get("ExpressionAttributeValues", {}).values()
        if model.name == "Query" and any(value.get("S", "").startswith("GRP#") for value in values):
            self.totals += 1


def measure_calls() -> list[tuple[str, int, Counts, int]]:
    ensure_layer_on_path()
    registry = AcceptingConnections()
    management = ManagementServer(("127.0.0.1", 0), registry)
    threading.Thread(target=management.serve_forever, daemon=True).start()
    resources = LocalResources(table_name="cruddur-messages", websocket_api_endpoint=management.url)
    quiet = {"POWERTOOLS_LOG_LEVEL": "ERROR", "POWERTOOLS_METRICS_DISABLED": "true"}
    for logical_id in (STREAM_FUNCTION, DELIVERY_FUNCTION):
        os.environ.update({**function_environment(resources, function_logical_id=logical_id), **quiet})
    results = []
    try:
        with mock_aws():
            created = provision(resources, "postgresql://unused")
            specs = local_function_specs(resources, created["stream_arn"])
            mapping = StreamMapping.from_event(specs[DELIVERY_FUNCTION].stream_events[0])
            reader = StreamReader(created["stream_arn"], resources)
            table = boto3.resource("dynamodb").Table(resources.table_name)
            from cruddur_messaging.data.messages import MessageStore
            from cruddur_messaging.models import User

            store = MessageStore(table, specs[DELIVERY_FUNCTION].environment["MESSAGE_GROUP_INDEX_NAME"])
            pairs = [(User(f"00000000-0000-4000-8000-{2 * n:012d}", f"a{n}", f"A {n}"),
                      User(f"00000000-0000-4000-8000-{2 * n + 1:012d}", f"b{n}", f"B {n}")) for n in range(PAIRS)]
            groups = [f"10000000-0000-4000-8000-{n:012d}" for n in range(PAIRS)]
            for (first, second), group in zip(pairs, groups):
                store.create_group(group, first, second, "hello", f"m-{group}", "2026-11-21T04:00:00.000000+00:00")
                for user in (first, second):
                    table.put_item(Item={"pk": f"CONN#{user.uuid}", "sk": f"conn-{user.uuid}",
                                         "connection_id": f"conn-{user.uuid}", "user_uuid": user.uuid,
                                         "connected_at": "2026-11-21T03:00:00.000000+00:00",
                                         "expiration": int(time.time()) + 3600})
            reader.new_records()

            def round_of(count: int, second: int) -> list[list[dict[str, Any]]]:
                """``count`` conversations get a message; the stream function moves their rows. The delivery
                mapping sees the messages in one batch and the rows, written after, in the next."""
                for index in range(count):
                    first, _ = pairs[index]
                    store.put_message(groups[index], first, f"message {second}", f"m-{second}-{index}",
                                      f"2026-11-21T04:{second:02d}:00.{index:06d}+00:00")
                messages = reader.new_records()
                invoke(specs[STREAM_FUNCTION], {"Records": messages})
                return [[record for record in batch if mapping.accepts(record)]
                        for batch in (messages, reader.new_records())]

            counts = Counts()
            delivery_container = load_handler_module(specs[DELIVERY_FUNCTION]).container
            delivery_container.dynamodb.meta.client.meta.events.register("before-call.dynamodb", counts)
            # The first invocation is the container's first: the group's members are not cached yet.
            for label, count, second in (("cold container, 1 message", 1, 1), ("warm, 1 message a batch", 1, 2),
                                         (f"warm, a burst of {PAIRS} in one batch", PAIRS, 3)):
                batches = round_of(count, second)
                counts.dynamodb, counts.totals, registry.frames = 0, 0, 0
                for records in batches:
                    invoke(specs[DELIVERY_FUNCTION], {"Records": records})
                results.append((label, count, Counts(counts.dynamodb, registry.frames, counts.totals),
                                sum(len(records) for records in batches)))
    finally:
        management.shutdown()
        management.server_close()
    return results


def report_calls(results: list[tuple[str, int, Counts, int]]) -> None:
    print("\nAWS calls of the delivery function per message (each member one connection; moto, in-process):")
    print(f"  {'batch':<36} {'records':>7} {'DynamoDB':>9} {'per message':>12} {'of which totals':>16} "
          f"{'posts':>6} {'per message':>12}")
    for label, messages, counts, records in results:
        print(f"  {label:<36} {records:>7} {counts.dynamodb:>9} {counts.dynamodb / messages:>12.2f} "
              f"{counts.totals / messages:>16.2f} {counts.management:>6} {counts.management / messages:>12.2f}")


def main() -> None:
    report_calls(measure_calls())
    with tempfile.TemporaryDirectory(prefix="cruddur-bench-") as data_dir:
        with running_stack(Path(data_dir)) as stack:
            users = bench_users(stack.info)
            timeline, partner, sends = asyncio.run(measure_latency(stack.info, users))
            rows = measure_rows(stack.info, users[2 * PAIRS - 2:])
    report_latency(timeline, partner, sends)
    print(f"\nBoth group rows at the new message, one message a second, polled every {ROW_POLL_SECONDS * 1000:.0f} ms:")
    print(f"  POST answered -> both rows moved                    {percentiles(rows)}")


if __name__ == "__main__":
    main()
