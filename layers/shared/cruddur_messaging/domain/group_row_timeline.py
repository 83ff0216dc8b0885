"""The group row timeline: what may move a ``GRP#`` row, how its read state follows it, and how a writer that
loses a race on it reads it again. Every rule here is stated here only; the modules that rely on one
(``domain.move_group_rows``, ``domain.mark_read``, ``domain.unread_counts``, ``data.group_rows``,
``data.read_state``, ``data.messages``) name this module and use its functions instead of restating them.

**Where a row is.** A row's ``sk`` is the time of the newest message it shows, compared as an instant
(``clock``: rows written the tutorial's way carry other offsets and do not sort as text); an ``sk`` that is not a
timestamp is before any time (``instant_of_row``), so the next message puts it right. An owner normally has one
row per group; rows left by the tutorial or by an interrupted move can make several, and then the newest is the
row (``newest_row``); the next move replaces them all.

**What may move a row.** A new message moves both members' rows to its time, *forward only*: to a time strictly
after every message the row has applied (``message_moves_row``): its ``sk``, or its ``newest_at`` when it has one.

**The one exception: a delete moves a row back.** Only deleting the message a row shows (or, once that is gone, the
next newest) may move it back, and only to the newest message that remains at or before its ``newest_at``; a
conversation with none left keeps the row at its newest (deleted) message's time with an empty preview. The row then
keeps ``newest_at`` (S, canonical): the time of the newest message it has applied, deleted or not, present only
while it is after the row's ``sk``. Forward-only is the rule for ``newest_at`` (``newest_instant``): a record of a
message after it moves the row; a record of a message between the row's ``sk`` and ``newest_at``
(``behind_newest``: a deleted message replayed, or one written late) and every edit or delete *refresh* the row
from the table (``refreshed_sk`` says where it goes) rather than trust the record: the text, the position and
the count are read, so records of one message in any order, replayed any number of times, end the same. Nothing
else moves a row back; ``reread_from`` and ``settle`` allow for this one.

**A message at or before the row's time** (and not behind its ``newest_at``) moves nothing. At the row's very time
it is the row's own message (a group's messages never share an ``sk``): already applied by the write that put the
row there, so there is nothing to write unless its read state is wrong (a row without read state yet:
``domain.unread_counts``). Before it (out of order, or a replay of an older message) it is applied in place, and
that write is *always* made (``messages_applied``): at least a new version, even when the read state comes out
unchanged, so a sync sees the conversation change after the message became visible. A replayed batch therefore costs
one ``UpdateItem`` per member row.

**Read markers.** ``last_read_at`` moves forward only (``marker_moves``; the same rule as a DynamoDB condition:
``MARKER_MOVES_FORWARD``), whoever moves it: a reader marking read (``domain.mark_read``) or a sender, whose
marker goes to their own newest message. Of two readers racing, the later marker wins. ``unread_count`` is counted
up to the row's ``sk`` (``domain.unread_counts`` has why that keeps it exact), so it is rewritten by every move.

**Races.** Every write of a row is conditional on what its writer read, and a refused write wrote nothing:

- a move deletes the rows it read, each only if it is still the group's, and puts the new row only if its key is
  free (``data.group_rows``); the delete of the row it was made from also requires the read state and version it
  was read with (``unchanged_row_condition``), so a marker or late record set meanwhile is never overwritten;
- the stream function's recount of a row it does not move requires the same (``unchanged_row_condition``);
- mark-read requires its marker to be ahead (``MARKER_MOVES_FORWARD``) and, when it computed the count from the
  row, that count; and that its version is ahead of the row's (``VERSION_GROWS``).

``unchanged_row_condition`` includes the row's ``version``: a stream write carries the row's late record forward
(below), so a row rewritten meanwhile, even with the same read state, is read again rather than overwritten.
Either way a version only grows: a write's version is above the one its condition saw.

**Versions.** Every write of a row gives it a ``version`` (N): microseconds since the Unix epoch of the write,
and always more than the version of the row it replaces or updates (``next_version``), so of two copies of a list
item the higher version is the newer. ``GET /api/sync`` finds a member's changed rows by version
(``domain.sync``); a row written before versions (``version`` absent) is version 0. Two bounds of that sync are
stated here because the stream function relies on them too: a message applied more than ``LATE_AFTER`` after its
``created_at`` is *late* (the row records it, so a sync still finds it), and a sync token older than
``SYNC_HORIZON`` is not served. The writers that apply messages take their version and late record from
``row_stamp``: the new-conversation transaction (both rows), the stream function's moves and in-place writes;
mark-read applies none and takes ``next_version``. A write refused and tried again takes a fresh one.

**Late messages.** A sync reports a conversation when its row's version is past the token's version floor V, and
lists its messages after T = V - ``LATE_AFTER``. So a write at version v that applies a message at
``at <= moment_of_version(v) - LATE_AFTER`` records it: ``late_from`` (S, canonical: the earliest such ``at``) and
``late_version`` (N: v). A row's earlier record is kept (the min of both ``late_from``, the new ``late_version``)
while its ``late_version`` is within ``SYNC_HORIZON`` of the write, else replaced; a write that applies nothing
late carries the record forward unchanged, as a move carries the other attributes. That keeps, for every message
m applied at a version above any V a sync serves, either ``m.at > moment_of_version(V) - LATE_AFTER`` or
``late_version > V`` and ``late_from <= m.at``, and the sync lists such a row's messages from
``min(T, late_from)``. Correctness does not depend on ``LATE_AFTER``'s value: only how many messages a sync lists
twice does.

A writer that loses tries again on the rows as they are now (``settle``): as the refusal returned them when it
did, else read again strongly consistently from ``reread_from(rows)``, and from the start when nothing is there (a
delete moved the row back); at most ``MAX_ATTEMPTS`` times.

**Edits and deletes** (``edited_at`` or ``deleted_at`` set on a ``MSG#`` item, ``message`` removed by a delete)
reach the rows as refreshes (above). A refresh is always written, conditional on the row as read, with a new
version whose late record covers every changed message (``row_stamp`` with the changed messages' times applied,
the row's own included), so a sync reports the edit or delete.

Pure logic and condition text, no Powertools stream classes: mark-read imports it without the stream's parsing
(``tests/unit/test_function_imports.py``), and the data stores build their conditions from it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Protocol, TypeVar

from cruddur_messaging.clock import epoch_microseconds, format_timestamp, instant_of, moment_of_epoch_microseconds

Item = dict[str, Any]
T = TypeVar("T")

BEFORE_ANY_TIME = datetime.min.replace(tzinfo=timezone.utc)

# Lost races before a writer gives up (the stream function's group is retried, a reader gets a 503): each loss is a
# real concurrent change of the row (a racing writer, a stale index, a taken microsecond, a marker moved
# meanwhile), so a handful is plenty.
MAX_ATTEMPTS = 5

LATE_AFTER = timedelta(minutes=1)
"""A message applied to a row this long after its ``created_at`` is late: a sync's message floor is this far
behind its version floor, so an earlier message applied later must be recorded on the row (``late_from``)."""

SYNC_HORIZON = timedelta(days=7)
"""How far back a sync token is served; a row's record of a late message older than this is no longer needed."""

