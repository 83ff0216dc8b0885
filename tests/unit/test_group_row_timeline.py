"""The group row timeline's rules (``domain.group_row_timeline``), one by one: what moves a row (forward only, as
instants), what moves a read marker, the bound rows are read again from, how a writer that loses a race
tries again, and the version and late record every write gives a row. The stream and mark-read tests play the
same rules end to end; these say which rule broke."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from cruddur_messaging.clock import format_timestamp, parse_timestamp
from cruddur_messaging.data.read_state import ReadStateStore
from cruddur_messaging.domain.group_row_timeline import (
    BEFORE_ANY_TIME,
    LATE_AFTER,
    MAX_ATTEMPTS,
    NEWEST_AT,
    SYNC_HORIZON,
    Lost,
    NotSettled,
    behind_newest,
    instant_after,
    instant_of_row,
    marker_moves,
    message_moves_row,
    messages_applied,
    moment_of_version,
    newest_instant,
    newest_row,
    next_version,
    refreshed_sk,
    reread_from,
    row_stamp,
    settle,
    version_at,
    version_of,
)

GROUP = "11111111-1111-4111-8111-111111111111"
OWNER = "22222222-2222-4222-8222-222222222222"
T0 = "2026-03-04T05:06:07.000000+00:00"
T1 = "2026-03-04T05:06:07.000001+00:00"
T2 = "2026-03-04T05:06:08.000000+00:00"


def row(sk: str, **attributes: Any) -> dict[str, Any]:
    return {"pk": f"GRP#{OWNER}", "sk": sk, "message_group_uuid": GROUP, **attributes}


def at(text: str) -> datetime:
    return parse_timestamp(text)


@pytest.mark.parametrize(("row_sk", "message_at", "moves"), [
    (T0, T1, True),  # one microsecond newer: forward
    (T1, T0, False),  # older: a late or replayed record
    (T0, T0, False),  # a tie: the same message again, or one at the row's very time
    ("2026-03-04T10:06:07+05:00", T2, True),  # 05:06:07Z: sorts after T2 as text, yet is older
    ("2026-03-04T07:06:07+02:00", T0, False),  # the same instant as T0 written with another offset: a tie
    ("2026-03-04T01:06:08-04:00", T2, False),  # 05:06:08Z: sorts before T2 as text, yet is the same instant
    ("not a time", T0, True),  # an sk that is no timestamp is before any message
], ids=["newer", "older", "tie", "offset-older", "offset-tie", "offset-tie-behind-as-text", "no-timestamp"])
def test_a_message_moves_a_row_only_forward_compared_as_instants(row_sk: str, message_at: str, moves: bool) -> None:
    assert message_moves_row(row(row_sk), at(message_at)) is moves
    assert instant_after(row(row_sk), at(message_at)) == (at(message_at) if moves else instant_of_row(row(row_sk)))


def test_the_row_of_several_is_the_newest_as_an_instant() -> None:
    behind_as_text = row("2026-03-04T01:06:09-04:00")  # 05:06:09Z, the newest
    rows = [row(T0), row("junk"), behind_as_text, row(T2)]
    assert newest_row(rows) is behind_as_text
    assert instant_of_row(row("junk")) == BEFORE_ANY_TIME
    assert newest_row([row("junk"), row(T0)])["sk"] == T0


@pytest.mark.parametrize(("marker", "target", "moves"), [
    (None, T0, True), (T0, T1, True), (T1, T1, False), (T2, T1, False)],
    ids=["nothing-read", "forward", "tie", "back"])
def test_a_marker_moves_only_forward(marker: str | None, target: str, moves: bool) -> None:
    assert marker_moves(marker, target) is moves


@pytest.mark.parametrize(("marker", "target"), [(None, T0), (T0, T1), (T1, T1), (T2, T1)],
                         ids=["nothing-read", "forward", "tie", "back"])
def test_the_marker_condition_on_a_table_is_the_same_rule(aws, marker: str | None, target: str) -> None:
    stored = row(T2, unread_count=1, **({} if marker is None else {"last_read_at": marker}))
    aws.table.put_item(Item=stored)
    outcome = ReadStateStore(aws.table).mark_read(GROUP, stored, target, 0, next_version(stored))
    assert outcome.written is marker_moves(marker, target)
    assert outcome.row is not None
    assert outcome.row.get("last_read_at") == (target if outcome.written else marker)


@pytest.mark.parametrize(("stored_version", "written"), [(None, True), (41, True), (42, False), (43, False)],
                         ids=["no-version-yet", "behind", "same", "ahead"])
def test_mark_read_never_gives_a_row_a_version_below_or_at_its_own(aws, stored_version: int | None,
                                                                   written: bool) -> None:
    stored = row(T2, unread_count=1, **({} if stored_version is None else {"version": stored_version}))
    aws.table.put_item(Item=stored)
    outcome = ReadStateStore(aws.table).mark_read(GROUP, stored, T2, 0, 42)
    assert outcome.written is written
    assert outcome.row is not None and outcome.row.get("version") == (42 if written else stored_version)


@pytest.mark.parametrize("changed", [{"unread_count": 2}, {"last_read_at": T1}, {"version": 8}],
                         ids=["count", "marker", "version"])
def test_a_stream_write_is_refused_once_the_row_changed_even_only_its_version(aws, changed: dict[str, Any]) -> None:
    read = row(T2, unread_count=1, last_read_at=T0, version=7)
    aws.table.put_item(Item={**read, **changed})
    outcome = ReadStateStore(aws.table).replace_read_state(GROUP, read, 1, T0, row_stamp(read))
    assert not outcome.written and outcome.row == {**read, **changed}
    assert ReadStateStore(aws.table).replace_read_state(GROUP, {**read, **changed}, 1, T0,
                                                        row_stamp({**read, **changed})).written


def test_a_version_is_the_write_time_in_microseconds_and_always_above_the_rows() -> None:
    now = at(T2)
    assert moment_of_version(version_at(now)) == now
    assert next_version(None, now) == version_at(now) == next_version(row(T0, version=version_at(now) - 1), now)
    ahead = version_at(now) + 10**6  # written by a clock a second ahead
    assert next_version(row(T0, version=ahead), now) == ahead + 1
    assert next_version(row(T0), now) == version_at(now)  # a row from before versions is version 0
    assert version_of(row(T0)) == 0


def test_a_write_applies_every_message_but_the_rows_own() -> None:
    assert messages_applied(row(T1), [at(T2), at(T1), at(T0)]) == [at(T0), at(T2)]
    assert messages_applied(row("2026-03-04T07:06:07+02:00"), [at(T0)]) == []  # T0 as an instant
    assert messages_applied(row(T1), []) == []


NOW = at("2026-03-11T00:00:00.000000+00:00")
ON_TIME = NOW - LATE_AFTER + timedelta(microseconds=1)
LATE = NOW - LATE_AFTER


def test_only_a_message_applied_more_than_late_after_its_time_leaves_a_late_record() -> None:
    assert row_stamp(row(T0), [ON_TIME], now=NOW) == {"version": version_at(NOW)}
    assert row_stamp(row(T0), [ON_TIME, LATE, LATE - timedelta(days=1)], now=NOW) == {
        "version": version_at(NOW), "late_from": format_timestamp(LATE - timedelta(days=1)),
        "late_version": version_at(NOW)}
    assert row_stamp(None, [LATE], now=NOW) == {"version": version_at(NOW), "late_from": format_timestamp(LATE),
                                                "late_version": version_at(NOW)}


def test_late_is_measured_from_the_writes_version_not_the_clock() -> None:
    """The row's version is a minute ahead of this writer's clock: its version is then, and a message a second
    before its clock is late relative to that version."""
    ahead = row(T0, version=version_at(NOW + LATE_AFTER))
    stamp = row_stamp(ahead, [NOW - timedelta(seconds=1)], now=NOW)
    assert stamp["version"] == version_at(NOW + LATE_AFTER) + 1
    assert stamp["late_from"] == format_timestamp(NOW - timedelta(seconds=1))


def test_a_late_record_is_carried_merged_while_within_the_horizon_and_replaced_after() -> None:
    recent = version_at(NOW - SYNC_HORIZON) + 1
    recorded = row(T0, version=recent + 5, late_from=format_timestamp(LATE - timedelta(hours=1)), late_version=recent)
    carried = {"version": version_at(NOW), "late_from": recorded["late_from"], "late_version": recent}
    assert row_stamp(recorded, [ON_TIME], now=NOW) == carried
    assert row_stamp(recorded, [], now=NOW) == carried
    assert row_stamp(recorded, [LATE], now=NOW) == {**carried, "late_version": version_at(NOW)}  # the older from
    earlier = LATE - timedelta(hours=2)
    assert row_stamp(recorded, [earlier], now=NOW)["late_from"] == format_timestamp(earlier)
    expired = {**recorded, "late_version": version_at(NOW - SYNC_HORIZON)}
    assert row_stamp(expired, [LATE], now=NOW) == {"version": version_at(NOW), "late_from": format_timestamp(LATE),
                                                   "late_version": version_at(NOW)}


def test_a_move_takes_a_version_above_every_row_it_replaces() -> None:
    duplicate = row(T1, version=version_at(NOW) + 99)
    assert row_stamp(row(T2, version=5), [], replaced=[duplicate], now=NOW)["version"] == version_at(NOW) + 100


def test_rows_are_read_again_from_at_or_below_where_they_were_as_text() -> None:
    tutorial = "2026-03-04T07:06:07+02:00"  # T0 as an instant; sorts after its canonical form as text
    assert reread_from([row(T2), row(T1)]) == T1
    assert reread_from([row(T2), row(tutorial)]) == T0
    assert reread_from([row(T2), row("junk")]) is None  # no bound: the whole partition
    assert reread_from([]) is None
    rows = [row(T2), row(tutorial), row("2026-03-04T01:06:08-04:00")]
    bound = reread_from(rows)
    assert bound is not None
    # Wherever a row moves, it moves forward and to a canonical sk: at or after the bound, as DynamoDB compares.
    for moved_to in (newest + timedelta(microseconds=step) for newest in map(instant_of_row, rows)
                     for step in (0, 1, 10**6)):
        assert format_timestamp(moved_to) >= bound
    assert all(stored["sk"] >= bound for stored in rows)


class Store:
    """The owner's rows as a strongly consistent read finds them now, and every read made."""

    def __init__(self, *now: list[dict[str, Any]]) -> None:
        self._now = list(now)
        self.reads: list[tuple[str, str, str | None]] = []

    def owner_rows(self, owner_uuid: str, message_group_uuid: str, since: str | None) -> list[dict[str, Any]]:
        self.reads.append((owner_uuid, message_group_uuid, since))
        return self._now.pop(0)


