"""Group rows (``GRP#<owner>``) as the stream function sees them: found, re-read and moved.

A move deletes the rows an owner has for a group and puts the row at its new ``sk`` in one transaction, with the
conditions ``domain.group_row_timeline`` states (where a row may move, and how a writer that loses a race tries
again): a stale read or a racing writer makes the transaction fail as a whole instead of losing or duplicating a
row, or overwriting a read marker or late record set meanwhile. The new row carries its ``version`` and late record
(``group_row_timeline.row_stamp``), made by the caller.

A move whose response was lost is sent again by the SDK (with the same ``ClientRequestToken``, which DynamoDB
answers with the first outcome; moto does not): the retry finds the rows gone and the new row in place, exactly
as it put it, and that counts as moved.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import Attr, Key

from cruddur_messaging.data import keys
from cruddur_messaging.data.table_access import group_rows_in_index, query_all, recorded_members
from cruddur_messaging.data.transactions import CONDITION_FAILED, NO_REASON, TransactionCancelled, write_transaction
from cruddur_messaging.domain.group_row_timeline import unchanged_row_condition
from cruddur_messaging.errors import DependencyUnavailable

Item = dict[str, Any]

# Cancellation reasons after which reading the rows again and retrying can succeed.
_RETRYABLE_REASONS = frozenset({"ConditionalCheckFailed", "TransactionConflict"})


@dataclass(frozen=True)
class MoveOutcome:
    """What became of one move: done, or why not (both reasons can hold at once)."""

    moved: bool
    rows_changed: bool = False
    """A row we read is gone, or the group's row already sits on the target key: read the rows again."""
    slot_taken: bool = False
    """The target key holds another item (another group's row at the same microsecond): try the next one."""


MOVED = MoveOutcome(moved=True)


class GroupRowStore:
    def __init__(self, table: Any, group_index_name: str) -> None:
        self._table = table
        self._group_index_name = group_index_name

    def rows_in_index(self, message_group_uuid: str) -> list[Item]:
        """The group's rows as ``message-group-sk-index`` has them: eventually consistent, so possibly rows
        that were moved since (their old key) or without a row written a moment ago."""
        return group_rows_in_index(self._table, self._group_index_name, message_group_uuid)

    def owner_rows(self, owner_uuid: str, message_group_uuid: str, since: str | None) -> list[Item]:
        """The owner's rows of the group, read strongly consistently from the table.

        ``since`` bounds the read to rows at or after that ``sk`` (``domain.group_row_timeline.reread_from`` says
        why the rows read before are there); ``None`` reads the owner's whole partition.
        """
        condition = Key("pk").eq(keys.group_rows_pk(owner_uuid))
        if since is not None:
            condition = condition & Key("sk").gte(since)
        return query_all(self._table, {
            "KeyConditionExpression": condition,
            "FilterExpression": Attr("message_group_uuid").eq(message_group_uuid),
            "ConsistentRead": True,
        })

    def members(self, message_group_uuid: str) -> frozenset[str] | None:
        """The members the group's membership item records (groups written the tutorial's way have none)."""
        return recorded_members(self._table, message_group_uuid)

    def rows_to_move(self, message_group_uuid: str) -> dict[str, list[Item]]:
        """Each member's rows of the group, by owner: as the index has them, one query for both members.

        Rows reach the index a moment after they are written (a group created just now), so with fewer than two
        owners there, the members the table records get their rows read from the table. A group written the
        tutorial's way records none (``data.tutorial_data``): its members are the owners of its rows, which is
        what the index shows.
        """
        rows_by_owner: dict[str, list[Item]] = defaultdict(list)
        for row in self.rows_in_index(message_group_uuid):
            rows_by_owner[keys.owner_of_group_rows_pk(row["pk"])].append(row)
        if len(rows_by_owner) < 2:
            for member_uuid in sorted(self.members(message_group_uuid) or ()):
                if member_uuid not in rows_by_owner:
                    rows_by_owner[member_uuid] = self.owner_rows(member_uuid, message_group_uuid, since=None)
        return dict(rows_by_owner)

    def move(self, message_group_uuid: str, rows: list[Item], new_row: Item, source: Item | None = None) -> MoveOutcome:
        """Replaces ``rows`` (one owner's rows of the group, as read) by ``new_row``, atomically.

        ``source``, one of ``rows``, is the row ``new_row`` was made from: its delete also requires the read
        state it was read with.
        """
        deletes = {
            f"delete:{row['sk']}": {"Delete": {
                "TableName": self._table.name,
                "Key": {"pk": row["pk"], "sk": row["sk"]},
                **(unchanged_row_condition(message_group_uuid, row) if row is source
                   else {"ConditionExpression": "message_group_uuid = :group",
                         "ExpressionAttributeValues": {":group": message_group_uuid}}),
            }}
            for row in rows
        }
        put = {"Put": {
            "TableName": self._table.name,
            "Item": new_row,
            "ConditionExpression": "attribute_not_exists(pk)",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }}
        try:
            write_transaction(self._table.meta.client, {**deletes, "put": put})
        except TransactionCancelled as cancelled:
            return _outcome_of_cancellation(message_group_uuid, new_row, list(deletes), cancelled)
        return MOVED


def _outcome_of_cancellation(message_group_uuid: str, new_row: Item, delete_names: list[str],
                             cancelled: TransactionCancelled) -> MoveOutcome:
    """Reads the reasons of a cancelled move: those of the deletes (``delete_names``) and of the put."""
    codes = cancelled.codes
    if not cancelled.reasons or any(code not in _RETRYABLE_REASONS | {NO_REASON} for code in codes):
        # Throttling, a validation error...: nothing that reading the rows again would fix.
        raise DependencyUnavailable(f"moving a group row was cancelled: {codes or 'no reasons given'}") from cancelled
    delete_codes = [cancelled.reason(name).code for name in delete_names]
    put = cancelled.reason("put")
    if put.condition_failed and all(code == CONDITION_FAILED for code in delete_codes) and put.item == new_row:
        # Every row we read is gone and the new one stands as we put it: this move already happened.
        return MOVED
    taken_by_this_group = put.condition_failed and _group_of(put.item) == message_group_uuid
    return MoveOutcome(
        moved=False,
        rows_changed=any(code != NO_REASON for code in delete_codes) or put.code == "TransactionConflict"
        or taken_by_this_group,
        slot_taken=put.condition_failed and not taken_by_this_group,
    )


def _group_of(item: Item | None) -> str | None:
    """The ``message_group_uuid`` of the item on a taken key (None when it is not a group row)."""
    value = (item or {}).get("message_group_uuid")
    return value if isinstance(value, str) else None