MARKER_MOVES_FORWARD = "(attribute_not_exists(last_read_at) OR last_read_at < :new_marker)"
"""``marker_moves`` as a condition on the row, the new marker being ``:new_marker`` (canonical markers sort as
text)."""

VERSION_GROWS = "(attribute_not_exists(version) OR version < :new_version)"
"""The write's version ``:new_version`` is above the row's: the condition of a writer that sets the version but
carries no late record (mark-read), so a racing write it did not see never gets a lower version after it."""


def instant_of_row(row: Item) -> datetime:
    """Where the row is in time; an ``sk`` that is not a timestamp is before any message."""
    return instant_of(row["sk"]) or BEFORE_ANY_TIME


def newest_row(rows: list[Item]) -> Item:
    """The owner's row of the group among ``rows`` (one owner's rows, not empty): the newest."""
    return max(rows, key=instant_of_row)


NEWEST_AT = "newest_at"
"""The attribute of a row moved back by a delete: the newest message it has applied (see the docstring)."""


def newest_instant(row: Item) -> datetime:
    """The time of the newest message the row has applied, deleted or not: its ``newest_at``, else its time."""
    newest = row.get(NEWEST_AT)
    at = instant_of(newest) if isinstance(newest, str) else None
    return max(instant_of_row(row), at) if at is not None else instant_of_row(row)


