"""Pattern E: a new message moves both members' group rows to its time and text.

Lambda's event source mapping delivers a group's messages in batches, at least once, possibly again after a
partial failure, and two invocations may race; the group index lags behind the table. So:

- a batch is coalesced first: each group is moved once, to its newest message in the batch;
- a row only moves forward in time, so an older, replayed or duplicated record changes nothing;
- each move is one transaction conditional on the rows it read (see ``data.group_rows``); when it is refused,
  the owner's rows are read again strongly consistently and the move retried, a bounded number of times;
- if the target key already holds another group's row (same owner, same microsecond), the row goes to the next
  free microsecond: nothing is overwritten, and the list order stays right;
- a group that cannot be moved now fails all of its records in the batch, so Lambda, which resumes from the
  lowest failed sequence number, delivers its newest message again; the other groups are unaffected.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timezone
from typing import Any, Iterable

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from cruddur_messaging.clock import format_timestamp, next_microsecond
from cruddur_messaging.data import keys
from cruddur_messaging.data.group_rows import GroupRowStore, Item
from cruddur_messaging.domain.stream_records import MalformedRecord, NewMessage, instant_of, new_message_of
from cruddur_messaging.observability import logger, metrics

# Refused moves (a racing writer, a stale index, a taken microsecond) before the group is left to a retry of
# its records; each refusal is a real concurrent change, so a handful is plenty.
MAX_MOVE_ATTEMPTS = 5
# A group is not started with less time than this left: its records are retried instead of cut off mid-way.
DEADLINE_MARGIN_MILLIS = 2_000

_BEFORE_ANY_TIME = datetime.min.replace(tzinfo=timezone.utc)


class GroupNotMoved(RuntimeError):
    """The group's rows could not be moved now; its records are reported as batch item failures."""


def move_group_rows(store: GroupRowStore, message: NewMessage) -> int:
    """Moves every member's row of the message's group to the message, unless it is already as new.

    Returns how many rows moved (0 when the message is not newer than the rows).
    """
    group_uuid = message.message_group_uuid
    rows_by_owner = _rows_by_owner(store, group_uuid)
    if not any(rows_by_owner.values()):
        logger.warning("message group has no rows to move", extra={"message_group_uuid": group_uuid})
        return 0
    moved = 0
    for owner_uuid, rows in rows_by_owner.items():
        moved += _move_owner_row(store, message, owner_uuid, rows)
    return moved


def _rows_by_owner(store: GroupRowStore, group_uuid: str) -> dict[str, list[Item]]:
    rows_by_owner: dict[str, list[Item]] = defaultdict(list)
    for row in store.rows_in_index(group_uuid):
        rows_by_owner[keys.owner_of_group_rows_pk(row["pk"])].append(row)
    if len(rows_by_owner) < 2:
        # Rows reach the index a moment after they are written (a group created just now), so ask the table
        # for the members it records. Groups written the tutorial's way have no such record.
        for member_uuid in sorted(store.members(group_uuid) or ()):
            if member_uuid not in rows_by_owner:
                rows_by_owner[member_uuid] = store.owner_rows(member_uuid, group_uuid, since=None)
    return rows_by_owner


def _move_owner_row(store: GroupRowStore, message: NewMessage, owner_uuid: str, rows: list[Item]) -> int:
    group_uuid = message.message_group_uuid
    slot = message.slot
    for _ in range(MAX_MOVE_ATTEMPTS):
        if not rows:
            logger.warning("member has no row in the message group",
                           extra={"message_group_uuid": group_uuid, "owner_uuid": owner_uuid})
            return 0
        current = max(rows, key=_instant_of_row)
        if _instant_of_row(current) >= message.at:
            return 0
        # Everything but the key and the text stays: the group, and the other member's uuid and names.
        outcome = store.move(group_uuid, rows, {**current, "sk": slot, "message": message.text})
        if outcome.moved:
            return 1
        if outcome.slot_taken:
            logger.info("group row slot taken, moving to the next microsecond",
                        extra={"message_group_uuid": group_uuid, "owner_uuid": owner_uuid, "slot": slot})
            slot = next_microsecond(slot)
        if outcome.rows_changed:
            rows = store.owner_rows(owner_uuid, group_uuid, since=_lower_bound(rows))
    raise GroupNotMoved(f"the row of {owner_uuid} in group {group_uuid} did not settle in {MAX_MOVE_ATTEMPTS} "
                        "attempts")


