"""``POST /api/message_groups/{uuid}/read``: the caller's read marker of a conversation moves forward, never back
(the rule, and how a write that loses a race is tried again: ``domain.group_row_timeline``).

Two requests in the usual case: the group's rows through ``message-group-sk-index`` (finding the caller's row is
the membership check: only members have one), then one conditional ``UpdateItem`` of that row. Without a
``read_at`` the marker goes to the newest message the row shows (its ``sk``) and the count to 0. An explicit
``read_at`` before that needs the exact count of the other member's later messages: one more request (a COUNT
query), and the update then also requires the row's count to be the one it was computed from. A ``read_at``
after it (a client clock ahead, or a message the stream function has not applied to the row yet) is clamped to
the newest message at or before it: one more request (a one-item query), so a marker never covers a message
that did not exist when it was set.

What can happen meanwhile, and what it does:

- the index is behind: a group created a moment ago may have no row there yet (its membership item, read
  strongly consistently, says whether the caller belongs; their row is then read from the table), and a row
  the index shows may have moved on (the update's condition fails on the key it left, and the caller's rows are
  read again strongly consistently from where it was, or from the start when a delete moved the row back:
  ``group_row_timeline.settle``);
- the stream function moves the row or recounts it: the update is refused and tried again on the row as it is
  now (the refusal returns it); the stream's own writes are conditional on the read state they read, so a marker
  set here is never overwritten;
- every attempt sets the row's next ``version`` (``group_row_timeline.next_version``), on the condition that it is
  above the row's: a write that raced it and was not seen is refused the same way, and the attempt after it takes
  a fresh version;
- another device marks read at the same time: the later marker wins; a request whose marker is not ahead of the
  row's changes nothing and answers the current state (200).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from cruddur_messaging.clock import format_timestamp, instant_of, parse_timestamp
from cruddur_messaging.data import keys
from cruddur_messaging.data.group_rows import GroupRowStore, Item
from cruddur_messaging.data.read_state import ReadStateStore
from cruddur_messaging.domain.group_row_timeline import (
    Lost,
    NotSettled,
    instant_of_row,
    marker_moves,
    next_version,
    settle,
)
from cruddur_messaging.domain.validation import parse_message_group_uuid
from cruddur_messaging.errors import BadRequest, DependencyUnavailable, ErrorCode, NotFound
from cruddur_messaging.models import ReadMarkerChange, ReadState, User
from cruddur_messaging.observability import logger

# A read_at is the created_at of a message, taken by another function's clock: a little ahead of ours is fine,
# far ahead is not a message time (and a marker far in the future would hide every later message for good).
MAX_CLOCK_SKEW = timedelta(minutes=1)
READ_AT_MAX_LENGTH = 64


@dataclass(frozen=True)
class MarkReadRequest:
    read_at: str | None = None
    """Canonical timestamp; None: the newest message."""

    @classmethod
    def parse(cls, body: Any, now: datetime | None = None) -> "MarkReadRequest":
        """``body`` is the parsed JSON body (``{}`` when the request has none)."""
        if not isinstance(body, dict):
            raise BadRequest("The body must be a JSON object.", code=ErrorCode.INVALID_BODY)
        raw = body.get("read_at")
        if raw is None:
            return cls()
        moment = _aware_instant(raw)
        if moment is None:
            raise BadRequest("read_at must be an ISO-8601 timestamp with a UTC offset, the created_at of a message.",
                             code=ErrorCode.INVALID_READ_AT)
        if moment > (now or datetime.now(timezone.utc)) + MAX_CLOCK_SKEW:
            raise BadRequest("read_at is in the future.", code=ErrorCode.INVALID_READ_AT)
        return cls(read_at=format_timestamp(moment))


def mark_read(rows_store: GroupRowStore, states: ReadStateStore, caller: User, raw_message_group_uuid: str | None,
              request: MarkReadRequest) -> ReadMarkerChange:
    message_group_uuid = parse_message_group_uuid(raw_message_group_uuid)

    def write(row: Item, _rows: list[Item]) -> ReadMarkerChange | Lost:
        row_at = format_timestamp(instant_of_row(row))
        target = _covered_through(states, message_group_uuid, request.read_at, row_at)
        already_read = not marker_moves(_marker_of(row), target)
        version = next_version(row)
        if already_read:
            # The update is refused (a marker never moves back), and the refusal returns the state as it is now.
            outcome = states.mark_read(message_group_uuid, row, target, 0, version)
        elif instant_of(target) < instant_of_row(row):
            unread = states.count_unread(message_group_uuid, caller.uuid, target, row_at)
            outcome = states.mark_read(message_group_uuid, row, target, unread, version, count_read_with_row=True)
        else:
            outcome = states.mark_read(message_group_uuid, row, target, 0, version)
        if outcome.written:
            return _change(caller, outcome.row, moved=True)
        if outcome.row is None:
            return Lost()
        if not marker_moves(_marker_of(outcome.row), target):
            # Not ahead of the row's marker: nothing changes. Exactly at it although it was behind when read:
            # another device's request, or this one's update resent by the SDK after a lost response; the marker
            # moved to where this request put it, so it is reported as moved (the read frame is at least once).
            moved = not already_read and _marker_of(outcome.row) == target
            return _change(caller, outcome.row, moved=moved)
        return Lost([outcome.row])

    rows = _callers_rows(rows_store, message_group_uuid, caller)
    try:
        change = settle(rows_store, caller.uuid, message_group_uuid, rows, write)
    except NotSettled:
        change = None
    if change is None:
        raise DependencyUnavailable("The conversation is changing too fast to mark it read; please retry.")
    return change


def _covered_through(states: ReadStateStore, message_group_uuid: str, read_at: str | None, row_at: str) -> str:
    """Where the marker goes: ``read_at`` clamped to the newest message the conversation has now (D3).

    A ``read_at`` is the reader's claim, possibly from a clock ahead of ours; as given, a marker past the newest
    message would cover messages sent after the request (never counted unread, shown "Seen" to the sender). The
    row's ``sk`` is a message that exists, so a ``read_at`` at or before it needs nothing more. Past it, the newest
    message at or before ``read_at`` is read (one item, strongly consistent): a message the stream function has
    not applied to the row yet may be the one the reader saw, and stays covered; nothing later is.
    """
    if read_at is None or read_at <= row_at:
        return read_at or row_at
    newest = states.newest_message_at(message_group_uuid, through=read_at)
    return max(row_at, min(newest, read_at)) if newest is not None else row_at


def _callers_rows(rows_store: GroupRowStore, message_group_uuid: str, caller: User) -> list[Item]:
    """The caller's rows of the group; a caller without one gets the same 404 as for reading the group."""
    caller_pk = keys.group_rows_pk(caller.uuid)
    rows = [row for row in rows_store.rows_in_index(message_group_uuid) if row["pk"] == caller_pk]
    if not rows:
        members = rows_store.members(message_group_uuid)
        if members is not None and caller.uuid in members:
            # A group created a moment ago, not in the index yet.
            rows = rows_store.owner_rows(caller.uuid, message_group_uuid, since=None)
    if not rows:
        logger.info("mark read refused: not a member", extra={"message_group_uuid": message_group_uuid})
        raise NotFound("No such message group.", code=ErrorCode.MESSAGE_GROUP_NOT_FOUND)
    return rows


def _change(caller: User, row: Item, moved: bool) -> ReadMarkerChange:
    state = ReadState(message_group_uuid=row["message_group_uuid"], last_read_at=row.get("last_read_at"),
                      unread_count=int(row.get("unread_count") or 0))
    return ReadMarkerChange(state=state, moved=moved, reader=caller, other_member_uuid=row["user_uuid"])


def _marker_of(row: Item) -> str | None:
    return row.get("last_read_at")


def _aware_instant(raw: Any) -> datetime | None:
    """An ISO-8601 timestamp with an explicit offset; None for anything else (no offset is not a message time)."""
    if not isinstance(raw, str) or len(raw) > READ_AT_MAX_LENGTH:
        return None
    try:
        return parse_timestamp(raw, naive_is_utc=False).astimezone(timezone.utc)
    except (ValueError, OverflowError):  # OverflowError: an offset that takes it out of the years 1-9999
        return None
