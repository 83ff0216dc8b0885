"""Row versions and late records under what the stream really does (``domain.group_row_timeline``): sends whose
``created_at`` order is not their stream order, some of them landing minutes late, records delivered in any order
and batch size and delivered again, readers marking read in between, writers' clocks a little apart, a stream
stalled for days. Every write of a member's row, read back from the table's own stream, must raise its version,
and every message a write applied must be found by a sync: after any version V, either the message is after V's
message floor, or the row's late record covers it.
"""
from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest

from cruddur_messaging.clock import format_timestamp, parse_timestamp
from cruddur_messaging.domain import group_row_timeline
from cruddur_messaging.domain.group_row_timeline import SYNC_HORIZON
from cruddur_messaging.domain.mark_read import MarkReadRequest, mark_read
from tests.support.people import ANDREW, BAYKO
from tests.support.row_history import (
    MEMBERS,
    RowHistory,
    WriteClock,
    assert_a_sync_finds_every_applied_message,
    random_batch,
    rows_by_owner,
)
from tests.support.streams import BASE, deliver
from tests.support.tutorial import put_message



@pytest.mark.parametrize("seed", range(6))
def test_versions_grow_with_every_write_and_every_message_applied_is_found_by_a_sync(aws, ddb, stream, monkeypatch,
                                                                                   seed):
    rng = random.Random(seed)
    clock = WriteClock(rng, BASE, skew=timedelta(seconds=rng.choice([0, 2, 20])))
    monkeypatch.setattr(group_row_timeline, "write_time", clock)
    history = RowHistory()
    group = str(uuid.uuid4())
    first_at = clock.now
    aws.container("CreateMessageFunction").message_store.create_group(
        group, ANDREW.user, BAYKO.user, "first", str(uuid.uuid4()), format_timestamp(first_at))
    pending = stream.new_records()
    for owner, version in history.take(pending).items():
        history.applied.append((owner, first_at, version))
    pending = [record for record in pending if stream.mapping.accepts(record)]
    delivered: list[dict[str, Any]] = []
    sent: list[str] = []
    stalled_once = False

    def record_time(record: dict[str, Any]) -> datetime:
        return parse_timestamp(record["dynamodb"]["NewImage"]["sk"]["S"])

    def deliver_some() -> None:
        nonlocal pending
        # Any of the pending records, in any order (shards, retries), with earlier ones again.
        batch, pending = random_batch(rng, pending, delivered, most_replayed=3)
        before = rows_by_owner(aws, group)
        assert deliver(aws, batch) == {"batchItemFailures": []}
        delivered.extend(record for record in batch if record not in delivered)
        written = history.take(stream.new_records())
        times = {record_time(record) for record in batch}
        for owner, row in before.items():
            if owner in written:
                history.applied.extend((owner, at, written[owner]) for at in times
                                       if at != parse_timestamp(row["sk"]))
            else:
                # Nothing written for this owner: the batch held only the row's own message, applied already.
                assert times == {parse_timestamp(row["sk"])}, (owner, row["sk"], sorted(times))

    def read_some() -> None:
        reader = rng.choice(MEMBERS)
        read_at = rng.choice([None, rng.choice(sent)]) if sent else None
        reading = aws.container("MarkReadFunction")
        change = mark_read(reading.group_row_store, reading.read_state_store, reader.user, group,
                           MarkReadRequest(read_at=read_at))
        written = history.take(stream.new_records())
        assert set(written) <= {reader.uuid} and (reader.uuid in written) is change.moved, (change, written)

    for number in range(16):
        clock.advance(timedelta(seconds=rng.uniform(0, 20)))
        if not stalled_once and rng.random() < 0.08:
            clock.advance(SYNC_HORIZON + timedelta(days=1))  # a stream stalled for days: old records are late
            stalled_once = True
        # Mostly on time; some sends land minutes after their created_at (a resumed send, a slow request).
        delay = timedelta(seconds=rng.uniform(0, 5)) if rng.random() < 0.7 else timedelta(minutes=rng.uniform(1, 5))
        created_at = format_timestamp(clock.now - delay + timedelta(microseconds=number))
        put_message(ddb, group, created_at, f"message {number}", rng.choice(MEMBERS))
        sent.append(created_at)
        pending += stream.new_message_inserts()
        for _ in range(rng.randint(0, 2)):
            clock.advance(timedelta(seconds=rng.uniform(0, 30)))
            if pending and rng.random() < 0.7:
                deliver_some()
            elif rng.random() < 0.5:
                read_some()
            assert_a_sync_finds_every_applied_message(rows_by_owner(aws, group), history, clock.now)
    while pending:
        clock.advance(timedelta(seconds=rng.uniform(0, 90)))
        deliver_some()
        assert_a_sync_finds_every_applied_message(rows_by_owner(aws, group), history, clock.now)
    clock.advance(timedelta(minutes=10))
    assert deliver(aws, delivered) == {"batchItemFailures": []}  # everything once more, long after
    written = history.take(stream.new_records())
    assert set(written) == {person.uuid for person in MEMBERS}  # every row reaches back: both rewritten
    history.applied.extend((owner, record_time(record), version) for owner, version in written.items()
                           for record in delivered)

    rows = rows_by_owner(aws, group)
    assert_a_sync_finds_every_applied_message(rows, history, clock.now)
    for owner, row in rows.items():
        assert int(row["version"]) == history.versions[owner][-1]
        # The replay long after its messages is late: its record covers the oldest message it applied.
        assert row["late_from"] == min(sent + [format_timestamp(first_at)])
