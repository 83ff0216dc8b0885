"""The nouns of the messaging domain and the shapes the API returns, in one place."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Generic, Mapping, TypeVar

MESSAGE_MAX_CHARS = 1024


@dataclass(frozen=True)
class User:
    uuid: str
    handle: str
    display_name: str
    cognito_user_id: str | None = None


@dataclass(frozen=True)
class UserShort:
    """The public card of a user (``GET /api/users/{handle}/short``)."""

    uuid: str
    handle: str
    display_name: str

    @classmethod
    def of(cls, user: User) -> "UserShort":
        return cls(uuid=user.uuid, handle=user.handle, display_name=user.display_name)


@dataclass(frozen=True)
class BlockedUser:
    """A user the caller blocks (``POST /api/users/{handle}/block`` and ``GET /api/blocks``): the current handle and
    display name, from the users table."""

    handle: str
    display_name: str

    @classmethod
    def of(cls, user: User) -> "BlockedUser":
        return cls(handle=user.handle, display_name=user.display_name)


@dataclass(frozen=True)
class BlockState:
    """The answer of blocking (``blocked`` true) or unblocking (false) a user: the same every time it is asked."""

    handle: str
    display_name: str
    blocked: bool


@dataclass(frozen=True)
class MessageGroupSummary:
    """One conversation in the caller's list: ``uuid`` is the group, the names are the *other* member's.

    ``unread_count``, ``last_read_at`` (the caller's read marker, or None) and ``version`` (grows with every change
    of the row: of two copies, keep the higher) come last: the frontend reads the first five keys and ignores the
    others.
    """

    uuid: str
    display_name: str
    handle: str
    message: str
    created_at: str
    unread_count: int = 0
    last_read_at: str | None = None
    version: int = 0

    @classmethod
    def of_row(cls, row: Mapping[str, Any]) -> "MessageGroupSummary":
        """The owner's list item of a ``GRP#`` row (a row without read state shows 0 and None)."""
        return cls(uuid=row["message_group_uuid"], display_name=row["user_display_name"], handle=row["user_handle"],
                   message=row["message"], created_at=row["sk"], unread_count=int(row.get("unread_count") or 0),
                   last_read_at=row.get("last_read_at"), version=int(row.get("version") or 0))


@dataclass(frozen=True)
class Message:
    """One message: ``uuid`` is the message's own uuid, the names are the sender's.

    ``edited_at``: the time of the sender's last edit (null: never edited). ``deleted_at``: the time the sender
    deleted it (null: not deleted); a deleted message is a tombstone whose ``message`` is "" (its text is gone from
    the table). Both come last: the frontend reads the first five keys and ignores the others.
    """

    uuid: str
    display_name: str
    handle: str
    message: str
    created_at: str
    edited_at: str | None = None
    deleted_at: str | None = None


