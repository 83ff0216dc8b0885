"""The seeded conversation: the tutorial's Babylon 5 dialogue between andrewbrown and bayko (CONTRACT.md §3).

Its lines (``babylon5_conversation.json``) become messages one minute apart, the last a few minutes ago, so that
anything sent locally sorts after them. The group gets what a group created through the API has: both members'
group rows at the last message, the membership item and the pair item. Items are built by the shared layer's
own functions, so the seed cannot drift from what the functions write.

Repeatable: the membership item is written last, in the same transaction as the group rows and the pair, and a
seed that finds it does nothing.
"""
from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Mapping

from devtools.local_stack.database import DatabaseUser

log = logging.getLogger(__name__)

CONVERSATION_FILE = Path(__file__).with_name("babylon5_conversation.json")
MESSAGE_INTERVAL = timedelta(minutes=1)
LAST_MESSAGE_BEFORE_NOW = timedelta(minutes=5)


def load_conversation(path: Path = CONVERSATION_FILE) -> dict[str, Any]:
    return json.loads(path.read_text())


def seed_message_group_uuid(path: Path = CONVERSATION_FILE) -> str:
    return load_conversation(path)["message_group_uuid"]


def seed_conversation(table: Any, users_by_handle: Mapping[str, DatabaseUser], now: datetime,
                      path: Path = CONVERSATION_FILE) -> bool:
    """Writes the conversation into ``table`` (a boto3 Table); returns False when it was already there."""
    # The layer is imported here, not at the top: its modules read the functions' configuration when first
    # imported (the cold start), so only after the stack has set the functions' environment.
    from cruddur_messaging.clock import format_timestamp
    from cruddur_messaging.data import keys
    from cruddur_messaging.data.messages import group_row, message_item
    from cruddur_messaging.models import User

    conversation = load_conversation(path)
    group_uuid = conversation["message_group_uuid"]
    if table.get_item(Key=keys.membership_key(group_uuid), ConsistentRead=True).get("Item"):
        log.info("seed conversation %s already present", group_uuid)
        return False
    lines = conversation["messages"]
    senders = list(dict.fromkeys(line["sender"] for line in lines))
    if len(senders) != 2:
        raise ValueError(f"the seed conversation must have two members, it has {senders}")
    missing = [handle for handle in senders if handle not in users_by_handle]
    if missing:
        raise LookupError(f"seed users missing from PostgreSQL: {', '.join(missing)}")
    members = {handle: User(uuid=user.uuid, handle=user.handle, display_name=user.display_name)
               for handle, user in users_by_handle.items()}
    first, second = (members[handle] for handle in senders)

    last_at = now - LAST_MESSAGE_BEFORE_NOW
    times = [format_timestamp(last_at - MESSAGE_INTERVAL * (len(lines) - 1 - index)) for index in range(len(lines))]
    # The membership check above is the seed's guard, so a batch (no conditions) may write the messages.
    with table.batch_writer() as batch:
        for line, created_at in zip(lines, times):
            batch.put_item(Item=message_item(group_uuid, members[line["sender"]], line["message"],
                                             str(uuid.uuid4()), created_at))
    last_text = lines[-1]["message"]
    group_items = [
        group_row(group_uuid, owner=first, other=second, text=last_text, at=times[-1]),
        group_row(group_uuid, owner=second, other=first, text=last_text, at=times[-1]),
        {**keys.pair_key(first.uuid, second.uuid), "group_uuid": group_uuid},
        {**keys.membership_key(group_uuid), "member_uuids": sorted((first.uuid, second.uuid)),
         "created_at": times[0]},
    ]
    table.meta.client.transact_write_items(TransactItems=[
        {"Put": {"TableName": table.name, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}
        for item in group_items
    ])
    log.info("seeded conversation %s: %d messages between %s and %s", group_uuid, len(lines), *senders)
    return True
