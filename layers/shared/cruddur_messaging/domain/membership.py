"""The access check every group read and write goes through: the caller must be one of its two members."""
from __future__ import annotations

from cruddur_messaging.data.messages import MessageStore
from cruddur_messaging.errors import ErrorCode, NotFound
from cruddur_messaging.models import Membership, User
from cruddur_messaging.observability import logger


def require_membership(store: MessageStore, message_group_uuid: str, caller: User, *,
                       record: bool = False) -> Membership:
    """The group's membership if the caller belongs to it.

    A stranger gets the same 404 as for a group that does not exist, so group uuids reveal nothing.
    ``record``: the caller's function may write membership items (create-message); see ``MessageStore.members_of``.
    """
    membership = store.members_of(message_group_uuid, recording_for=caller.uuid if record else None)
    if membership is None or not membership.includes(caller.uuid):
        logger.info("group access denied", extra={"message_group_uuid": message_group_uuid,
                                                   "group_exists": membership is not None})
        raise NotFound("No such message group.", code=ErrorCode.MESSAGE_GROUP_NOT_FOUND)
    return membership
