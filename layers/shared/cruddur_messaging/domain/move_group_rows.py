"""Pattern E: a new message moves both members' group rows to its time and text; an edit or a delete refreshes them.

Lambda's event source mapping delivers a group's messages in batches, at least once, possibly again after a
partial failure, and two invocations may race; the group index lags behind the table. So:

- a batch is coalesced first: each group is moved once, to its newest message in the batch;
- a row moves by the rules of ``domain.group_row_timeline`` (forward only), so an older, replayed or duplicated
  record never moves it back; a record of the row's own message (at its very time) writes nothing, and one
  before it rewrites the row in place, always (at least its version: one ``UpdateItem`` per member row);
- every write gives the row its next ``version``, and a message applied more than a minute after its
  ``created_at`` (a stalled stream, a resumed send, a replay) leaves its late record on the row
  (``group_row_timeline.row_stamp``), which moves carry forward;
- each move is one transaction conditional on the rows it read (see ``data.group_rows``); when it is refused,
  it is tried again on the rows as they are now, as ``domain.group_row_timeline.settle`` does for every writer;
- if the target key already holds another group's row (same owner, same microsecond), the row goes to the next
  free microsecond: nothing is overwritten, and the list order stays right;
- a group that cannot be moved now fails all of its records in the batch, so Lambda, which resumes from the
  lowest failed sequence number, delivers its newest message again; the other groups are unaffected.

Edits and deletes (MODIFY records of ``MSG#`` items) and records of a message the row was moved back past are not
applied from the record: they *refresh* the row from the table (``_refresh``): the newest message not deleted up to
the newest the row or the batch knows, its text, the count; a delete of the message a row shows moves the row back
to it, the one exception to forward-only (``domain.group_row_timeline`` states it). The refresh always writes (a
new version, and a late record covering the changed messages, so a sync reports them), conditional like any move.

Each move also carries the owner's read state (``unread_count``, ``last_read_at``) forward: the batch's messages
of the group are counted on the way, at no extra request; a record before the row's time (a duplicate, or out of
order) makes the count be taken again exactly (``domain.unread_counts`` has the rules and why they are exact).
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from cruddur_messaging.clock import format_timestamp, instant_of, next_microsecond
from cruddur_messaging.data.group_rows import GroupRowStore, Item
from cruddur_messaging.data.read_state import Preview, ReadStateStore
from cruddur_messaging.domain.group_row_timeline import (
    NEWEST_AT,
    Lost,
    NotSettled,
    behind_newest,
    instant_of_row,
    message_moves_row,
    messages_applied,
    newest_instant,
    refreshed_sk,
    row_stamp,
    settle,
)
from cruddur_messaging.domain.stream_records import MalformedRecord, MessageChange, NewMessage, change_of
from cruddur_messaging.domain.unread_counts import GroupBatch, RowReadState, plan_read_state
from cruddur_messaging.observability import logger, metrics

# A group is not started with less time than this left: its records are retried instead of cut off mid-way.
DEADLINE_MARGIN_MILLIS = 2_000


class GroupNotMoved(RuntimeError):
    """The group's rows could not be moved now; its records are reported as batch item failures."""


def move_group_rows(store: GroupRowStore, counts: ReadStateStore, batch: GroupBatch) -> int:
    """Moves every member's row of the group to the batch's newest message, unless it is already as new, and
    brings each member's read state up to date.

    Returns how many rows moved (0 when the message is not newer than the rows).
    """
    group_uuid = batch.message_group_uuid
    rows_by_owner = store.rows_to_move(group_uuid)
    if not any(rows_by_owner.values()):
        logger.warning("message group has no rows to move", extra={"message_group_uuid": group_uuid})
        return 0
    moved = 0
    for owner_uuid, rows in rows_by_owner.items():
        moved += _move_owner_row(store, counts, batch, owner_uuid, rows)
    return moved


