"""Pattern A: a page of one conversation, for its members only.

Pages walk backwards in time (the first page is the newest messages, ``next`` leads to older ones) while each
page reads in ascending order, as a chat window shows it. A deleted message keeps its place as a tombstone
(``message_of``), so a page holds as many items as asked and a cursor never points at a gap.
"""
from __future__ import annotations

from typing import Callable

from cruddur_messaging.data import keys
from cruddur_messaging.data.messages import MessageStore
from cruddur_messaging.domain.membership import require_membership
from cruddur_messaging.domain.validation import parse_message_group_uuid
from cruddur_messaging.models import Message, Page, PageRequest, User
from cruddur_messaging.pagination import CursorCodec


def list_messages(store: MessageStore, cursor_codec: Callable[[], CursorCodec], caller: User,
                  raw_message_group_uuid: str | None, page: PageRequest) -> Page[Message]:
    """``cursor_codec`` gives the container's codec, once the group's uuid is known to be valid."""
    message_group_uuid = parse_message_group_uuid(raw_message_group_uuid)
    partition = keys.messages_pk(message_group_uuid)
    codec = cursor_codec()
    start_key = codec.decode(page.cursor, partition) if page.cursor else None
    require_membership(store, message_group_uuid, caller)
    result = store.list_messages(message_group_uuid, page.limit, start_key)
    oldest = result.items[-1] if result.items else None
    next_cursor = (codec.encode(partition, {"pk": oldest["pk"], "sk": oldest["sk"]})
                   if result.has_more and oldest else None)
    messages = [message_of(item) for item in reversed(result.items)]
    return Page(items=messages, next_cursor=next_cursor)


def message_of(item: dict[str, str]) -> Message:
    """A ``MSG#`` item as lists show it: an edited one carries ``edited_at``; a deleted one is a tombstone, its
    ``message`` "" (the item has no text left) and its ``deleted_at`` set (docs/http-api.md, "Edit and delete")."""
    return Message(uuid=item["message_uuid"], display_name=item["user_display_name"], handle=item["user_handle"],
                   message=item.get("message", ""), created_at=item["sk"], edited_at=item.get("edited_at"),
                   deleted_at=item.get("deleted_at"))
