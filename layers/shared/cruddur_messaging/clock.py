"""Timestamps: how the table writes them, and the one place that reads them.

The layer writes UTC ISO-8601 with microseconds and an explicit offset: ``2026-11-21T04:12:53.293000+00:00``
parses with ``%Y-%m-%dT%H:%M:%S.%f%z`` and sorts as text in time order, which is what makes ``sk`` usable as a
time-ordered sort key. Items written the tutorial's way carry ``isoformat()`` of the writer's local time (any
offset, no microseconds when they were zero), which does not sort as text: they are compared as instants.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%f%z"
ONE_MICROSECOND = timedelta(microseconds=1)
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def format_timestamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def utc_now() -> str:
    return format_timestamp(datetime.now(timezone.utc))


def epoch_microseconds(moment: datetime | None = None) -> int:
    """``moment`` (default: now) in whole microseconds since the Unix epoch: the send limits' clock
    (``domain.send_limits``) and the group rows' versions (``domain.group_row_timeline``)."""
    if moment is None:
        return time.time_ns() // 1000
    return (moment - EPOCH) // ONE_MICROSECOND


def moment_of_epoch_microseconds(microseconds: int) -> datetime:
    return EPOCH + timedelta(microseconds=microseconds)


def parse_timestamp(text: str, *, naive_is_utc: bool = True) -> datetime:
    """The instant (aware) an ISO-8601 timestamp names: the canonical form or any the tutorial wrote. A timestamp
    without an offset is UTC, or refused when ``naive_is_utc`` is False. Raises ValueError for anything else."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is not None:
        return moment
    if not naive_is_utc:
        raise ValueError(f"no UTC offset: {text!r}")
    return moment.replace(tzinfo=timezone.utc)


def instant_of(text: str) -> datetime | None:
    """The instant a stored timestamp (an ``sk``, a marker) names, whatever ISO-8601 form it has; None if none."""
    try:
        return parse_timestamp(text)
    except (TypeError, ValueError):
        return None


def next_microsecond(text: str) -> str:
    """The timestamp one microsecond later: how a message that collides on ``sk`` gets a free slot."""
    return format_timestamp(parse_timestamp(text) + ONE_MICROSECOND)
