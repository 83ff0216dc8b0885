"""``python -m bench.big_table``: does a send get slower when the local table is big?

Starts ``make dev`` (the local stack) in a temporary directory on free ports, signs in, and times sends into
the seeded conversation over HTTP, one at a time, each followed by the stream function's group-row move
(a ``TransactWriteItems``) as on every send: first with the seed only, then again after 10,000 more messages
were stored. Prints p50 and p95 of both and their ratio. moto's own transactions copied the whole table, so a
send's time grew with it; the local stack's moto rolls back per item (``devtools.local_stack.moto_transactions``).

A measurement on this machine, not a timed test: compare the two phases of one run, and write ``uptime`` with it.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import boto3
import requests

from devtools.local_stack.launch import running_stack
from devtools.local_stack.stack_file import StackInfo

STORED_MESSAGES = 10_000
SENDS = 150
READY_TIMEOUT_SECONDS = 120


def _store_messages(info: StackInfo, count: int) -> None:
    """Messages of another conversation, written straight to the table (25 to a BatchWriteItem)."""
    table = boto3.resource("dynamodb", endpoint_url=info.aws_endpoint_url, region_name=info.region,
                           aws_access_key_id="local", aws_secret_access_key="local").Table(info.table_name)
    group = str(uuid.uuid4())
    sender = info.user("bayko")
    with table.batch_writer() as batch:
        for number in range(count):
            batch.put_item(Item={"pk": f"MSG#{group}", "sk": f"2026-01-01T00:00:00.{number:06d}+00:00",
                                 "message_uuid": str(uuid.uuid4()), "message": f"stored {number}",
                                 "user_uuid": sender.uuid, "user_display_name": sender.display_name,
                                 "user_handle": sender.handle})


def _time_sends(info: StackInfo, token: str, count: int) -> list[float]:
    session = requests.Session()
    headers = {"Authorization": f"Bearer {token}"}
    latencies = []
    for number in range(count):
        started = time.perf_counter()
        response = session.post(f"{info.api_url}/api/messages", headers=headers, timeout=60,
                                json={"message": f"timed {number}", "message_group_uuid": info.seed_message_group_uuid})
        latencies.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return latencies


def _wait_for_rows(info: StackInfo, token: str, message: str, seconds: float = 600) -> None:
    """Until the stream function has moved the group row to ``message`` (the poller caught up)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        groups = requests.get(f"{info.api_url}/api/message_groups", headers={"Authorization": f"Bearer {token}"},
                              timeout=60).json()
        if groups and groups[0]["message"] == message:
            return
        time.sleep(0.5)
    raise SystemExit("the stream poller did not catch up")


def _summary(name: str, latencies: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(latencies, n=100)
    p50, p95 = statistics.median(latencies), cuts[94]
    print(f"{name:<32} sends {len(latencies):>4}   p50 {p50:7.1f} ms   p95 {p95:7.1f} ms")
    return p50, p95


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stored", type=int, default=STORED_MESSAGES)
    parser.add_argument("--sends", type=int, default=SENDS)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cruddur-big-table-") as scratch:
        with running_stack(Path(scratch), READY_TIMEOUT_SECONDS, {"CRUDDUR_LOG_LEVEL": "WARNING"}) as stack:
            info, token = stack.info, stack.access_token("andrewbrown")
            _time_sends(info, token, 10)  # warm every function up
            _wait_for_rows(info, token, "timed 9")
            _, empty_p95 = _summary("seed only", _time_sends(info, token, arguments.sends))
            _wait_for_rows(info, token, f"timed {arguments.sends - 1}")
            _store_messages(info, arguments.stored)
            _time_sends(info, token, 1)
            _wait_for_rows(info, token, "timed 0")
            _, big_p95 = _summary(f"with {arguments.stored:,} more messages",
                                  _time_sends(info, token, arguments.sends))
            print(f"p95 ratio (big / seed only): {big_p95 / empty_p95:.2f}")

if __name__ == "__main__":
    main()
