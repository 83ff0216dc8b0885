"""The access check every group read and write goes through: the caller must be one of its two members."""
from __future__ import annotations

from cruddur_messaging.data.messages import MessageStore
from cruddur_messaging.errors import NotFound
from cruddur_messaging.models import Membership, User
from cruddur_messaging.observability import logger


def require_membership(store: MessageStore, message_group_uuid: str, caller: User) -> Membership:
    """The group's membership if the caller belongs to it.

    A stranger gets the same 404 as for a group that does not exist, so group uuids reveal nothing.
    Groups written the tutorial's way have no membership item; their members are the owners of their group
    rows, read through the index.
    """
    membership = store.get_membership(message_group_uuid) or store.find_members_through_group_rows(message_group_uuid)
    if membership is None or not membership.includes(caller.uuid):
        logger.info("group access denied", extra={"message_group_uuid": message_group_uuid,
                                                   "group_exists": membership is not None})
        raise NotFound("No such message group.", code="message_group_not_found")
    return membership