@dataclass(frozen=True)
class DeletedMessage:
    """The answer to ``DELETE /api/messages/{message_group_uuid}/{message_uuid}``: the same every time it is asked."""

    message_group_uuid: str
    uuid: str
    deleted_at: str

    def to_body(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class CreatedMessage:
    """The answer to ``POST /api/messages``; ``message_group_uuid`` only when the request named a handle."""

    message: Message
    message_group_uuid: str | None = None

    def to_body(self) -> dict[str, str]:
        body = asdict(self.message)
        if self.message_group_uuid is not None:
            body = {"message_group_uuid": self.message_group_uuid, **body}
        return body


@dataclass(frozen=True)
class Membership:
    """The two members of a message group, read strongly consistently for every access check."""

    message_group_uuid: str
    member_uuids: frozenset[str]

    def includes(self, user_uuid: str) -> bool:
        return user_uuid in self.member_uuids


@dataclass(frozen=True)
class ReadState:
    """A member's read state of one conversation: ``POST /api/message_groups/{uuid}/read`` answers it."""

    message_group_uuid: str
    last_read_at: str | None
    unread_count: int

    def to_body(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class ReadMarkerChange:
    """What marking a conversation read did: the reader's state now, and whether their marker moved.

    A marker that moved changed the reader's group row in place; the table's stream carries that change (old and
    new image) to ``LiveDeliveryFunction``, which sends the other member the ``read`` frame (``read_frame``), so
    marking read itself stays within its two requests.
    """

    state: ReadState
    moved: bool
    reader: User
    other_member_uuid: str


@dataclass(frozen=True)
class UnreadBadge:
    """``GET /api/message_groups/unread``: conversations with unread messages, and those messages in all."""

    conversations: int
    messages: int


@dataclass(frozen=True, kw_only=True)
class SyncedMessage(Message):
    """A message as ``GET /api/messages/{message_group_uuid}`` lists it, and the conversation it belongs to."""

    message_group_uuid: str


@dataclass(frozen=True)
class SyncPage:
    """``GET /api/sync``: what changed for the caller since a token, a bounded page at a time.

    ``since``: the token of the next call; ``conversations``: list items whose row changed; ``messages``: the
    messages created since, oldest first; ``complete``: false while more is waiting (call again with ``since``).
    """

    since: str
    conversations: list[MessageGroupSummary]
    messages: list[SyncedMessage]
    complete: bool


@dataclass(frozen=True)
class PageRequest:
    limit: int
    cursor: str | None = None


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


# --- live delivery (docs/websocket-api.md) --------------------------------------------------------------------

LIVE_SUBPROTOCOL = "cruddur.v1"
"""The subprotocol clients offer (with their access token as the second one) and the server selects."""


@dataclass(frozen=True)
class LiveConnection:
    """An open WebSocket connection of a user, recorded at ``$connect``."""

    user_uuid: str
    connection_id: str
    connected_at: str


def message_created_frame(message_group_uuid: str, message: Message) -> dict[str, object]:
    """To every open connection of both members (the sender's other tabs too)."""
    return {"type": "message.created", "message_group_uuid": message_group_uuid, "message": asdict(message)}


def message_updated_frame(message_group_uuid: str, message: Message) -> dict[str, object]:
    """To every open connection of both members: a message edited by its sender, as lists show it now."""
    return {"type": "message.updated", "message_group_uuid": message_group_uuid, "message": asdict(message)}


def message_deleted_frame(deleted: DeletedMessage) -> dict[str, object]:
    """To every open connection of both members: a message deleted by its sender (show a tombstone)."""
    return {"type": "message.deleted", **deleted.to_body()}


def conversation_updated_frame(conversation: MessageGroupSummary) -> dict[str, object]:
    """To each member: their own list-groups item of the conversation."""
    return {"type": "conversation.updated", "conversation": asdict(conversation)}


def read_frame(message_group_uuid: str, handle: str, last_read_at: str) -> dict[str, object]:
    """To the other member: ``handle`` has read the conversation up to ``last_read_at`` (a client shows "Seen")."""
    return {"type": "read", "message_group_uuid": message_group_uuid, "handle": handle, "last_read_at": last_read_at}


def unread_frame(badge: UnreadBadge) -> dict[str, object]:
    """To every open connection of a member whose totals changed: the badge, as ``GET /api/message_groups/unread``
    answers it."""
    return {"type": "unread", "conversations": badge.conversations, "messages": badge.messages}


EVICTED_CODE = 4001
"""What an evicted connection is told before it is closed (``DeleteConnection`` takes no close code): in the range
RFC 6455 leaves to applications (4000-4999), so that a client tells it from a close it should reconnect after."""


def evicted_frame() -> dict[str, object]:
    """To a connection closed past the per-user bound, just before it is closed: its client does not reconnect."""
    return {"type": "evicted", "code": EVICTED_CODE, "reason": "replaced by a newer connection"}


PONG_FRAME: dict[str, object] = {"type": "pong"}


def error_frame(code: str, message: str) -> dict[str, object]:
    """The answer to a client frame the API does not understand; the connection stays open."""
    return {"type": "error", "code": code, "message": message}
