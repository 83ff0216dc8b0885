"""Read state on the group rows (``unread_count``, ``last_read_at``): counted, set in place, summed.

Every write is an ``UpdateItem`` of one row at the key it was read at, conditional on that row still being the
group's (an ``UpdateItem`` on a key that is gone would create a stray item otherwise) and on what the writer
relied on, as ``domain.group_row_timeline`` rules: the stream function on the read state and version it read, a
reader on the marker moving forward and the version growing. Every write sets the row's next ``version``. A
refused write hands back the row as it is now (``ReturnValuesOnConditionCheckFailure``), so the caller decides
without reading it again; a row that moved meanwhile comes back as None.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from cruddur_messaging.clock import format_timestamp, instant_of, next_microsecond
from cruddur_messaging.data import keys
from cruddur_messaging.data.dynamodb import dynamodb_errors_as_unavailable
from cruddur_messaging.data.group_rows import Item
from cruddur_messaging.data.table_access import query_all, query_pages
from cruddur_messaging.data.transactions import plain_item
from cruddur_messaging.domain.group_row_timeline import (
    MARKER_MOVES_FORWARD,
    NEWEST_AT,
    VERSION_GROWS,
    unchanged_row_condition,
)

REMAINING_PAGE = 10
"""Items per page of ``newest_remaining``: the newest message and a few deleted ones after it, at most about one
read unit of a strongly consistent read (4 KB) for short messages."""


@dataclass(frozen=True)
class WriteOutcome:
    """``row``: the row after the write when ``written``, else as it is now (None: it is no longer at that key)."""

    written: bool
    row: Item | None


@dataclass(frozen=True)
class Remaining:
    """``newest``: the newest message not deleted (``sk``, ``message``), None if none is; ``deleted_after``: the
    ``sk`` of every deleted message after it, newest first."""

    newest: Item | None
    deleted_after: tuple[str, ...]


@dataclass(frozen=True)
class Preview:
    """What a refresh writes besides the read state: the text the row shows and its ``newest_at`` (None: none)."""

    message: str
    newest_at: str | None


class ReadStateStore:
    def __init__(self, table: Any) -> None:
        self._table = table

    def count_unread(self, message_group_uuid: str, reader_uuid: str, after: str | None, through: str) -> int:
        """The messages of the group not sent by the reader and not deleted with ``after < sk <= through``
        (``after`` None: from the first), counted strongly consistently. Bounds are canonical timestamps (they sort
        as text)."""
        if after is not None and after >= through:
            return 0
        sk = Key("sk").lte(through) if after is None else Key("sk").between(next_microsecond(after), through)
        arguments: dict[str, Any] = {
            "KeyConditionExpression": Key("pk").eq(keys.messages_pk(message_group_uuid)) & sk,
            "FilterExpression": Attr("user_uuid").ne(reader_uuid) & Attr("deleted_at").not_exists(),
            "Select": "COUNT",
            "ConsistentRead": True,
        }
        return sum(page["Count"] for page in query_pages(self._table, arguments))

    def newest_message_at(self, message_group_uuid: str, through: str) -> str | None:
        """The time (canonical) of the group's newest message with ``sk <= through``, read strongly consistently;
        None: no message (or no timestamp) there. One item, only its key."""
        arguments: dict[str, Any] = {
            "KeyConditionExpression": Key("pk").eq(keys.messages_pk(message_group_uuid)) & Key("sk").lte(through),
            "ScanIndexForward": False,
            "Limit": 1,
            "ConsistentRead": True,
            "ProjectionExpression": "sk",
        }
        with dynamodb_errors_as_unavailable():
            items = self._table.query(**arguments)["Items"]
        instant = instant_of(items[0]["sk"]) if items else None
        return None if instant is None else format_timestamp(instant)

    def newest_remaining(self, message_group_uuid: str, through: str) -> Remaining:
        """The group's newest message with ``sk <= through`` that is not deleted, and the deleted ones after it,
        read strongly consistently, newest first, a page of ``REMAINING_PAGE`` items at a time (usually one page:
        deleted messages are few)."""
        arguments: dict[str, Any] = {
            "KeyConditionExpression": Key("pk").eq(keys.messages_pk(message_group_uuid)) & Key("sk").lte(through),
            "ScanIndexForward": False,
            "Limit": REMAINING_PAGE,
            "ConsistentRead": True,
            "ProjectionExpression": "sk, #message, deleted_at",
            "ExpressionAttributeNames": {"#message": "message"},  # names that may be reserved words go by alias
        }
        deleted: list[str] = []
        for page in query_pages(self._table, arguments):
            for item in page["Items"]:
                if item.get("deleted_at") is None:
                    return Remaining(newest=item, deleted_after=tuple(deleted))
                deleted.append(item["sk"])
        return Remaining(newest=None, deleted_after=tuple(deleted))

    def replace_read_state(self, message_group_uuid: str, row: Item, unread_count: int, last_read_at: str | None,
                           stamp: Item, preview: Preview | None = None) -> WriteOutcome:
        """Sets the row's read state and ``stamp`` (its version, and late record if any:
        ``group_row_timeline.row_stamp``) in place, if the row still has the state and version it was read with (the
        stream function's write of a row it does not move). ``preview``: its text and ``newest_at`` too (a refresh:
        ``domain.move_group_rows``)."""
        condition = unchanged_row_condition(message_group_uuid, row)
        assignments = ["unread_count = :new_count"]
        removals: list[str] = []
        values = {**condition["ExpressionAttributeValues"], ":new_count": unread_count}
        if preview is not None:
            assignments.append("#message = :new_message")
            values[":new_message"] = preview.message
            if preview.newest_at is None:
                removals.append(NEWEST_AT)
            else:
                assignments.append(f"{NEWEST_AT} = :new_newest_at")
                values[":new_newest_at"] = preview.newest_at
        if last_read_at is not None:
            assignments.append("last_read_at = :new_marker")
            values[":new_marker"] = last_read_at
        for attribute, value in stamp.items():
            assignments.append(f"{attribute} = :new_{attribute}")
            values[f":new_{attribute}"] = value
        update = f"SET {', '.join(assignments)}" + (f" REMOVE {', '.join(removals)}" if removals else "")
        names = {"#message": "message"} if preview is not None else None
        return self._update(row, update, condition["ConditionExpression"], values, names)

    def mark_read(self, message_group_uuid: str, row: Item, read_at: str, unread_count: int, version: int,
                  count_read_with_row: bool = False) -> WriteOutcome:
        """Moves the reader's marker on the row to ``read_at`` with ``unread_count`` and ``version``, only forward
        (``MARKER_MOVES_FORWARD``), and never to a version below the row's (``VERSION_GROWS``).

        ``count_read_with_row``: ``unread_count`` was computed from the row as read, so the row's count must still
        be what it was; not needed when the new count is 0 (everything up to the row's ``sk`` is read).
        """
        condition = f"message_group_uuid = :group AND {MARKER_MOVES_FORWARD} AND {VERSION_GROWS}"
        values: dict[str, Any] = {":group": message_group_uuid, ":new_marker": read_at, ":new_count": unread_count,
                                  ":new_version": version}
        if count_read_with_row and row.get("unread_count") is None:
            condition += " AND attribute_not_exists(unread_count)"
        elif count_read_with_row:
            condition += " AND unread_count = :count"
            values[":count"] = row["unread_count"]
        return self._update(row, "SET last_read_at = :new_marker, unread_count = :new_count, version = :new_version",
                            condition, values)

    def unread_totals(self, owner_uuid: str, *, consistent: bool = False) -> tuple[int, int]:
        """(conversations with unread messages, unread messages in all) over the owner's group rows: one query
        that returns only the counts (a 1 MB page holds about a thousand rows). ``consistent``: read strongly
        consistently, so that every write acknowledged before the read counts (live delivery's ``unread`` frame
        follows a write it got from the stream)."""
        arguments: dict[str, Any] = {
            "KeyConditionExpression": Key("pk").eq(keys.group_rows_pk(owner_uuid)),
            "FilterExpression": Attr("unread_count").gt(0),
            "ProjectionExpression": "unread_count",
        }
        if consistent:
            arguments["ConsistentRead"] = True
        counts = [int(item["unread_count"]) for item in query_all(self._table, arguments)]
        return len(counts), sum(counts)

    def _update(self, row: Item, update: str, condition: str, values: dict[str, Any],
                names: dict[str, str] | None = None) -> WriteOutcome:
        try:
            with dynamodb_errors_as_unavailable():
                response = self._table.update_item(
                    Key={"pk": row["pk"], "sk": row["sk"]}, UpdateExpression=update, ConditionExpression=condition,
                    ExpressionAttributeValues=values, ReturnValues="ALL_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                    **({"ExpressionAttributeNames": names} if names else {}))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            current = plain_item(error.response.get("Item"))
            group = row.get("message_group_uuid")
            return WriteOutcome(written=False, row=current if current.get("message_group_uuid") == group else None)
        return WriteOutcome(written=True, row=response["Attributes"])
