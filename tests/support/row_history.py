"""What a randomized stream test keeps of the members' group rows: a clock every writer's version reads, every
write of the rows as the table's stream shows it, and the sync invariant checked on them
(``domain.group_row_timeline``, "Late messages")."""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from cruddur_messaging.clock import format_timestamp, parse_timestamp
from cruddur_messaging.domain.group_row_timeline import LATE_AFTER, SYNC_HORIZON, moment_of_version
from tests.support.people import ANDREW, BAYKO
from tests.support.streams import group_rows

MEMBERS = (ANDREW, BAYKO)
_deserializer = TypeDeserializer()


class WriteClock:
    """The time every writer's version takes (``group_row_timeline.write_time``): a shared time the test moves, as
    seen by clocks up to ``skew`` apart (each write reads a clock of its own)."""

    def __init__(self, rng: random.Random, start: datetime, skew: timedelta) -> None:
        self.rng = rng
        self.now = start
        self.skew = skew

    def __call__(self) -> datetime:
        return self.now + self.skew * self.rng.uniform(-1, 1)

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class RowHistory:
    """Every write of the members' rows of one group, as the table's stream shows them, and what each applied."""

    versions: dict[str, list[int]] = field(default_factory=lambda: {person.uuid: [] for person in MEMBERS})
    applied: list[tuple[str, datetime, int]] = field(default_factory=list)
    """(owner, message time, version of the write that applied it)."""

    def take(self, records: list[dict[str, Any]]) -> dict[str, int]:
        """Adds the row writes among ``records``; returns each owner's version written, if any. Raises when an
        owner's row is written twice in one step (one write per owner per invocation) or a version does not grow."""
        written: dict[str, int] = {}
        for record in records:
            stream = record["dynamodb"]
            if record["eventName"] not in ("INSERT", "MODIFY") or not stream["Keys"]["pk"]["S"].startswith("GRP#"):
                continue
            image = {name: _deserializer.deserialize(value) for name, value in stream["NewImage"].items()}
            owner = image["pk"].removeprefix("GRP#")
            version = int(image["version"])
            history = self.versions[owner]
            assert not history or version > history[-1], (owner, history[-1], version, record["eventName"])
            history.append(version)
            assert owner not in written, f"{owner}'s row written twice in one step"
            written[owner] = version
        return written


def rows_by_owner(aws: Any, group: str) -> dict[str, dict[str, Any]]:
    rows = group_rows(aws.table, group)
    assert len(rows) == 2, rows  # one row per member, whatever happened
    return {row["pk"].removeprefix("GRP#"): row for row in rows}


def assert_a_sync_finds_every_applied_message(rows: dict[str, dict[str, Any]], history: RowHistory,
                                              now: datetime) -> None:
    """For every message applied to a row at version ``a`` and every token floor V below ``a`` still served (not
    older than ``SYNC_HORIZON``): the message is after V's message floor, or the row's late record covers it. V
    just below ``a`` is the hardest (both ways out get easier as V goes down); a few more are checked anyway."""
    for owner, at, applied in history.applied:
        row = rows[owner]
        late_version = int(row.get("late_version") or 0)
        late_from = parse_timestamp(row["late_from"]) if row.get("late_from") else None
        for floor_version in (applied - 1, applied - 10**6, applied - 61 * 10**6):
            if moment_of_version(floor_version) <= now - SYNC_HORIZON:
                continue  # a token that old is refused (410)
            after_floor = at > moment_of_version(floor_version) - LATE_AFTER
            covered = late_version > floor_version and late_from is not None and late_from <= at
            assert after_floor or covered, (owner, format_timestamp(at), applied, floor_version, row)


def random_batch(rng: random.Random, pending: list[dict[str, Any]], delivered: list[dict[str, Any]],
                 most_replayed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A batch as shards and their retries deliver one: one to four of the ``pending`` records, with up to
    ``most_replayed`` of the ``delivered`` ones again, in any order; and the records still pending after it."""
    batch = rng.sample(pending, min(len(pending), rng.randint(1, 4)))
    still_pending = [record for record in pending if record not in batch]
    batch += rng.sample(delivered, min(len(delivered), rng.randint(0, most_replayed)))
    rng.shuffle(batch)
    return batch, still_pending