def message_moves_row(row: Item, at: datetime) -> bool:
    """Whether a new message at ``at`` moves the row forward: only when it is strictly after every message the row
    has applied (``newest_instant``)."""
    return at > newest_instant(row)


def behind_newest(row: Item, at: datetime) -> bool:
    """Whether a message at ``at`` lies between the row's time and its ``newest_at``: the row was moved back past
    it (it is deleted) or it was written after the move back read the table; either way the row is refreshed."""
    return instant_of_row(row) < at <= newest_instant(row)


def refreshed_sk(row: Item, remaining_at: datetime | None, deleted_after: Iterable[datetime]) -> datetime | None:
    """Where a refresh puts the row (None: it stays at its ``sk``), from the table read up to the row's
    ``newest_at`` (or later, up to the batch's newest message): ``remaining_at``, the newest message not deleted
    (None: none is), and ``deleted_after``, the deleted messages after it.

    The row goes to the newest remaining message, or with none left to the newest deleted one; it stays when it is
    there already: at that message, or a microsecond or so after it (a taken slot) with no deleted message between.
    """
    deleted = list(deleted_after)
    target = remaining_at if remaining_at is not None else max(deleted, default=None)
    if target is None:
        return None
    row_at = instant_of_row(row)
    if target > row_at or any(target < at <= row_at for at in deleted):
        return target
    return None


def instant_after(row: Item, at: datetime) -> datetime:
    """Where the row is once a message at ``at`` has been applied to it."""
    return max(instant_of_row(row), at)


def version_of(row: Item) -> int:
    """The row's version; 0 for a row written before versions."""
    return int(row.get("version") or 0)


def write_time() -> datetime:
    """Now, as the versions of the writes take it."""
    return datetime.now(timezone.utc)


def version_at(moment: datetime) -> int:
    """The version of a write at ``moment``: microseconds since the Unix epoch."""
    return epoch_microseconds(moment)


def moment_of_version(version: int) -> datetime:
    return moment_of_epoch_microseconds(version)


def next_version(row: Item | None, now: datetime | None = None) -> int:
    """The version a write gives the owner's row that was ``row`` (None: a new row): the write's time, and more than
    the row's version whatever the clocks of its earlier writers said."""
    return max(version_at(now or write_time()), (version_of(row) if row else 0) + 1)


def messages_applied(row: Item, times: Iterable[datetime]) -> list[datetime]:
    """Of messages at ``times`` (none after the row's time when the row does not move), those a write of the row
    applies, oldest first: all but the row's own message, at its very time, which is applied already."""
    row_at = instant_of_row(row)
    return sorted(at for at in times if at != row_at)


def row_stamp(row: Item | None, applied: Iterable[datetime] = (), *, replaced: Iterable[Item] = (),
              now: datetime | None = None) -> Item:
    """The ``version`` and late record (``late_from``, ``late_version``) a write gives the owner's row that was
    ``row`` (None: a new row) when it applies the messages at ``applied``; ``replaced``: other rows of the owner
    the write deletes (its version is above theirs too). See "Late messages" above; a row with no late record to
    write or carry gets only ``version``."""
    version = max([next_version(row, now)] + [version_of(other) + 1 for other in replaced])
    stamp: Item = {"version": version}
    written_at = moment_of_version(version)
    late = [at for at in applied if at <= written_at - LATE_AFTER]
    kept = _late_record(row)
    if late:
        late_from = format_timestamp(min(late))
        if kept is not None and kept[1] > version_at(written_at - SYNC_HORIZON):
            late_from = min(late_from, kept[0])  # canonical timestamps: the earlier sorts first as text
        stamp.update(late_from=late_from, late_version=version)
    elif kept is not None:
        stamp.update(late_from=kept[0], late_version=kept[1])
    return stamp


