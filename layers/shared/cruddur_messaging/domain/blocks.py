"""Blocking a user, and the check every send makes (docs/http-api.md, "Blocks").

While B blocks A, neither can send to the other, into their conversation or by handle:

- A (blocked) gets 403 ``recipient_unavailable``, which does not say it is a block: Sendbird does not tell a
  blocked sender either, and a code that named the block would let anyone test who blocks them. The code is
  generic on purpose ("does not accept messages from you"), so it can serve other reasons later.
- B (the blocker) gets 403 ``user_blocked``: B knows of the block, and the answer says how to lift it. Letting B
  write to someone who cannot answer would make the block a way to have the last word.

Nothing of a refused send is written: the check runs before any write, so no message, no stream record, no frame,
no change to unread counts. Both still read the conversation. Unblocking deletes the block and nothing else, so
everything is as it was.

The check rides on the reads a send already makes (``data.blocks``): a send by handle reads the pair's partition,
which holds the blocks next to the pair item; a send into a group reads the membership, then the pair's blocks
(one small strongly consistent query). A send whose check ran before a block committed may still land: it is
ordered before the block, as if sent a moment earlier. No send checked after the block's commit lands.
"""
from __future__ import annotations

from cruddur_messaging.clock import utc_now
from cruddur_messaging.data.blocks import BlockStore
from cruddur_messaging.data.users import UserRepository
from cruddur_messaging.domain.validation import normalize_handle
from cruddur_messaging.errors import ErrorCode, Forbidden, NotFound, RuleViolation
from cruddur_messaging.models import BlockedUser, BlockState, Membership, User
from cruddur_messaging.observability import logger


def refuse_if_blocked(blocked_by: frozenset[str], sender: User, recipient_uuid: str) -> None:
    """Refuses a send between two users when either blocks the other (``blocked_by``: the blockers)."""
    if sender.uuid in blocked_by:
        raise Forbidden("You blocked this user: unblock them to send them messages.", code=ErrorCode.USER_BLOCKED)
    if recipient_uuid in blocked_by:
        # No uuid or handle in the log line: who blocks whom is nobody's business but theirs.
        logger.info("send refused: the recipient blocks the sender")
        raise Forbidden("This user is not accepting messages from you.", code=ErrorCode.RECIPIENT_UNAVAILABLE)


def refuse_if_blocked_in_group(blocks: BlockStore, sender: User, membership: Membership) -> None:
    """The check of a send into a group: the other member's and the sender's blocks of each other.

    A tutorial-era group whose rows show only the sender (the index caught a row mid-move) has no other member to
    check; ``data.tutorial_data`` does not record such a membership, so the next send reads it again.
    """
    others = membership.member_uuids - {sender.uuid}
    for other in others:
        refuse_if_blocked(blocks.blockers(sender.uuid, other), sender, other)


def block_user(blocks: BlockStore, users: UserRepository, caller: User, raw_handle: str | None) -> BlockState:
    """Blocks the user with that handle; blocking again changes nothing and answers the same."""
    target = _other_user(users, caller, raw_handle)
    blocks.block(caller.uuid, target.uuid, utc_now())
    return BlockState(handle=target.handle, display_name=target.display_name, blocked=True)


def unblock_user(blocks: BlockStore, users: UserRepository, caller: User, raw_handle: str | None) -> BlockState:
    """Lifts the caller's block of that user, if any; unblocking again answers the same."""
    target = _other_user(users, caller, raw_handle)
    blocks.unblock(caller.uuid, target.uuid)
    return BlockState(handle=target.handle, display_name=target.display_name, blocked=False)


def blocked_users(blocks: BlockStore, users: UserRepository, caller: User) -> list[BlockedUser]:
    """Whom the caller blocks, by handle, with their current names (a user since removed from the users table
    is left out: there is no one to show)."""
    blocked_uuids = [item["sk"] for item in blocks.blocked_by(caller.uuid)]
    found = users.find_by_uuids(blocked_uuids)
    return sorted((BlockedUser.of(user) for user in found), key=lambda user: user.handle.lower())


def _other_user(users: UserRepository, caller: User, raw_handle: str | None) -> User:
    handle = normalize_handle(raw_handle)
    target = users.find_by_handle(handle)
    if target is None:
        raise NotFound(f"No user with the handle @{handle}.", code=ErrorCode.USER_NOT_FOUND)
    if target.uuid == caller.uuid:
        raise RuleViolation("You cannot block or unblock yourself.", code=ErrorCode.BLOCK_SELF)
    return target
