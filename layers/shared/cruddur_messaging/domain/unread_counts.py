"""Unread counts ride on the group rows: how the stream function's moves keep them exact.

Each member's ``GRP#`` row carries that member's read state of the conversation:

- ``last_read_at`` (S, optional): the member's read marker; every message at or before it is read. It moves by the rules
  of ``domain.group_row_timeline`` (forward only): by marking read (``domain.mark_read``) or by sending (a message
  marks its sender's conversation read up to it). Absent: nothing read yet (the API says ``null``).
- ``unread_count`` (N): the other member's messages, not deleted, after the marker and at or before the row's own
  ``sk``::

      unread_count = #{ m in MSG#<group> : m.user_uuid != owner, m not deleted, last_read_at < m.sk <= row.sk }

  Bounding the count by the row's ``sk`` is what makes it exact under the stream's at-least-once, not-in-order
  delivery: a message after the row's ``sk`` is counted by the move its record brings, never before.

The stream function already moves both rows per group and batch (one transaction per row, conditional on the row
as read: ``domain.group_row_timeline``); the counts ride on those moves at no extra request. For one owner's row
at ``sk = S`` and a batch of the group's messages (deduplicated by ``sk``):

- every message of the batch is after ``S`` (the usual case): add the other member's messages after
  ``max(S, marker)``; if the owner sent one, the marker moves to their newest and only the other's later
  messages count. No read.
- a message of the batch is at ``S``: it is the row's own message (``domain.group_row_timeline``), counted by
  the write that put the row there; it changes nothing (a sender's own message there has marked the row read up
  to it already).
- a message of the batch is before ``S``: it is a duplicate (already counted) or arrived out of order
  (``created_at`` is taken before a message is written, so two senders' messages can land and stream in either
  order), and the two cannot be told apart from the record. The row's count is then recounted exactly, with one
  strongly consistent ``Query Select=COUNT`` of ``MSG#<group>`` over ``(marker, new sk]`` filtered to the other
  member (``data.read_state.ReadStateStore.count_unread``). A message in that range whose record is still to come
  is counted now, and its record, being before the row's ``sk`` by then, recounts again rather than adding.
  Only duplicates and out-of-order records pay this request, never a message in order.

An edit changes no count. A delete of a message the owner has not read (the other member's, after the marker)
takes it off: a batch with edits or deletes refreshes the row (``domain.move_group_rows``), counting again with the
same query whenever the count can change (a delete like that, or the row moving), and every count leaves deleted
messages out (``count_unread``).

A new conversation's rows are written exact by its transaction (``data.messages.MessageStore.create_group``): the
sender's with ``unread_count`` 0 and the marker at the first message, the recipient's with ``unread_count`` 1.
That message's record, at the rows' own ``sk``, then writes nothing: each member's list changes once.

A row without ``unread_count`` has no read state yet: a row written the tutorial's way (or ``bin/ddb/seed``'s), or
a new conversation's row written before the transaction wrote read state. The first batch that touches it tells
them apart: a message at or before the row's ``sk`` is the one the row was written with (records live 24 hours;
a tutorial-era row's messages are long out of the stream), so the whole conversation counts, and the batch holds
all of it; otherwise the row predates read state: it has read everything up to its own ``sk`` (the marker starts
there; the tutorial's stream function kept rows at their last message) and what came after is counted exactly,
once, with the COUNT query. Until then such a row shows ``unread_count`` 0 and ``last_read_at`` null.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable

from cruddur_messaging.clock import format_timestamp, instant_of
from cruddur_messaging.domain.group_row_timeline import instant_after, instant_of_row, message_moves_row
from cruddur_messaging.domain.stream_records import MessageChange, NewMessage


@dataclass(frozen=True)
class GroupBatch:
    """One group's records in a batch of stream records: its new messages, each ``sk`` once, and the newest of them
    (None: the batch holds only changes); and the messages edited or deleted, each ``sk`` once (deleted if any of
    its records says so: a delete is final)."""

    message_group_uuid: str
    newest: NewMessage | None
    senders_by_time: dict[datetime, str | None]
    changes: dict[datetime, MessageChange] = field(default_factory=dict)

    @property
    def sequence_number(self) -> str:
        """The sequence number of a record of the batch (its newest message's, else a change's)."""
        if self.newest is not None:
            return self.newest.sequence_number
        return max(self.changes.values(), key=lambda change: change.at).sequence_number

    @property
    def times(self) -> set[datetime]:
        """The times of every message the batch names, new or changed."""
        return set(self.senders_by_time) | set(self.changes)

    @classmethod
    def of(cls, messages: Iterable[NewMessage | MessageChange]) -> "GroupBatch":
        """Duplicated records (redelivery, a batch holding a record twice) collapse onto their message's time."""
        senders: dict[datetime, str | None] = {}
        changes: dict[datetime, MessageChange] = {}
        newest: NewMessage | None = None
        group_uuid: str | None = None
        for message in messages:
            group_uuid = message.message_group_uuid
            if isinstance(message, MessageChange):
                if message.at not in changes or message.deleted:
                    changes[message.at] = message
                continue
            senders[message.at] = message.sender_uuid
            if newest is None or message.at >= newest.at:
                newest = message
        if group_uuid is None:
            raise ValueError("a group batch needs at least one message")
        return cls(message_group_uuid=group_uuid, newest=newest, senders_by_time=senders, changes=changes)


