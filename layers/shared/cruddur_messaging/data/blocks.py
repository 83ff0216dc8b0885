"""Blocks in the single table: two items per block, written together in one transaction.

- ``BLOCK#<blocker>`` / ``<blocked uuid>``: the blocker's list (``GET /api/blocks`` queries the partition).
- ``PAIR#<uuid 1>#<uuid 2>`` / ``BLOCKED_BY#<blocker>``: the same block in the pair's partition, beside the pair
  item (``PAIR``) that names the pair's group. A send by handle already reads the pair's partition: it reads it
  whole (one strongly consistent ``Query``, in ``data.messages``) and finds the group and the blocks of both
  members in the same read. A send into a group reads the group's membership item first, which names the other
  member; its pair's blocks are then one more small read (:meth:`BlockStore.blockers`).

The pair item's own key (``PAIR``) is untouched: its absence still means "no group yet" to the transaction that
creates a conversation (its ``attribute_not_exists`` condition), to the idempotent resume of a send that planned
that group, and to the tutorial-era fallback, because a block is another item of the partition.

Both writes are idempotent (an update that keeps the first ``created_at``, a delete), so the SDK's resend of a
transaction whose answer was lost changes nothing; the SDK also resends it with the same ``ClientRequestToken``,
which DynamoDB answers with the first outcome for 10 minutes (TransactWriteItems, "ClientRequestToken":
https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html).
"""
from __future__ import annotations

from typing import Any, Iterable

from boto3.dynamodb.conditions import Key

from cruddur_messaging.data import keys
from cruddur_messaging.data.dynamodb import dynamodb_errors_as_unavailable
from cruddur_messaging.data.table_access import query_all
from cruddur_messaging.data.transactions import TransactionCancelled, write_transaction
from cruddur_messaging.errors import DependencyUnavailable
from cruddur_messaging.observability import logger

Item = dict[str, Any]
# A block and an unblock of the same pair at once conflict (TransactionConflict) and write nothing; the loser tries
# again, and after this many conflicts in a row answers a 503 the client retries.
MAX_TRANSACTION_ATTEMPTS = 3


def blockers_in(items: Iterable[Item]) -> frozenset[str]:
    """The members who block the other, among the items of a pair's partition."""
    return frozenset(blocker for item in items if (blocker := keys.blocker_of_pair_sk(item["sk"])) is not None)


class BlockStore:
    def __init__(self, table: Any) -> None:
        self._table = table

    def block(self, blocker_uuid: str, blocked_uuid: str, at: str) -> None:
        """Records the block on both sides; blocking again keeps the first time."""
        update = {"UpdateExpression": "SET blocker_uuid = :blocker, blocked_uuid = :blocked, "
                                      "created_at = if_not_exists(created_at, :at)",
                  "ExpressionAttributeValues": {":blocker": blocker_uuid, ":blocked": blocked_uuid, ":at": at}}
        self._transaction({
            "list": {"Update": {"TableName": self._table.name, "Key": keys.block_key(blocker_uuid, blocked_uuid),
                                **update}},
            "pair": {"Update": {"TableName": self._table.name, "Key": keys.pair_block_key(blocker_uuid, blocked_uuid),
                                **update}},
        })

    def unblock(self, blocker_uuid: str, blocked_uuid: str) -> None:
        """Deletes both sides of the block; nothing to delete is fine."""
        self._transaction({
            "list": {"Delete": {"TableName": self._table.name,
                                "Key": keys.block_key(blocker_uuid, blocked_uuid)}},
            "pair": {"Delete": {"TableName": self._table.name,
                                "Key": keys.pair_block_key(blocker_uuid, blocked_uuid)}},
        })

    def blocked_by(self, blocker_uuid: str) -> list[Item]:
        """The blocker's list, every page (strongly consistent: a block shows in the very next request)."""
        return query_all(self._table, {"KeyConditionExpression": Key("pk").eq(keys.blocks_pk(blocker_uuid)),
                                       "ConsistentRead": True})

    def blockers(self, user_uuid: str, other_user_uuid: str) -> frozenset[str]:
        """Which of the two blocks the other: one strongly consistent query of the pair's block items (at most two
        items of about a hundred bytes: one read unit)."""
        with dynamodb_errors_as_unavailable():
            items = self._table.query(
                KeyConditionExpression=Key("pk").eq(keys.pair_pk(user_uuid, other_user_uuid))
                & Key("sk").begins_with(keys.BLOCKED_BY_SK_START),
                ConsistentRead=True, ProjectionExpression="sk")["Items"]
        return blockers_in(items)

    def _transaction(self, items: dict[str, Item]) -> None:
        client = self._table.meta.client
        for _ in range(MAX_TRANSACTION_ATTEMPTS):
            try:
                write_transaction(client, items)
                return
            except TransactionCancelled as cancelled:
                if not cancelled.any_code("TransactionConflict"):
                    logger.warning("block transaction cancelled", extra={"reasons": cancelled.codes})
                    raise DependencyUnavailable("The block list is temporarily unavailable.") from cancelled
                logger.info("block transaction conflicted with another on the same pair; trying again")
            except client.exceptions.TransactionInProgressException:
                logger.info("the SDK resent the block transaction while the first send was running; trying again")
        raise DependencyUnavailable("The block list is busy; please retry.")