def test_a_writer_that_wins_at_once_reads_nothing_again() -> None:
    store, seen = Store(), []
    rows = [row(T0), row(T2), row(T1)]
    assert settle(store, OWNER, GROUP, rows, lambda current, all_rows: seen.append((current, all_rows)) or "won") \
        == "won"
    assert seen == [(rows[1], rows)] and store.reads == []


def test_a_writer_that_loses_reads_the_rows_again_from_where_they_were_and_writes_on_the_newest() -> None:
    moved_on = [row(T2, message="moved by the racing writer")]
    store, seen = Store(moved_on), []
    outcomes = iter([Lost(), "won"])

    def write(current: dict[str, Any], all_rows: list[dict[str, Any]]) -> Any:
        seen.append(current)
        return next(outcomes)

    assert settle(store, OWNER, GROUP, [row(T1), row(T0)], write) == "won"
    assert store.reads == [(OWNER, GROUP, T0)]
    assert seen == [row(T1), moved_on[0]]


def test_a_writer_that_lost_but_knows_the_rows_now_reads_nothing_again() -> None:
    returned = row(T1, last_read_at=T1)  # the row a refused update returned
    store, seen = Store(), []
    outcomes = iter([Lost([returned]), "won"])

    def write(current: dict[str, Any], all_rows: list[dict[str, Any]]) -> Any:
        seen.append(current)
        return next(outcomes)

    assert settle(store, OWNER, GROUP, [row(T1)], write) == "won"
    assert store.reads == [] and seen == [row(T1), returned]


