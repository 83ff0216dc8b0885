"""Data written exactly the tutorial's way (seeds, week 5 ``bin/ddb/seed``): only ``GRP#`` rows and ``MSG#`` items,
plain ``put_item`` calls of the low-level client, no membership, no pair, no idempotency records.

Tables that already hold such data must keep working (docs/data-model.md), so tests build it with these
helpers, never with the layer's own writers. What is seeded (the lines, their uuids and times) is the product's
seed, ``devtools.ops.ddb_seed``; only the items' shape is the tutorial's.
"""
from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import boto3

from devtools.ops.ddb_seed import MESSAGE_INTERVAL, Conversation, conversation_messages, load_conversation
from tests.support.people import Person

TABLE_NAME = "cruddur-messages"
FILLER_MESSAGE = "this is a filler message"
SEEDED_AT = datetime(2023, 3, 24, 19, 5, 7, 123456, tzinfo=timezone.utc)
"""When the tutorial's seed ran, for the tests' copy of it (a 2023 conversation)."""

BABYLON_5 = tuple(text for _, text in load_conversation().lines[:6])
"""The seeded conversation's first lines: the tests' tutorial-era conversation."""


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


def put_message(client: Any, message_group_uuid: str, created_at: str, message: str, sender: Person,
                message_uuid: str | None = None) -> str:
    """A message as the tutorial's app wrote it (a random uuid), or with the seed's ``message_uuid``."""
    message_uuid = message_uuid or str(uuid.uuid4())
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
                      lines: Sequence[str] = BABYLON_5, step: timedelta = MESSAGE_INTERVAL) -> list[dict[str, str]]:
    """The tutorial's seed: both group rows at ``start`` (with its filler text), then the lines one ``step``
    apart, ``first`` and ``second`` taking turns, with the uuids and times ``devtools.ops.ddb_seed`` gives them.
    Returns the messages as ``{uuid, handle, message, created_at}``.
    """
    put_group_row(client, message_group_uuid, first, second, timestamp(start))
    put_group_row(client, message_group_uuid, second, first, timestamp(start))
    people = (first, second)
    conversation = Conversation(message_group_uuid, (first.handle, second.handle),
                                tuple((people[index % 2].handle, line) for index, line in enumerate(lines)))
    by_handle = {person.handle: person for person in people}
    written = []
    for message in conversation_messages(conversation, start, step):
        created_at = timestamp(message.created_at)
        put_message(client, message_group_uuid, created_at, message.text, by_handle[message.sender],
                    message.message_uuid)
        written.append({"uuid": message.message_uuid, "handle": message.sender, "message": message.text,
                        "created_at": created_at})
    return written
