"""The table's real stream records (moto's DynamoDB Streams), as Lambda hands them to the stream function, and
what a test needs around them: the mapping's filter, redelivery after a partial batch response, the group rows.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable

from botocore.awsrequest import AWSResponse

from devtools.stream_reader import STREAM_FUNCTION
from tests.support.people import Person
from tests.support.table import scan_all
from tests.support.tutorial import put_group_row

LONDO_GROUP_UUID = "c3a7e2f1-6b0d-4e58-9a2c-71d4f08b5e63"
"""andrewbrown and londo's group in ``events/stream-batch.json``."""
BASE = datetime(2026, 11, 21, 4, 0, tzinfo=timezone.utc)
Record = dict[str, Any]


def batch(records: Iterable[Record]) -> dict[str, Any]:
    return {"Records": list(records)}


def sequence_number(record: Record) -> str:
    return record["dynamodb"]["SequenceNumber"]


def failed_sequence_numbers(response: dict[str, Any]) -> list[str]:
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


def redelivery(records: list[Record], response: dict[str, Any]) -> list[Record]:
    """What Lambda delivers next after a partial batch response: every record from the lowest failed
    sequence number on (none when nothing failed)."""
    failed = {int(number) for number in failed_sequence_numbers(response)}
    if not failed:
        return []
    return [record for record in records if int(sequence_number(record)) >= min(failed)]


def deliver(aws: Any, records: list[Record]) -> dict[str, Any]:
    """One invocation of the stream function with these records, as the event source mapping makes it."""
    return aws.invoke(STREAM_FUNCTION, batch(records))


def start_group(ddb: Any, group_uuid: str, first: Person, second: Person, sk: str, text: str = "hello") -> None:
    """Both rows, the tutorial's way (a plain put: two groups of one member must not start at the same sk)."""
    put_group_row(ddb, group_uuid, first, second, sk, text)
    put_group_row(ddb, group_uuid, second, first, sk, text)


TUTORIAL_ATTRIBUTES = ("pk", "sk", "message_group_uuid", "message", "user_uuid", "user_display_name", "user_handle")
"""What the tutorial's queries read off a group row; the rows carry the read state and the version besides."""
READ_STATE_ATTRIBUTES = ("unread_count", "last_read_at")
VERSION_ATTRIBUTES = ("version", "late_from", "late_version")


def assert_group_at(aws: Any, group_uuid: str, members: tuple[Person, Person], sk: str, text: str) -> None:
    """Exactly one row per member, at ``sk`` with ``text``, naming the other member, and nothing else but the
    read state and the version (with its late record)."""
    first, second = members
    expected = sorted((
        {"pk": f"GRP#{owner.uuid}", "sk": sk, "message_group_uuid": group_uuid, "message": text,
         "user_uuid": other.uuid, "user_display_name": other.display_name, "user_handle": other.handle}
        for owner, other in ((first, second), (second, first))
    ), key=lambda row: row["pk"])
    rows = group_rows(aws.table, group_uuid)
    assert [{name: row[name] for name in TUTORIAL_ATTRIBUTES if name in row} for row in rows] == expected
    assert all(set(row) <= {*TUTORIAL_ATTRIBUTES, *READ_STATE_ATTRIBUTES, *VERSION_ATTRIBUTES} for row in rows), rows


def read_state(aws: Any, group_uuid: str, owner: Person) -> tuple[int | None, str | None]:
    """(``unread_count``, ``last_read_at``) of the owner's one row of the group, read from the table."""
    [row] = [row for row in group_rows(aws.table, group_uuid) if row["pk"] == f"GRP#{owner.uuid}"]
    count = row.get("unread_count")
    return (None if count is None else int(count)), row.get("last_read_at")


def row_writes(records: list[Record]) -> list[tuple[str, int]]:
    """(pk, version) of every group row written (inserted or updated) among stream records, in stream order."""
    return [(record["dynamodb"]["Keys"]["pk"]["S"], int(record["dynamodb"]["NewImage"]["version"]["N"]))
            for record in records
            if record["eventName"] in ("INSERT", "MODIFY") and record["dynamodb"]["Keys"]["pk"]["S"].startswith("GRP#")]


def group_rows(table: Any, message_group_uuid: str) -> list[dict[str, Any]]:
    """Every ``GRP#`` row of the group, read from the table itself (not the index), so duplicates show."""
    return sorted((item for item in scan_all(table)
                   if item["pk"].startswith("GRP#") and item.get("message_group_uuid") == message_group_uuid),
                  key=lambda item: item["pk"])


def at(base: datetime, seconds: float) -> str:
    """A canonical timestamp ``seconds`` after ``base``."""
    return (base + timedelta(seconds=seconds)).astimezone(timezone.utc).isoformat(timespec="microseconds")


def throttling_response() -> tuple[AWSResponse, dict[str, Any]]:
    """What a ``before-call`` hook returns to make a call fail as throttled, as once the SDK's retries are spent
    (answered before the request is sent, so the SDK does not retry it)."""
    error = {"Code": "ProvisionedThroughputExceededException",
             "Message": "The level of configured provisioned throughput for the table was exceeded."}
    http = AWSResponse(url="https://dynamodb.us-east-1.amazonaws.com/", status_code=400, headers={}, raw=None)
    return http, {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 400, "MaxAttemptsReached": True}}


@dataclass
class Hooks:
    """Botocore event handlers on one client, removed again by ``clear``."""

    events: Any
    registered: list[tuple[str, Callable[..., Any]]] = field(default_factory=list)

    def on(self, event_name: str, handler: Callable[..., Any]) -> None:
        self.events.register(event_name, handler)
        self.registered.append((event_name, handler))

    def clear(self) -> None:
        for event_name, handler in self.registered:
            self.events.unregister(event_name, handler)
        self.registered.clear()


@dataclass
class CallCounter:
    """The API calls a client makes, by operation, with their JSON bodies (a ``before-call`` hook sees each
    call once, before the SDK's retries)."""

    calls: list[str] = field(default_factory=list)
    bodies: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        with self.lock:
            self.calls.append(model.name)
            self.bodies.append((model.name, json.loads(params["body"])))

    def count(self, operation_name: str) -> int:
        return self.calls.count(operation_name)