def _late_record(row: Item | None) -> tuple[str, int] | None:
    """The row's (``late_from``, ``late_version``); None without one."""
    if row is None or row.get("late_from") is None or row.get("late_version") is None:
        return None
    return str(row["late_from"]), int(row["late_version"])


def marker_moves(marker: str | None, target: str) -> bool:
    """Whether a read marker at ``marker`` (None: nothing read) moves to ``target``: only forward. Both are
    canonical timestamps, which sort as text."""
    return (marker or "") < target


def unchanged_row_condition(message_group_uuid: str, row: Item) -> dict[str, Any]:
    """The condition (expression and values) that the row is still the group's, with the read state and version it
    was read with: ``unread_count``, ``last_read_at`` and ``version`` equal to, or as absent as, they were."""
    parts = ["message_group_uuid = :group"]
    values: dict[str, Any] = {":group": message_group_uuid}
    for attribute in ("unread_count", "last_read_at", "version"):
        if row.get(attribute) is None:
            parts.append(f"attribute_not_exists({attribute})")
        else:
            parts.append(f"{attribute} = :{attribute}")
            values[f":{attribute}"] = row[attribute]
    return {"ConditionExpression": " AND ".join(parts), "ExpressionAttributeValues": values}


def reread_from(rows: list[Item]) -> str | None:
    """An ``sk`` at or below where the rows are now, as text (how DynamoDB compares it); None: from the start.

    Rows move forward, always to canonical timestamps, which sort as text: a row read at some ``sk`` is now
    there or later, unless a delete moved it back (the one exception: then nothing is found from the bound, and
    ``settle`` reads from the start). A tutorial ``sk`` may not sort (another offset), so the bound is the lower of
    it and its canonical form; an ``sk`` that is not a timestamp bounds nothing.
    """
    bounds = []
    for row in rows:
        instant = instant_of(row["sk"])
        if instant is None:
            return None
        bounds.append(min(row["sk"], format_timestamp(instant)))
    return min(bounds, default=None)


@dataclass(frozen=True)
class Lost:
    """A write refused by its condition: the writer lost a race and wrote nothing.

    ``rows``: the owner's rows as the writer now knows them (the row a refusal returned; the same rows when only the
    target key was taken); None: read them again.
    """

    rows: list[Item] | None = None


class NotSettled(RuntimeError):
    """Every attempt lost its race."""


class OwnerRows(Protocol):
    def owner_rows(self, owner_uuid: str, message_group_uuid: str, since: str | None) -> list[Item]:
        """The owner's rows of the group at or after ``since``, read strongly consistently."""


def settle(store: OwnerRows, owner_uuid: str, message_group_uuid: str, rows: list[Item],
           write: Callable[[Item, list[Item]], T | Lost]) -> T | None:
    """Runs ``write(newest row, rows)`` on the owner's rows until it does not lose, and returns what it returned.

    After a loss the rows are read again (``reread_from``; from the start when nothing is there, a row moved back
    by a delete) unless ``write`` said how they are; None: the owner has no row (left). Raises NotSettled after
    ``MAX_ATTEMPTS`` losses.
    """
    for _ in range(MAX_ATTEMPTS):
        if not rows:
            return None
        outcome = write(newest_row(rows), rows)
        if not isinstance(outcome, Lost):
            return outcome
        if outcome.rows is not None:
            rows = outcome.rows
            continue
        since = reread_from(rows)
        rows = store.owner_rows(owner_uuid, message_group_uuid, since=since)
        if not rows and since is not None:
            rows = store.owner_rows(owner_uuid, message_group_uuid, since=None)
    raise NotSettled(f"the row of {owner_uuid} in group {message_group_uuid} did not settle in {MAX_ATTEMPTS} "
                     "attempts")
