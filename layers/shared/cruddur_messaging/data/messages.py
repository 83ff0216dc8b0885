"""Messages, group rows, memberships and pairs in the single DynamoDB table.

Every write that could overwrite something is conditional: a message never replaces another (a collision on
``sk`` moves the newcomer one microsecond later), and a new group's items are written in one transaction
that fails if the pair already has a group.

Every conditional write also recognises itself: when DynamoDB applied a request but its response was lost, the
SDK sends it again, and that retry meets the item it wrote. A message's put recognises its own ``message_uuid``
in the slot and writes nothing (it may be edited or deleted by then); an edit rewrites the same text; a delete
finds its message deleted already and answers it; a new group's transaction is recognised by the caller (the pair
then names the group it tried to create, see ``domain.create_message``); the membership and pair items recorded
for a tutorial-era group (``data.tutorial_data``) accept any item already there.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from cruddur_messaging.clock import format_timestamp, next_microsecond, parse_timestamp
from cruddur_messaging.data import keys
from cruddur_messaging.data.blocks import blockers_in
from cruddur_messaging.data.dynamodb import dynamodb_errors_as_unavailable
from cruddur_messaging.data.table_access import (
    group_rows_in_index,
    membership_item,
    pair_item,
    recorded_members,
)
from cruddur_messaging.data.transactions import CONDITION_FAILED, TransactionCancelled, write_transaction
from cruddur_messaging.data.tutorial_data import TutorialData
from cruddur_messaging.domain.group_row_timeline import row_stamp
from cruddur_messaging.errors import DependencyUnavailable
from cruddur_messaging.message_ids import is_uuid7, time_of
from cruddur_messaging.models import Membership, User
from cruddur_messaging.observability import logger

# How far after the millisecond of its UUIDv7 a message may be stored: taken slots move it a microsecond each, at
# most MAX_SLOT_ATTEMPTS times per try, and a new conversation's retries move it a few more; a second bounds all
# of that with room to spare while reading only that second of the conversation.
MESSAGE_TIME_SLACK = timedelta(seconds=1)
_DESERIALIZER = TypeDeserializer()

# How many later microseconds a message may move to when its slot is taken; two senders hitting the same
# microsecond of the same group is already rare, five in a row means something else is wrong.
MAX_SLOT_ATTEMPTS = 5

Item = dict[str, Any]
StartKey = dict[str, str]


class PairAlreadyHasGroup(Exception):
    """The pair has a group, or may have one by now: nothing of this transaction is known to be written.

    Usually another request created the pair's group first. It may also be this very transaction, applied but
    answered as cancelled (the SDK's retry of it met its own pair item) or still in progress: the pair item
    then names ``message_group_uuid``, and ``message`` is the first message it wrote.
    """

    def __init__(self, message_group_uuid: str, message: Item) -> None:
        super().__init__(message_group_uuid)
        self.message_group_uuid = message_group_uuid
        self.message = message


class SlotTaken(Exception):
    """An item already exists at this ``sk``; try the next microsecond."""


@dataclass(frozen=True)
class Pair:
    """What a send by handle reads of a pair: its group (None: none yet) and who of the two blocks the other."""

    group_uuid: str | None
    blocked_by: frozenset[str]


@dataclass(frozen=True)
class QueryPage:
    items: list[Item]
    has_more: bool


class MessageStore:
    """``reads_tutorial_data`` (the function's ``TUTORIAL_DATA``, ``config.Settings``): whether a group without a
    membership item or a pair without a pair item is looked for the tutorial's way (``data.tutorial_data``). Off, for
    a table ``bin/ddb/migrate`` upgraded, such a group does not exist and such a pair has no group: no fallback read,
    and none of the grants it needs."""

    def __init__(self, table: Any, group_index_name: str, *, reads_tutorial_data: bool = True) -> None:
        self._table = table
        self._group_index_name = group_index_name
        self._tutorial = TutorialData(table, group_index_name) if reads_tutorial_data else None

    @property
    def table_name(self) -> str:
        return self._table.name

    def list_group_rows(self, owner_uuid: str, limit: int, start_key: StartKey | None) -> QueryPage:
        """The owner's group rows, newest first (no year filter: every conversation, whenever it was)."""
        return self._query_newest_first(keys.group_rows_pk(owner_uuid), limit, start_key)

    def list_messages(self, message_group_uuid: str, limit: int, start_key: StartKey | None) -> QueryPage:
        """A group's messages, newest first; the caller turns a page back into ascending order."""
        return self._query_newest_first(keys.messages_pk(message_group_uuid), limit, start_key)

    def _query_newest_first(self, pk: str, limit: int, start_key: StartKey | None) -> QueryPage:
        # One more than asked tells whether a next page exists without a trailing empty page.
        arguments: dict[str, Any] = {
            "KeyConditionExpression": Key("pk").eq(pk),
            "ScanIndexForward": False,
            "Limit": limit + 1,
        }
        if start_key:
            arguments["ExclusiveStartKey"] = start_key
        with dynamodb_errors_as_unavailable():
            items = self._table.query(**arguments)["Items"]
        return QueryPage(items=items[:limit], has_more=len(items) > limit)

    def get_membership(self, message_group_uuid: str) -> Membership | None:
        """The group's membership item (strongly consistent, so a group's creator can read it in the very next
        request); None without one."""
        members = recorded_members(self._table, message_group_uuid)
        return Membership(message_group_uuid, members) if members is not None else None

    def members_of(self, message_group_uuid: str, *, recording_for: str | None = None) -> Membership | None:
        """The group's members: its membership item, or for a group written the tutorial's way (while the store
        reads such data), what ``data.tutorial_data`` reads off its rows. ``recording_for`` (a caller of a function
        allowed to put membership items) makes the latter an item when that caller is a member, so the next check
        is one read; a stranger's request writes nothing."""
        membership = self.get_membership(message_group_uuid)
        if membership is not None or self._tutorial is None:
            return membership
        members = self._tutorial.members(message_group_uuid)
        if members is None:
            return None
        if recording_for in members:
            self._tutorial.record_members(message_group_uuid, members)
        return Membership(message_group_uuid, members)

    def handles_named_in_group_rows(self, message_group_uuid: str) -> dict[str, str]:
        """The handle of each member as the group's rows name them (a member's handle is on the *other* member's
        row), by member uuid, through the index: one query for both."""
        rows = group_rows_in_index(self._table, self._group_index_name, message_group_uuid,
                                   projection="user_uuid, user_handle")
        return {row["user_uuid"]: row["user_handle"] for row in rows if "user_uuid" in row and "user_handle" in row}

    def find_pair(self, user_uuid: str, other_user_uuid: str) -> Pair:
        """The group of the pair's item (None without one) and the pair's blocks: the pair's partition, in one
        strongly consistent query (``data.blocks``)."""
        with dynamodb_errors_as_unavailable():
            items = self._table.query(KeyConditionExpression=Key("pk").eq(keys.pair_pk(user_uuid, other_user_uuid)),
                                      ConsistentRead=True)["Items"]
        group = next((item["group_uuid"] for item in items if item["sk"] == keys.PAIR_SK), None)
        return Pair(group, blockers_in(items))

    def pair(self, user_uuid: str, other_user_uuid: str) -> Pair:
        """The pair's group: its pair item, or for a conversation written the tutorial's way (while the store reads
        such data), the user's group row naming the other (``data.tutorial_data``, which then records the pair and
        the membership); with the pair's blocks. A blocked pair is answered without that fallback: its send is
        refused, and a refused send writes nothing (``domain.blocks``)."""
        pair = self.find_pair(user_uuid, other_user_uuid)
        if pair.group_uuid is not None or pair.blocked_by or self._tutorial is None:
            return pair
        return replace(pair, group_uuid=self._tutorial.pair_group(user_uuid, other_user_uuid))

    def put_message(self, message_group_uuid: str, sender: User, text: str, message_uuid: str,
                    created_at: str) -> Item:
        """Stores a message, never over another: a taken ``sk`` moves it to the next free microsecond.

        A slot that holds this very message (same ``message_uuid``: the SDK's retry of a put whose response was
        lost, or a keyed send resumed after a 503) is its answer as stored now, and nothing is written: the
        message may have been edited or deleted since, and a send must never bring its text back. The item
        in the slot comes back with the refusal (``ReturnValuesOnConditionCheckFailure``), so that costs no read.
        Returns the stored item, whose ``sk`` is the time the message got.
        """
        for _ in range(MAX_SLOT_ATTEMPTS):
            item = message_item(message_group_uuid, sender, text, message_uuid, created_at)
            try:
                with dynamodb_errors_as_unavailable():
                    self._table.put_item(Item=item, ConditionExpression=Attr("pk").not_exists(),
                                         ReturnValuesOnConditionCheckFailure="ALL_OLD")
                return item
            except ClientError as error:
                if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
                in_slot = _item_of_refusal(error)
                if in_slot.get("message_uuid") == message_uuid:
                    return in_slot
                created_at = next_microsecond(created_at)
        raise DependencyUnavailable("The conversation is too busy right now; please retry.")

    def find_message(self, message_group_uuid: str, message_uuid: str) -> Item | None:
        """The group's message with this uuid (any state), strongly consistently; None without one.

        A UUIDv7 (``message_ids``) names its message's millisecond: one ``Query`` of the group's partition over
        that millisecond and the slack a taken slot may have moved the message by (``MESSAGE_TIME_SLACK``),
        filtered on the uuid, reads the few messages of that second at most. Any other uuid is a tutorial-era
        message: the whole conversation is queried, filtered on the uuid (one read unit per 4 KB of the
        conversation, page after page), the only lookup that reads more than its message.
        """
        key = Key("pk").eq(keys.messages_pk(message_group_uuid))
        if is_uuid7(message_uuid):
            moment = time_of(message_uuid)
            if moment is None:
                return None  # a time no message has
            key = key & Key("sk").between(format_timestamp(moment), format_timestamp(moment + MESSAGE_TIME_SLACK))
        arguments: dict[str, Any] = {"KeyConditionExpression": key, "ConsistentRead": True,
                                     "FilterExpression": Attr("message_uuid").eq(message_uuid)}
        while True:
            with dynamodb_errors_as_unavailable():
                response = self._table.query(**arguments)
            if response["Items"]:
                return response["Items"][0]
            if "LastEvaluatedKey" not in response:
                return None
            arguments["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def edit_message(self, message: Item, sender_uuid: str, text: str, edited_at: str) -> Item | None:
        """Sets the text and ``edited_at`` of the sender's message unless it is deleted; the item as it is now, or
        None when it was deleted (or is not the sender's) by the time of the write.

        The SDK's retry of an edit whose response was lost sets the same text and time again: the same item.
        """
        try:
            with dynamodb_errors_as_unavailable():
                return self._table.update_item(
                    Key={"pk": message["pk"], "sk": message["sk"]},
                    UpdateExpression="SET #message = :text, edited_at = :edited_at",
                    ConditionExpression=_the_senders_live_message(message, sender_uuid),
                    ExpressionAttributeNames={"#message": "message"},
                    ExpressionAttributeValues={":text": text, ":edited_at": edited_at},
                    ReturnValues="ALL_NEW")["Attributes"]
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return None

    def delete_message(self, message: Item, sender_uuid: str, deleted_at: str) -> Item:
        """Removes the text (and ``edited_at``) of the sender's message and sets ``deleted_at``: final, nothing
        writes a deleted message again. Returns the item as it is now: a message deleted already (by a concurrent
        request, or by this one's write whose response was lost and whose retry the condition refused) keeps the
        ``deleted_at`` it got first, so every delete of it answers the same."""
        try:
            with dynamodb_errors_as_unavailable():
                return self._table.update_item(
                    Key={"pk": message["pk"], "sk": message["sk"]},
                    UpdateExpression="REMOVE #message, edited_at SET deleted_at = :deleted_at",
                    ConditionExpression=_the_senders_live_message(message, sender_uuid),
                    ExpressionAttributeNames={"#message": "message"},
                    ExpressionAttributeValues={":deleted_at": deleted_at},
                    ReturnValues="ALL_NEW", ReturnValuesOnConditionCheckFailure="ALL_OLD")["Attributes"]
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return _item_of_refusal(error)

    def create_group(self, message_group_uuid: str, sender: User, recipient: User, text: str,
                     message_uuid: str, created_at: str) -> Item:
        """Writes the pair, the membership, both group rows and the first message in one transaction.

        Raises PairAlreadyHasGroup when the pair has (or may have) a group by now, and SlotTaken when one member
        already has a group row at this very microsecond (the transaction wrote nothing).
        The SDK resends a transaction whose response was lost with the same ``ClientRequestToken``, which
        DynamoDB answers with the first outcome for 10 minutes; where it is not honoured (moto) or the first is
        still running (TransactionInProgressException), the caller tells our own group from another by the pair.
        """
        message = message_item(message_group_uuid, sender, text, message_uuid, created_at)
        # Both rows exact from the start (the sender has read their message, the recipient has it unread), so the
        # stream function finds them applied and each member's list changes once (``domain.unread_counts``).
        stamp = row_stamp(None, [parse_timestamp(created_at)])
        items = {
            "pair": pair_item(sender.uuid, recipient.uuid, message_group_uuid),
            "membership": membership_item(message_group_uuid, {sender.uuid, recipient.uuid}, created_at),
            f"row:{sender.uuid}": group_row(message_group_uuid, owner=sender, other=recipient, text=text,
                                            at=created_at, unread_count=0, last_read_at=created_at, **stamp),
            f"row:{recipient.uuid}": group_row(message_group_uuid, owner=recipient, other=sender, text=text,
                                               at=created_at, unread_count=1, **stamp),
            "message": message,
        }
        client = self._table.meta.client
        try:
            write_transaction(client, {
                name: {"Put": {"TableName": self._table.name, "Item": item,
                               "ConditionExpression": "attribute_not_exists(pk)"}}
                for name, item in items.items()
            })
        except TransactionCancelled as cancelled:
            if cancelled.reasons and cancelled.reason("pair").condition_failed:
                raise PairAlreadyHasGroup(message_group_uuid, message) from cancelled
            if cancelled.any_code(CONDITION_FAILED):
                raise SlotTaken(created_at) from cancelled
            if cancelled.any_code("TransactionConflict"):
                # A concurrent transaction on the same pair: treat like a lost race and look again.
                raise PairAlreadyHasGroup(message_group_uuid, message) from cancelled
            # Throttled items (ThrottlingError, ProvisionedThroughputExceeded...): nothing was written, retry later.
            logger.warning("transaction cancelled", extra={"reasons": cancelled.codes})
            raise DependencyUnavailable("The message store is temporarily unavailable.") from cancelled
        except client.exceptions.TransactionInProgressException as error:
            # The SDK resent it while DynamoDB was still applying the first send: look at the pair again.
            raise PairAlreadyHasGroup(message_group_uuid, message) from error
        return message


def _the_senders_live_message(message: Item, sender_uuid: str) -> Any:
    """The condition of an edit or a delete: the very message, the caller's, not deleted."""
    return (Attr("message_uuid").eq(message["message_uuid"]) & Attr("user_uuid").eq(sender_uuid)
            & Attr("deleted_at").not_exists())


def _item_of_refusal(error: ClientError) -> Item:
    """The item a refused conditional write met (``ReturnValuesOnConditionCheckFailure=ALL_OLD``), in the
    resource's Python types; empty when there was none."""
    raw = error.response.get("Item") or {}
    return {name: _DESERIALIZER.deserialize(value) for name, value in raw.items()}


def message_item(message_group_uuid: str, sender: User, text: str, message_uuid: str, created_at: str) -> Item:
    return {
        "pk": keys.messages_pk(message_group_uuid),
        "sk": created_at,
        "message_uuid": message_uuid,
        "message": text,
        "user_uuid": sender.uuid,
        "user_display_name": sender.display_name,
        "user_handle": sender.handle,
    }


def group_row(message_group_uuid: str, *, owner: User, other: User, text: str, at: str, **state: Any) -> Item:
    """The owner's row of a conversation: it names the *other* member and shows the last message; ``state``: the
    owner's read state and the row's version (``domain.unread_counts``, ``domain.group_row_timeline``)."""
    return {
        "pk": keys.group_rows_pk(owner.uuid),
        "sk": at,
        "message_group_uuid": message_group_uuid,
        "message": text,
        "user_uuid": other.uuid,
        "user_display_name": other.display_name,
        "user_handle": other.handle,
        **state,
    }
