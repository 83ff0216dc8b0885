"""The seeded conversation (docs/data-model.md, users): the tutorial's Babylon 5 dialogue between andrewbrown and
bayko in group ``5ae290ed-55d1-47a0-bc6d-fe2bc2700399``. ``bin/ddb/seed`` and the local stack both seed it here.

Items (the layer's formats, :mod:`cruddur_messaging.data.keys` and :mod:`cruddur_messaging.data.messages`):
one ``MSG#`` item per line, one minute apart, the last a few minutes before the first seeding; a ``GRP#`` row
per member at the last message, naming the other member; the membership item and the pair item.

Repeatable: the first run records the conversation's start in the membership item's ``created_at``; every later
run rebuilds the very same items from it (message uuids derive from the group and the line number:
:func:`message_uuid`) and writes them with conditional puts, so nothing is duplicated and an interrupted run is
completed. A member whose group row was since moved by a newer message (pattern E) keeps it: a row for the group
is never added twice.

The tests' tutorial-era data (``tests/support/tutorial.py``) is this conversation too: they take its lines, uuids
and times from :func:`conversation_messages` and only write them the tutorial's way.
"""
from __future__ import annotations

import argparse
import json
import logging
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Mapping

from boto3.dynamodb.conditions import Attr, Key

from cruddur_messaging.clock import format_timestamp, parse_timestamp
from cruddur_messaging.data import keys
from cruddur_messaging.data.messages import group_row, message_item
from cruddur_messaging.data.table_access import first_of_query, membership_item, pair_item, put_if_absent
from cruddur_messaging.models import User
from devtools.ops.cli import Command
from devtools.ops.database import find_users
from devtools.ops.ddb import existing_table
from devtools.ops.errors import OpsError
from devtools.ops.output import local_time
from devtools.ops.target import Target

CONVERSATION_FILE = Path(__file__).with_name("babylon5_conversation.json")
MESSAGE_INTERVAL = timedelta(minutes=1)
LAST_MESSAGE_BEFORE_NOW = timedelta(minutes=5)

logger = logging.getLogger(__name__)

Item = dict[str, Any]


@dataclass(frozen=True)
class Conversation:
    message_group_uuid: str
    members: tuple[str, str]
    """The two handles."""
    lines: tuple[tuple[str, str], ...]
    """``(sender handle, text)`` in order."""


def load_conversation(path: Path = CONVERSATION_FILE) -> Conversation:
    """The conversation file: ``message_group_uuid`` and ``messages`` (``sender`` handle, ``message`` text)."""
    document = json.loads(path.read_text())
    lines = tuple((line["sender"], line["message"]) for line in document["messages"])
    members = tuple(dict.fromkeys(sender for sender, _ in lines))
    if len(members) != 2:
        raise ValueError(f"{path.name}: a conversation between two members expected, found {members}")
    return Conversation(document["message_group_uuid"], (members[0], members[1]), lines)


@dataclass(frozen=True)
class SeededMessage:
    """One line of a seeded conversation, as every seed writes it."""

    message_uuid: str
    sender: str
    """The sender's handle."""
    text: str
    created_at: datetime


def message_uuid(message_group_uuid: str, number: int) -> str:
    """The uuid of a seeded conversation's ``number``-th message (from 0): a uuid5 of the line number in the
    group's namespace, the same on every run, so a repeated seed finds the messages it wrote."""
    return str(uuid.uuid5(uuid.UUID(message_group_uuid), str(number)))


def conversation_messages(conversation: Conversation, first_message_at: datetime,
                          interval: timedelta = MESSAGE_INTERVAL) -> list[SeededMessage]:
    """The conversation's lines in order, ``interval`` apart from ``first_message_at``."""
    return [SeededMessage(message_uuid(conversation.message_group_uuid, number), handle, text,
                          first_message_at + number * interval)
            for number, (handle, text) in enumerate(conversation.lines)]


@dataclass(frozen=True)
class ConversationItems:
    membership: Item
    pair: Item
    messages: list[Item]
    group_rows: list[Item]


def conversation_items(conversation: Conversation, users: Mapping[str, User],
                       first_message_at: str) -> ConversationItems:
    """Every item of the conversation when its first message is at ``first_message_at``."""
    group = conversation.message_group_uuid
    first, second = (users[handle] for handle in conversation.members)
    messages = [
        message_item(group, users[message.sender], message.text, message.message_uuid,
                     format_timestamp(message.created_at))
        for message in conversation_messages(conversation, parse_timestamp(first_message_at))
    ]
    last = messages[-1]
    return ConversationItems(
        membership=membership_item(group, {first.uuid, second.uuid}, first_message_at),
        pair=pair_item(first.uuid, second.uuid, group),
        messages=messages,
        group_rows=[group_row(group, owner=owner, other=other, text=last["message"], at=last["sk"])
                    for owner, other in ((first, second), (second, first))],
    )


