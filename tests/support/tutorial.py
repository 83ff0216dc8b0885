"""Data written exactly the tutorial's way (seeds, week 5 ``bin/ddb/seed``): only ``GRP#`` rows and ``MSG#`` items,
plain ``put_item`` calls of the low-level client, no membership, no pair, no idempotency records.

Tables that already hold such data must keep working (docs/data-model.md), so tests build it with these
helpers, never with the layer's own writers.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import boto3

from tests.support.people import Person

TABLE_NAME = "cruddur-messages"
FILLER_MESSAGE = "this is a filler message"
SEEDED_AT = datetime(2023, 3, 24, 19, 5, 7, 123456, tzinfo=timezone.utc)
"""When the tutorial's seed ran, for the tests' copy of it (a 2023 conversation)."""

BABYLON_5 = [
    "Have you ever watched Babylon 5? It's one of my favorite TV shows!",
    "Yes, I have! I love it too. What's your favorite season?",
    "I think my favorite season has to be season 3. So many great episodes, like 'Severed Dreams'.",
    "Season 3 was amazing. 'War Without End' is probably my favorite two-parter of the show.",
    "G'Kar's speech in 'The Long Twilight Struggle' still gets me.",
    "Babylon 5 was really ahead of its time in terms of its visuals and special effects.",
]


def tutorial_client(aws: Any) -> Any:
    """The low-level client the tutorial's scripts use (``boto3.client('dynamodb')``), with plain ``{"S": ...}``
    attribute values."""
    return boto3.client("dynamodb", region_name=aws.resources.region)


def timestamp(moment: datetime) -> str:
    """The tutorial's ``isoformat()`` of an aware UTC datetime, always with microseconds."""
    return moment.isoformat(timespec="microseconds")


def put_group_row(client: Any, message_group_uuid: str, owner: Person, other: Person, last_message_at: str,
                  message: str = FILLER_MESSAGE) -> dict[str, Any]:
    record = {
        "pk": {"S": f"GRP#{owner.uuid}"},
        "sk": {"S": last_message_at},
        "message_group_uuid": {"S": message_group_uuid},
        "message": {"S": message},
        "user_uuid": {"S": other.uuid},
        "user_display_name": {"S": other.display_name},
        "user_handle": {"S": other.handle},
    }
    client.put_item(TableName=TABLE_NAME, Item=record)
    return record


def put_message(client: Any, message_group_uuid: str, created_at: str, message: str, sender: Person) -> str:
    message_uuid = str(uuid.uuid4())
    client.put_item(TableName=TABLE_NAME, Item={
        "pk": {"S": f"MSG#{message_group_uuid}"},
        "sk": {"S": created_at},
        "message_uuid": {"S": message_uuid},
        "message": {"S": message},
        "user_uuid": {"S": sender.uuid},
        "user_display_name": {"S": sender.display_name},
        "user_handle": {"S": sender.handle},
    })
    return message_uuid


def seed_conversation(client: Any, message_group_uuid: str, first: Person, second: Person, start: datetime,
                      lines: list[str] = BABYLON_5, step: timedelta = timedelta(minutes=1)) -> list[dict[str, str]]:
    """The tutorial's seed: both group rows at ``start`` (with its filler text), then the lines one ``step``
    apart, ``first`` and ``second`` taking turns. Returns the messages as ``{uuid, handle, message, created_at}``.
    """
    put_group_row(client, message_group_uuid, first, second, timestamp(start))
    put_group_row(client, message_group_uuid, second, first, timestamp(start))
    written = []
    for index, line in enumerate(lines):
        sender = first if index % 2 == 0 else second
        created_at = timestamp(start + step * index)
        message_uuid = put_message(client, message_group_uuid, created_at, line, sender)
        written.append({"uuid": message_uuid, "handle": sender.handle, "message": line, "created_at": created_at})
    return written
