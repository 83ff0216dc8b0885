"""Edit and delete your own messages (issue 21; docs/http-api.md, "Edit and delete").

Only a message's sender edits or deletes it. A group the caller is not a member of, and a message the group does
not hold, answer the same 404 (``message_not_found``), so a uuid reveals nothing; another member's message is a
403 (``not_sender``). An edit keeps the text rules of a send. Deleting is final: the text is removed from the
table (``data.messages.MessageStore.delete_message``) and nothing writes the message again, not an edit (a
deleted message is not found for an edit: 404) and not a resent or resumed send (``MessageStore.put_message``).

Both answer the same to the same request: an edit to the text the message has writes nothing and answers it as
it is; a delete of a deleted message answers the ``deleted_at`` it got first. Both reach the table's stream as
``MODIFY`` records of the ``MSG#`` item: the live frames (``domain.live_delivery``) and the lists
(``domain.move_group_rows``) follow from there.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from cruddur_messaging.clock import utc_now
from cruddur_messaging.data.messages import Item, MessageStore
from cruddur_messaging.domain.list_messages import message_of
from cruddur_messaging.domain.validation import parse_message_group_uuid, parse_message_text, parse_message_uuid
from cruddur_messaging.errors import BadRequest, ErrorCode, Forbidden, NotFound
from cruddur_messaging.models import DeletedMessage, Message, User
from cruddur_messaging.observability import logger, metrics


@dataclass(frozen=True)
class EditRequest:
    message: str

    @classmethod
    def parse(cls, body: Any) -> "EditRequest":
        """400 for a malformed body, 422 for a text a send would refuse (blank, too long)."""
        if not isinstance(body, dict):
            raise BadRequest("The body must be a JSON object.", code=ErrorCode.INVALID_BODY)
        return cls(message=parse_message_text(body.get("message")))


def edit_message(store: MessageStore, caller: User, raw_group_uuid: str | None, raw_message_uuid: str | None,
                 request: EditRequest) -> Message:
    """The body of ``PATCH /api/messages/{message_group_uuid}/{message_uuid}``: the message as lists show it."""
    group_uuid, item = _the_callers_message(store, caller, raw_group_uuid, raw_message_uuid)
    if "deleted_at" in item:
        raise _not_found(group_uuid, reason="deleted")
    if item.get("message") == request.message:
        return message_of(item)
    edited = store.edit_message(item, caller.uuid, request.message, utc_now())
    if edited is None:
        # Deleted between our read and our write (the only change the condition refuses: the uuid, the sender
        # and the key do not change).
        raise _not_found(group_uuid, reason="deleted")
    metrics.add_metric(name="MessagesEdited", unit=MetricUnit.Count, value=1)
    return message_of(edited)


def delete_message(store: MessageStore, caller: User, raw_group_uuid: str | None,
                   raw_message_uuid: str | None) -> DeletedMessage:
    """The body of ``DELETE /api/messages/{message_group_uuid}/{message_uuid}``."""
    group_uuid, item = _the_callers_message(store, caller, raw_group_uuid, raw_message_uuid)
    if "deleted_at" not in item:
        item = store.delete_message(item, caller.uuid, utc_now())
        if "deleted_at" not in item:
            raise _not_found(group_uuid, reason="gone")  # nothing deletes a message's item: not expected
        metrics.add_metric(name="MessagesDeleted", unit=MetricUnit.Count, value=1)
    return DeletedMessage(message_group_uuid=group_uuid, uuid=item["message_uuid"], deleted_at=item["deleted_at"])


def _the_callers_message(store: MessageStore, caller: User, raw_group_uuid: str | None,
                         raw_message_uuid: str | None) -> tuple[str, Item]:
    """The group's uuid and the caller's message in it (any state), or the error a client may see."""
    group_uuid = parse_message_group_uuid(raw_group_uuid)
    message_uuid = parse_message_uuid(raw_message_uuid)
    membership = store.members_of(group_uuid)
    if membership is None or not membership.includes(caller.uuid):
        raise _not_found(group_uuid, reason="not a member")
    item = store.find_message(group_uuid, message_uuid)
    if item is None:
        raise _not_found(group_uuid, reason="no such message")
    if item.get("user_uuid") != caller.uuid:
        raise Forbidden("Only the sender of a message may change it.", code=ErrorCode.NOT_SENDER)
    return group_uuid, item


def _not_found(group_uuid: str, *, reason: str) -> NotFound:
    logger.info("message not found for a change", extra={"message_group_uuid": group_uuid, "reason": reason})
    return NotFound("No such message.", code=ErrorCode.MESSAGE_NOT_FOUND)
