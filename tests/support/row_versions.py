"""Group rows with versions, as design20.md section 1 has every writer leave them, for the sync tests.

Until the writers of group rows set ``version`` (and ``late_from``/``late_version``) themselves, these helpers
write them: ``apply_message`` is the stream function's application of one message to one member's row (a move to a
later message, or an in-place write for an older one), and ``stamp_versions`` gives every group row a writer
changed without raising its version the version that writer would have given it. Both use the rules of
``domain.group_row_timeline`` (``next_version``, ``LATE_AFTER``, ``SYNC_HORIZON``); once the writers keep them,
``stamp_versions`` finds nothing to stamp.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from boto3.dynamodb.conditions import Key

from cruddur_messaging.clock import format_timestamp, instant_of
from cruddur_messaging.data import keys
from cruddur_messaging.data.messages import group_row, message_item
from cruddur_messaging.domain.group_row_timeline import (
    LATE_AFTER, SYNC_HORIZON, next_version, version_at, version_of,
)
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
    version = next_version(previous, now)
    if previous is not None and at <= instant_of(previous["sk"]):
        row = dict(previous)
    else:
        row = {**(previous or {}), **group_row(group, owner=owner, other=other, text=message["message"],
                                               at=message["sk"])}
    if message["user_uuid"] != owner.uuid:
        row["unread_count"] = int(row.get("unread_count") or 0) + 1
    row["version"] = version
    if at < now - LATE_AFTER:
        late_from = message["sk"]
        if previous is not None and previous.get("late_from") and (
                version_of({"version": previous.get("late_version")}) > version_at(now - SYNC_HORIZON)):
            late_from = min(previous["late_from"], late_from)
        row["late_from"], row["late_version"] = late_from, version
    if previous is not None and previous["sk"] != row["sk"]:
        table.delete_item(Key={"pk": previous["pk"], "sk": previous["sk"]})
    table.put_item(Item=row)
    return row


def stamp_versions(table: Any, before: dict[tuple[str, str], Item]) -> int:
    """Gives each group row written since ``before`` (a snapshot of the group rows by key) without a higher version
    than the row it replaced the version its writer would have set, at the time of its own write; returns how many
    it stamped."""
    previous_by_group = {(row["pk"], row["message_group_uuid"]): row for row in before.values()}
    stamped = 0
    for key, row in group_row_snapshot(table).items():
        if before.get(key) == row:
            continue
        previous = previous_by_group.get((row["pk"], row["message_group_uuid"]))
        if previous is not None and version_of(row) > version_of(previous):
            continue
        version = next_version(previous, datetime.now(timezone.utc))
        table.update_item(Key={"pk": row["pk"], "sk": row["sk"]}, UpdateExpression="SET version = :version",
                          ExpressionAttributeValues={":version": version})
        stamped += 1
    return stamped


def group_row_snapshot(table: Any) -> dict[tuple[str, str], Item]:
    items: list[Item] = []
    arguments: dict[str, Any] = {"ConsistentRead": True}
    while True:
        page = table.scan(**arguments)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            break
        arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return {(item["pk"], item["sk"]): item for item in items if item["pk"].startswith(keys.GROUP_ROW_PREFIX)}
