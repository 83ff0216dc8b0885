"""``GET /api/message_groups/unread``: the Messages link's badge, summed from the caller's group rows.

The counts live on the rows (``domain.unread_counts``), so the badge is one query of ``GRP#<caller>`` returning
only ``unread_count`` of the rows that have any: exact by construction (the same numbers the list shows), and
nothing to keep in step on the write path. A per-user counter item, updated in every move transaction, would make
the badge a single-item read, but would add a write to every message for both members and turn each user's
counter into a hot item that contends with every one of their conversations' moves.
"""
from __future__ import annotations

from cruddur_messaging.data.read_state import ReadStateStore
from cruddur_messaging.models import UnreadBadge, User


def unread_badge(states: ReadStateStore, caller: User) -> UnreadBadge:
    conversations, messages = states.unread_totals(caller.uuid)
    return UnreadBadge(conversations=conversations, messages=messages)