def test_a_row_gone_when_read_again_ends_the_writer_without_a_write() -> None:
    store, writes = Store([], []), []
    assert settle(store, OWNER, GROUP, [row(T0)], lambda current, rows: writes.append(current) or Lost()) is None
    # Nothing from where it was, nor from the start (the read a row moved back by a delete needs): it left.
    assert writes == [row(T0)] and store.reads == [(OWNER, GROUP, T0), (OWNER, GROUP, None)]


def test_a_row_moved_back_by_a_delete_is_found_by_reading_from_the_start() -> None:
    moved_back = [row(T0, message="the newest message that remains")]
    store, seen = Store([], moved_back), []
    outcomes = iter([Lost(), "won"])
    assert settle(store, OWNER, GROUP, [row(T2)],
                  lambda current, rows: seen.append(current) or next(outcomes)) == "won"
    assert seen == [row(T2), moved_back[0]]
    assert store.reads == [(OWNER, GROUP, T2), (OWNER, GROUP, None)]


@pytest.mark.parametrize(("newest_at", "at", "moves", "behind"), [
    (None, T2, True, False),  # a row never moved back: forward from its sk
    (T2, T1, False, True),  # between the sk and newest_at: a deleted message, or one written late
    (T2, T2, False, True),
    (T2, "2026-03-04T05:06:09.000000+00:00", True, False),  # after newest_at: forward
    (T2, T0, False, False),  # the row's own message
])
def test_forward_only_is_the_rule_of_newest_at_and_behind_it_the_row_is_refreshed(newest_at, at, moves,
                                                                                 behind) -> None:
    moved_back = row(T0) if newest_at is None else {**row(T0), NEWEST_AT: newest_at}
    assert message_moves_row(moved_back, parse_timestamp(at)) is moves
    assert behind_newest(moved_back, parse_timestamp(at)) is behind
    assert newest_instant(moved_back) == parse_timestamp(newest_at or T0)