def _move_owner_row(store: GroupRowStore, counts: ReadStateStore, batch: GroupBatch, owner_uuid: str,
                    rows: list[Item]) -> int:
    message = batch.newest
    group_uuid = batch.message_group_uuid
    slot = message.slot if message is not None else ""
    refresh_slots: dict[str, str] = {}

    def write(current: Item, read: list[Item]) -> int | Lost:
        """One attempt on the owner's rows as ``read`` (``current``: the newest of them)."""
        nonlocal slot
        if message is None or batch.changes or any(behind_newest(current, at) for at in batch.senders_by_time):
            return _refresh(store, counts, batch, owner_uuid, current, read, refresh_slots)
        plan = plan_read_state(current, owner_uuid, batch)
        if plan.needs_recount:
            unread_count = counts.count_unread(group_uuid, owner_uuid, plan.last_read_at, plan.through)
            metrics.add_metric(name="UnreadCountsRecounted", unit=MetricUnit.Count, value=1)
        else:
            unread_count = plan.unread_count
        applied = messages_applied(current, batch.senders_by_time)
        if not message_moves_row(current, message.at):
            if not applied and RowReadState.of(current) == RowReadState(unread_count, plan.last_read_at):
                return 0  # only the row's own message, applied already
            stamp = row_stamp(current, applied)
            if counts.replace_read_state(group_uuid, current, unread_count, plan.last_read_at, stamp).written:
                return 0
            return Lost()
        # Everything but the key, the text, the read state and the stamp stays: the group, the other member's uuid
        # and names (and the late record, unless the stamp renews it).
        new_row = {key: value for key, value in current.items() if key not in ("last_read_at", NEWEST_AT)}
        new_row.update(sk=slot, message=message.text, unread_count=unread_count)
        new_row.update(row_stamp(current, applied, replaced=read))
        if plan.last_read_at is not None:
            new_row["last_read_at"] = plan.last_read_at
        outcome = store.move(group_uuid, read, new_row, source=current)
        if outcome.moved:
            return 1
        if outcome.slot_taken:
            logger.info("group row slot taken, moving to the next microsecond",
                        extra={"message_group_uuid": group_uuid, "owner_uuid": owner_uuid, "slot": slot})
            slot = next_microsecond(slot)
        return Lost() if outcome.rows_changed else Lost(read)

    try:
        moved = settle(store, owner_uuid, group_uuid, rows, write)
    except NotSettled as error:
        raise GroupNotMoved(str(error)) from error
    if moved is None:
        logger.warning("member has no row in the message group",
                       extra={"message_group_uuid": group_uuid, "owner_uuid": owner_uuid})
        return 0
    return moved


def _refresh(store: GroupRowStore, counts: ReadStateStore, batch: GroupBatch, owner_uuid: str, current: Item,
             read: list[Item], slots: dict[str, str]) -> int | Lost:
    """Brings the owner's row in line with the table: the batch edits or deletes messages, or names one the row was
    moved back past (``group_row_timeline``: "a delete moves a row back"). Reads the newest remaining message up to
    the newest the row or the batch knows, and recounts unless the change cannot alter the count; always writes
    (a new version whose late record covers the changed messages). ``slots``: the slot taken for each target, kept
    across attempts (a taken microsecond moves it on)."""
    group_uuid = batch.message_group_uuid
    bound = max([newest_instant(current), *batch.times])
    remaining = counts.newest_remaining(group_uuid, through=format_timestamp(bound))
    remaining_at = instant_of(remaining.newest["sk"]) if remaining.newest is not None else None
    deleted_after = [moment for moment in (instant_of(sk) for sk in remaining.deleted_after) if moment is not None]
    target = refreshed_sk(current, remaining_at, deleted_after)
    text = str(remaining.newest.get("message", "")) if remaining.newest is not None else ""
    through = target if target is not None else instant_of_row(current)
    state = RowReadState.of(current)
    own_newest = max((at for at, sender in batch.senders_by_time.items() if sender == owner_uuid), default=None)
    marker_at = instant_of(state.last_read_at) if state.last_read_at else None
    if state.unread_count is None and marker_at is None:
        marker_at = instant_of_row(current)  # a row from before read state: read up to its own time
    marker_at = max((at for at in (marker_at, own_newest) if at is not None), default=None)
    marker = format_timestamp(marker_at) if marker_at is not None else None
    counted_change = any(change.deleted and change.sender_uuid != owner_uuid
                         and (marker_at is None or change.at > marker_at) for change in batch.changes.values())
    if state.unread_count is None or target is not None or batch.senders_by_time or counted_change:
        unread_count = counts.count_unread(group_uuid, owner_uuid, marker, format_timestamp(through))
        metrics.add_metric(name="UnreadCountsRecounted", unit=MetricUnit.Count, value=1)
    else:
        unread_count = state.unread_count
    applied = sorted(set(messages_applied(current, batch.senders_by_time)) | set(batch.changes))
    newest_at = format_timestamp(bound) if bound > through else None
    if target is None:
        stamp = row_stamp(current, applied)
        outcome = counts.replace_read_state(group_uuid, current, unread_count, marker, stamp,
                                            preview=Preview(message=text, newest_at=newest_at))
        return 0 if outcome.written else Lost()
    target_sk = format_timestamp(target)
    slot = slots.setdefault(target_sk, target_sk)
    new_row = {key: value for key, value in current.items() if key not in ("last_read_at", NEWEST_AT)}
    new_row.update(sk=slot, message=text, unread_count=unread_count)
    new_row.update(row_stamp(current, applied, replaced=read))
    if marker is not None:
        new_row["last_read_at"] = marker
    if newest_at is not None:
        new_row[NEWEST_AT] = newest_at
    outcome = store.move(group_uuid, read, new_row, source=current)
    if outcome.moved:
        return 1
    if outcome.slot_taken:
        slots[target_sk] = next_microsecond(slot)
    return Lost() if outcome.rows_changed else Lost(read)


