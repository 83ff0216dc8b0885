"""Group rows written at chosen moments, for the sync's unit tests: ``apply_message`` is the stream function's
application of one message to one member's row (a move to a later message, or an in-place write for an older
one) at a time the test picks, stamped by the writers' own rule (``domain.group_row_timeline.row_stamp``), so a
test can place a write's version and late record exactly (the stream function takes its time from the clock).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from boto3.dynamodb.conditions import Key

from cruddur_messaging.clock import format_timestamp, instant_of
from cruddur_messaging.data import keys
from cruddur_messaging.data.messages import group_row, message_item
from cruddur_messaging.domain.group_row_timeline import row_stamp
from cruddur_messaging.models import User

Item = dict[str, Any]
VERSION_ATTRIBUTES = ("version", "late_from", "late_version")


def owner_rows(table: Any, owner: User) -> dict[str, Item]:
    """The owner's group rows by group (the newest where there are several)."""
    items = table.query(KeyConditionExpression=Key("pk").eq(keys.group_rows_pk(owner.uuid)), ConsistentRead=True)
    rows: dict[str, Item] = {}
    for row in sorted(items["Items"], key=lambda row: row["sk"]):
        rows[row["message_group_uuid"]] = row
    return rows


def put_message(table: Any, group: str, sender: User, text: str, message_uuid: str, at: datetime) -> Item:
    item = message_item(group, sender, text, message_uuid, format_timestamp(at))
    table.put_item(Item=item)
    return item


def apply_message(table: Any, group: str, owner: User, other: User, message: Item, now: datetime) -> Item:
    """The owner's row once the stream function applied ``message`` at ``now``: moved to it when it is later than
    the row, else written in place; a new version, and the late record when ``message`` is over ``LATE_AFTER``
    old (kept as the earliest while the previous record is within ``SYNC_HORIZON``)."""
    previous = owner_rows(table, owner).get(group)
    at = instant_of(message["sk"])
    assert at is not None
    if previous is not None and at <= instant_of(previous["sk"]):
        row = dict(previous)
    else:
        row = {**(previous or {}), **group_row(group, owner=owner, other=other, text=message["message"],
                                               at=message["sk"])}
    if message["user_uuid"] != owner.uuid:
        row["unread_count"] = int(row.get("unread_count") or 0) + 1
    row.update(row_stamp(previous, [at], now=now))
    if previous is not None and previous["sk"] != row["sk"]:
        table.delete_item(Key={"pk": previous["pk"], "sk": previous["sk"]})
    table.put_item(Item=row)
    return row
