"""Pattern B: the caller's conversations, newest first, a page at a time, each with the caller's read state
(``unread_count``, ``last_read_at``: see ``domain.unread_counts``; a row without any shows 0 and None)."""
from __future__ import annotations

from typing import Callable

from cruddur_messaging.data import keys
from cruddur_messaging.data.messages import MessageStore
from cruddur_messaging.models import MessageGroupSummary, Page, PageRequest, User
from cruddur_messaging.pagination import CursorCodec


def list_groups(store: MessageStore, cursor_codec: Callable[[], CursorCodec], caller: User,
                page: PageRequest) -> Page[MessageGroupSummary]:
    """``cursor_codec`` gives the container's codec (its key is read through the container's parameter cache)."""
    partition = keys.group_rows_pk(caller.uuid)
    codec = cursor_codec()
    start_key = codec.decode(page.cursor, partition) if page.cursor else None
    result = store.list_group_rows(caller.uuid, page.limit, start_key)
    summaries = [MessageGroupSummary.of_row(row) for row in result.items]
    last = result.items[-1] if result.items else None
    next_cursor = codec.encode(partition, {"pk": last["pk"], "sk": last["sk"]}) if result.has_more and last else None
    return Page(items=summaries, next_cursor=next_cursor)