T3 = "2026-03-04T05:06:09.000000+00:00"


@pytest.mark.parametrize(("sk", "remaining", "deleted", "expected"), [
    (T2, T1, [T2], T1),  # the row's own message deleted: back to the newest that remains
    (T2, T0, [T2, T1], T0),  # and the one before it too
    (T1, T1, [T2, T3], None),  # deleted after the row's message only (its newest_at): it stays
    (T2, None, [T2, T1], T2),  # none left: it stays at the newest deleted message, empty
    (T1, None, [T3, T2, T1], T3),  # none left, a deleted message after the row (a late one): there, empty
    (T1, T2, [], T2),  # a message after the row (written after a move back read the table): forward to it
    ("2026-03-04T05:06:07.000002+00:00", T1, [], None),  # a microsecond after its message (a taken slot): stays
])
def test_a_refresh_moves_the_row_to_the_newest_remaining_message_and_only_back_past_deleted_ones(
        sk, remaining, deleted, expected) -> None:
    at = refreshed_sk(row(sk), parse_timestamp(remaining) if remaining else None,
                      [parse_timestamp(moment) for moment in deleted])
    assert at == (parse_timestamp(expected) if expected and expected != sk else None)


def test_a_writer_that_always_loses_gives_up_after_a_bounded_number_of_attempts() -> None:
    store, writes = Store(*[[row(T0)]] * MAX_ATTEMPTS), []
    with pytest.raises(NotSettled):
        settle(store, OWNER, GROUP, [row(T0)], lambda current, rows: writes.append(current) or Lost())
    assert len(writes) == MAX_ATTEMPTS and len(store.reads) == MAX_ATTEMPTS