def first_message_time(now: datetime, line_count: int) -> str:
    """The start that makes the last line land a few minutes before ``now`` (whole seconds, UTC)."""
    last = now.astimezone(timezone.utc).replace(microsecond=0) - LAST_MESSAGE_BEFORE_NOW
    return format_timestamp(last - (line_count - 1) * MESSAGE_INTERVAL)


@dataclass
class SeedReport:
    """What a seed did: per kind of item ("messages", "group rows", "membership", "pair"), how many it wrote
    and how many were already there."""

    message_group_uuid: str
    members: tuple[str, str]
    first_message_at: str
    last_message_at: str
    written: Counter[str] = field(default_factory=Counter)
    existing: Counter[str] = field(default_factory=Counter)

    def count(self, kind: str, written: bool) -> None:
        (self.written if written else self.existing)[kind] += 1


def seed_conversation(table: Any, users: Mapping[str, User], conversation: Conversation | None = None,
                      now: datetime | None = None) -> SeedReport:
    """Seeds ``conversation`` (default: the Babylon 5 one) into ``table`` (a boto3 DynamoDB Table).

    ``users`` maps each member's handle to the user (uuid, handle, display name) as PostgreSQL has it.
    Raises OpsError when the group already belongs to other users or holds messages written some other way.
    """
    conversation = conversation or load_conversation()
    missing = [handle for handle in conversation.members if handle not in users]
    if missing:
        raise OpsError(f"seed users missing from the database: {', '.join(missing)}; run bin/db/seed")
    proposed = conversation_items(conversation, users,
                                  first_message_time(now or datetime.now(timezone.utc), len(conversation.lines)))
    membership, claimed = _claim_membership(table, conversation, proposed.membership)
    items = proposed if claimed else conversation_items(conversation, users, membership["created_at"])
    report = SeedReport(conversation.message_group_uuid, conversation.members,
                        items.messages[0]["sk"], items.messages[-1]["sk"])
    report.count("membership", claimed)
    for message in items.messages:
        report.count("messages", put_if_absent(table, message))
    for row in items.group_rows:
        has_row = _has_group_row(table, row["pk"], conversation.message_group_uuid)
        report.count("group rows", not has_row and put_if_absent(table, row))
    pair_written = put_if_absent(table, items.pair)
    report.count("pair", pair_written)
    if not pair_written:
        paired_group = table.get_item(Key=keys.pair_key(*items.membership["member_uuids"]),
                                      ConsistentRead=True)["Item"]["group_uuid"]
        if paired_group != conversation.message_group_uuid:
            logger.warning("%s and %s already share group %s; starting a conversation between them opens that "
                           "one, not the seeded group", *conversation.members, paired_group)
    return report


def seed_from_database(table: Any, database_url: str, conversation: Conversation | None = None) -> SeedReport:
    """:func:`seed_conversation` with the members read from PostgreSQL."""
    conversation = conversation or load_conversation()
    users = {handle: user for handle, user in find_users(database_url, conversation.members).items() if user}
    return seed_conversation(table, users, conversation)


def _claim_membership(table: Any, conversation: Conversation, proposed: Item) -> tuple[Item, bool]:
    """The group's membership item, written now (True) or by an earlier seed (False)."""
    group = conversation.message_group_uuid
    existing = table.get_item(Key=keys.membership_key(group), ConsistentRead=True).get("Item")
    if existing is None:
        stray = table.query(KeyConditionExpression=Key("pk").eq(keys.messages_pk(group)), Limit=1)["Items"]
        if stray:
            raise OpsError(f"message group {group} already holds messages that bin/ddb/seed did not write; "
                           "drop the table to seed it again")
        if put_if_absent(table, proposed):
            return proposed, True
        existing = table.get_item(Key=keys.membership_key(group), ConsistentRead=True)["Item"]
    if set(existing["member_uuids"]) != set(proposed["member_uuids"]):
        raise OpsError(f"message group {group} already belongs to other users than "
                       f"{' and '.join(conversation.members)}")
    return existing, False


def _has_group_row(table: Any, owner_pk: str, message_group_uuid: str) -> bool:
    return first_of_query(table, {
        "KeyConditionExpression": Key("pk").eq(owner_pk),
        "FilterExpression": Attr("message_group_uuid").eq(message_group_uuid),
        "ProjectionExpression": "pk",
        "ConsistentRead": True,
    }) is not None


def seed(args: argparse.Namespace, target: Target) -> None:
    with existing_table(target.table_name):
        report = seed_from_database(target.table(), target.database_url())
    print(f"message group {report.message_group_uuid} ({' and '.join(report.members)}): "
          f"{local_time(report.first_message_at)} to {local_time(report.last_message_at)}")
    for label, counts in (("written", report.written), ("already there", report.existing)):
        listed = ", ".join(f"{counts[kind]} {kind}" for kind in ("messages", "group rows", "membership", "pair")
                           if counts[kind])
        print(f"{label}: {listed or 'nothing'}")


SEED = Command("ddb/seed", "Seeds the Babylon 5 conversation between andrewbrown and bayko (repeatable).", seed)
