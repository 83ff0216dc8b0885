"""What ``GET /api/sync`` reads (``domain.sync``): an owner's group rows by version, through
``group-row-version-index``, and a conversation's messages after a time.

The index is sparse: its key is the table's ``pk`` and the row's ``version`` (N), and only group rows carry a
version (``domain.group_row_timeline``), so it holds exactly the versioned group rows, each owner's in one
partition in version order. "All reads from GSIs and streams are eventually consistent"
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.ReadConsistency.html): ``domain.sync``
allows for that (``SETTLE``). The messages are read strongly consistently from the table.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import Key

from cruddur_messaging.data import keys
from cruddur_messaging.data.dynamodb import dynamodb_errors_as_unavailable

Item = dict[str, Any]


@dataclass(frozen=True)
class RowsFound:
    """``items`` in version order; ``truncated``: DynamoDB stopped before the end (``LastEvaluatedKey``)."""

    items: list[Item]
    truncated: bool


@dataclass(frozen=True)
class MessagesFound:
    """``items`` oldest first; ``has_more``: the conversation has more messages past the last one."""

    items: list[Item]
    has_more: bool


class RowVersionReads:
    def __init__(self, table: Any, row_version_index_name: str) -> None:
        self._table = table
        self._index_name = row_version_index_name

    def rows_changed_after(self, owner_uuid: str, version: int, limit: int) -> RowsFound:
        """The owner's group rows whose ``version`` is above ``version``, lowest first, at most ``limit``: one
        ``Query`` of the index (eventually consistent)."""
        arguments: dict[str, Any] = {
            "IndexName": self._index_name,
            "KeyConditionExpression": Key("pk").eq(keys.group_rows_pk(owner_uuid)) & Key("version").gt(version),
            "ScanIndexForward": True,
            "Limit": limit,
        }
        with dynamodb_errors_as_unavailable():
            response = self._table.query(**arguments)
        return RowsFound(items=response["Items"], truncated="LastEvaluatedKey" in response)

    def messages_after(self, message_group_uuid: str, after: str | None, limit: int) -> MessagesFound:
        """The group's messages with ``sk`` above ``after`` (None: from the first), oldest first, at most
        ``limit``: one strongly consistent ``Query`` (one more item than asked tells whether more follow)."""
        condition = Key("pk").eq(keys.messages_pk(message_group_uuid))
        if after is not None:
            condition = condition & Key("sk").gt(after)
        arguments: dict[str, Any] = {
            "KeyConditionExpression": condition,
            "ScanIndexForward": True,
            "Limit": limit + 1,
            "ConsistentRead": True,
        }
        with dynamodb_errors_as_unavailable():
            items = self._table.query(**arguments)["Items"]
        return MessagesFound(items=items[:limit], has_more=len(items) > limit)