@dataclass(frozen=True)
class RowReadState:
    """The read state a group row carries (``unread_count`` None: none yet)."""

    unread_count: int | None
    last_read_at: str | None

    @classmethod
    def of(cls, row: dict[str, Any]) -> "RowReadState":
        count = row.get("unread_count")
        return cls(unread_count=None if count is None else int(count), last_read_at=row.get("last_read_at"))


@dataclass(frozen=True)
class ReadStatePlan:
    """The owner's read state once the row is at ``through``; ``unread_count`` None: recount it exactly over
    ``(last_read_at, through]``."""

    last_read_at: str | None
    unread_count: int | None
    through: str

    @property
    def needs_recount(self) -> bool:
        return self.unread_count is None


def plan_read_state(row: dict[str, Any], owner_uuid: str, batch: GroupBatch) -> ReadStatePlan:
    """The owner's read state after the batch, from the row as read (see the module docstring)."""
    if batch.newest is None:
        raise ValueError("a batch of changes only is applied by refreshing the row (domain.move_group_rows)")
    row_at = instant_of_row(row)
    through = instant_after(row, batch.newest.at)
    state = RowReadState.of(row)
    times = batch.senders_by_time
    own_newest = max((at for at, sender in times.items() if sender == owner_uuid), default=None)
    reaches_back = any(at < row_at for at in times)

    def others_after(moment: datetime | None) -> int:
        return sum(1 for at, sender in times.items()
                   if sender != owner_uuid and (moment is None or at > moment) and at <= through)

    if state.unread_count is None:
        if any(not message_moves_row(row, at) for at in times):
            # First touch of rows written with a message but without read state: the batch holds all there is.
            marker = own_newest
            return ReadStatePlan(_text(marker), others_after(marker), format_timestamp(through))
        # A row from before read state: read up to its own time, counted exactly from there (once per row).
        return ReadStatePlan(_text(_latest(row_at, own_newest)), None, format_timestamp(through))
    marker = _latest(instant_of(state.last_read_at) if state.last_read_at else None, own_newest)
    if reaches_back:
        return ReadStatePlan(_text(marker), None, format_timestamp(through))
    if marker is not None and marker >= row_at:
        # Everything up to the row's sk is read now: only the other's batch messages after the marker count.
        return ReadStatePlan(_text(marker), others_after(marker), format_timestamp(through))
    return ReadStatePlan(_text(marker), state.unread_count + others_after(row_at), format_timestamp(through))


def _latest(*moments: datetime | None) -> datetime | None:
    return max((moment for moment in moments if moment is not None), default=None)


def _text(moment: datetime | None) -> str | None:
    return None if moment is None else format_timestamp(moment)