def _instant_of_row(row: Item) -> datetime:
    """A row whose ``sk`` is not a timestamp is older than any message: the next one puts it right."""
    return instant_of(row["sk"]) or _BEFORE_ANY_TIME


def _lower_bound(rows: list[Item]) -> str | None:
    """An ``sk`` at or below where the rows are now, as text (how DynamoDB compares it).

    The rows moved forward since they were read, always to canonical timestamps, which sort as text; a
    tutorial ``sk`` may not (another offset), so the bound is the lower of it and its canonical form.
    """
    bounds = []
    for row in rows:
        instant = instant_of(row["sk"])
        if instant is None:
            return None
        bounds.append(min(row["sk"], format_timestamp(instant)))
    return min(bounds, default=None)


def newest_per_group(records: Iterable[dict[str, Any]]) -> dict[str, NewMessage]:
    """Each group's newest message in the batch (the later record wins a tie); other records are skipped."""
    newest: dict[str, NewMessage] = {}
    for raw in records:
        try:
            message = new_message_of(DynamoDBRecord(raw))
        except MalformedRecord:
            continue
        if message is None:
            continue
        known = newest.get(message.message_group_uuid)
        if known is None or message.at >= known.at:
            newest[message.message_group_uuid] = message
    return newest


class BatchMoves:
    """One batch of stream records: the record handler for Powertools' ``BatchProcessor``.

    Every group is moved once, to its newest message in the batch, when its first record comes up; the
    group's other records share that outcome. A failure is raised for *every* record of the group, so the
    lowest failed sequence number, where Lambda resumes, is at or before the group's newest message.
    """

    def __init__(self, store: GroupRowStore, records: list[dict[str, Any]]) -> None:
        self._store = store
        self._newest = newest_per_group(records)
        self._outcomes: dict[str, int | Exception] = {}

    def handle(self, record: DynamoDBRecord, lambda_context: LambdaContext | None = None) -> int:
        """Rows moved for the record's group; 0 for a record skipped or ignored."""
        try:
            message = new_message_of(record)
        except MalformedRecord as error:
            logger.error("malformed stream record skipped",
                         extra={"sequence_number": _sequence_number_of(record), "event_id": _event_id_of(record),
                                "reason": str(error)})
            metrics.add_metric(name="StreamRecordsMalformed", unit=MetricUnit.Count, value=1)
            return 0
        if message is None:
            # The mapping's filter lets only MSG# inserts through: a count above zero means it does not.
            metrics.add_metric(name="StreamRecordsIgnored", unit=MetricUnit.Count, value=1)
            return 0
        group_uuid = message.message_group_uuid
        if group_uuid not in self._outcomes:
            self._outcomes[group_uuid] = self._move(self._newest[group_uuid], lambda_context)
        outcome = self._outcomes[group_uuid]
        if isinstance(outcome, Exception):
            raise GroupNotMoved(f"group {group_uuid} not moved; record {message.sequence_number} will be retried") \
                from outcome
        return outcome

    def _move(self, message: NewMessage, lambda_context: LambdaContext | None) -> int | Exception:
        details = {"message_group_uuid": message.message_group_uuid, "sequence_number": message.sequence_number}
        if lambda_context is not None and lambda_context.get_remaining_time_in_millis() < DEADLINE_MARGIN_MILLIS:
            logger.warning("too little time left to move a group; its records will be retried", extra=details)
            metrics.add_metric(name="MessageGroupsNotMoved", unit=MetricUnit.Count, value=1)
            return GroupNotMoved("the invocation is about to time out")
        try:
            moved = move_group_rows(self._store, message)
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