def batches_per_group(records: Iterable[dict[str, Any]]) -> dict[str, GroupBatch]:
    """Each group's messages in the batch, with its newest (the later record wins a tie); other records are
    skipped."""
    messages: dict[str, list[NewMessage | MessageChange]] = defaultdict(list)
    for raw in records:
        try:
            message = change_of(DynamoDBRecord(raw))
        except MalformedRecord:
            continue
        if message is not None:
            messages[message.message_group_uuid].append(message)
    return {group_uuid: GroupBatch.of(group_messages) for group_uuid, group_messages in messages.items()}


class BatchMoves:
    """One batch of stream records: the record handler for Powertools' ``BatchProcessor``.

    Every group is moved once, to its newest message in the batch (counting all of them), when its first record
    comes up; the
    group's other records share that outcome. A failure is raised for *every* record of the group, so the
    lowest failed sequence number, where Lambda resumes, is at or before the group's newest message.
    """

    def __init__(self, store: GroupRowStore, counts: ReadStateStore, records: list[dict[str, Any]]) -> None:
        self._store = store
        self._counts = counts
        self._batches = batches_per_group(records)
        self._outcomes: dict[str, int | Exception] = {}

    def handle(self, record: DynamoDBRecord, lambda_context: LambdaContext | None = None) -> int:
        """Rows moved for the record's group; 0 for a record skipped or ignored."""
        try:
            message = change_of(record)
        except MalformedRecord as error:
            logger.error("malformed stream record skipped",
                         extra={"sequence_number": _sequence_number_of(record), "event_id": _event_id_of(record),
                                "reason": str(error)})
            metrics.add_metric(name="StreamRecordsMalformed", unit=MetricUnit.Count, value=1)
            return 0
        if message is None:
            # The mapping's filter lets only MSG# inserts and modifies through: a count above zero means it does not
            # (or a modify that neither edits nor deletes).
            metrics.add_metric(name="StreamRecordsIgnored", unit=MetricUnit.Count, value=1)
            return 0
        group_uuid = message.message_group_uuid
        if group_uuid not in self._outcomes:
            self._outcomes[group_uuid] = self._move(self._batches[group_uuid], lambda_context)
        outcome = self._outcomes[group_uuid]
        if isinstance(outcome, Exception):
            raise GroupNotMoved(f"group {group_uuid} not moved; record {message.sequence_number} will be retried") \
                from outcome
        return outcome

    def _move(self, batch: GroupBatch, lambda_context: LambdaContext | None) -> int | Exception:
        details = {"message_group_uuid": batch.message_group_uuid, "sequence_number": batch.sequence_number}
        if lambda_context is not None and lambda_context.get_remaining_time_in_millis() < DEADLINE_MARGIN_MILLIS:
            logger.warning("too little time left to move a group; its records will be retried", extra=details)
            metrics.add_metric(name="MessageGroupsNotMoved", unit=MetricUnit.Count, value=1)
            return GroupNotMoved("the invocation is about to time out")
        try:
            moved = move_group_rows(self._store, self._counts, batch)
        except Exception as error:  # noqa: BLE001 - whatever it is, the group's records are retried, not lost
            logger.warning("group rows not moved; the group's records will be retried", extra=details,
                           exc_info=True)
            metrics.add_metric(name="MessageGroupsNotMoved", unit=MetricUnit.Count, value=1)
            return error
        metrics.add_metric(name="GroupRowsMoved", unit=MetricUnit.Count, value=moved)
        return moved


def _sequence_number_of(record: DynamoDBRecord) -> str | None:
    stream = record.raw_event.get("dynamodb") if isinstance(record.raw_event, dict) else None
    return stream.get("SequenceNumber") if isinstance(stream, dict) else None


def _event_id_of(record: DynamoDBRecord) -> str | None:
    return record.raw_event.get("eventID") if isinstance(record.raw_event, dict) else None
