"""What the stream function reads off a DynamoDB Streams record: the new message it announces (an INSERT), or the
edit or delete of a message (a MODIFY in the stored form: ``edited_at`` set, or ``deleted_at`` set and ``message``
removed), if any.

Timestamps are compared as instants, not as text (``clock``: rows written the tutorial's way do not sort as
text).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from cruddur_messaging.clock import format_timestamp, instant_of
from cruddur_messaging.data import keys


class MalformedRecord(ValueError):
    """A record that no retry can fix: logged and skipped, so it never blocks the shard."""


@dataclass(frozen=True)
class NewMessage:
    """A message inserted into a group, as its stream record tells it."""

    message_group_uuid: str
    at: datetime
    text: str
    sequence_number: str
    sender_uuid: str | None = None
    """The sender's user uuid (``user_uuid`` of the message); None if the item has none (counted as the other's)."""

    @property
    def slot(self) -> str:
        """The ``sk`` the group rows get: the message's time in the table's canonical form."""
        return format_timestamp(self.at)


@dataclass(frozen=True)
class MessageChange:
    """An edit or a delete of a message, as its MODIFY record tells it. Only the message's time, sender and whether
    it is deleted are taken from the record: the text a row shows is read from the table (the newest state, whatever
    order the records come in)."""

    message_group_uuid: str
    at: datetime
    deleted: bool
    sequence_number: str
    sender_uuid: str | None = None


def change_of(record: DynamoDBRecord) -> NewMessage | MessageChange | None:
    """The new message (INSERT) or the edit/delete (MODIFY) a ``MSG#`` record announces; None for every other
    record, and for a MODIFY that is neither (an image with no ``edited_at`` and no ``deleted_at``).

    Raises MalformedRecord as ``new_message_of``.
    """
    raw = record.raw_event
    stream = raw.get("dynamodb") if isinstance(raw, dict) else None
    if isinstance(stream, dict) and raw.get("eventName") == "MODIFY":
        pk = _string(stream.get("Keys"), "pk")
        if pk is not None and pk.startswith(keys.MESSAGE_PREFIX):
            return _message_change_of(pk, stream)
    return new_message_of(record)


def _message_change_of(pk: str, stream: dict) -> MessageChange | None:
    image = stream.get("NewImage")
    sk = _string(image, "sk")
    group_uuid = keys.group_of_messages_pk(pk)
    if not group_uuid or sk is None or _string(image, "pk") != pk:
        raise MalformedRecord("the new image lacks the message's pk or sk")
    at = instant_of(sk)
    if at is None:
        raise MalformedRecord(f"the message's sk is not a timestamp: {sk!r}")
    deleted = _string(image, "deleted_at") is not None
    if not deleted and _string(image, "edited_at") is None:
        return None
    return MessageChange(message_group_uuid=group_uuid, at=at, deleted=deleted,
                         sequence_number=str(stream.get("SequenceNumber", "")), sender_uuid=_string(image, "user_uuid"))


def new_message_of(record: DynamoDBRecord) -> NewMessage | None:
    """The message a ``MSG#`` insert announces; None for every other record (group rows, removals...).

    Raises MalformedRecord when the record is not a DynamoDB Streams record or its message cannot be read.
    """
    raw = record.raw_event
    stream = raw.get("dynamodb") if isinstance(raw, dict) else None
    if not isinstance(stream, dict) or not isinstance(raw.get("eventName"), str):
        raise MalformedRecord("not a DynamoDB Streams record")
    pk = _string(stream.get("Keys"), "pk")
    if pk is None:
        raise MalformedRecord("the record has no string pk key")
    if raw["eventName"] != "INSERT" or not pk.startswith(keys.MESSAGE_PREFIX):
        return None
    image = stream.get("NewImage")
    sk, text = _string(image, "sk"), _string(image, "message")
    group_uuid = keys.group_of_messages_pk(pk)
    if not group_uuid or sk is None or text is None or _string(image, "pk") != pk:
        raise MalformedRecord("the new image lacks the message's pk, sk or text")
    at = instant_of(sk)
    if at is None:
        raise MalformedRecord(f"the message's sk is not a timestamp: {sk!r}")
    return NewMessage(message_group_uuid=group_uuid, at=at, text=text,
                      sequence_number=str(stream.get("SequenceNumber", "")), sender_uuid=_string(image, "user_uuid"))


def _string(attributes: object, name: str) -> str | None:
    """A string attribute of a stream image or key map (``{"S": ...}``), None if absent or of another type."""
    if not isinstance(attributes, dict):
        return None
    value = attributes.get(name)
    if isinstance(value, dict) and isinstance(value.get("S"), str):
        return value["S"]
    return None
