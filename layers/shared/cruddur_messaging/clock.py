"""Timestamps as the table stores them: UTC ISO-8601 with microseconds and an explicit offset.

``2026-11-21T04:12:53.293000+00:00`` parses with ``%Y-%m-%dT%H:%M:%S.%f%z`` and sorts as text in time order,
which is what makes ``sk`` usable as a time-ordered sort key.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%f%z"
ONE_MICROSECOND = timedelta(microseconds=1)


def format_timestamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def utc_now() -> str:
    return format_timestamp(datetime.now(timezone.utc))


def parse_timestamp(text: str) -> datetime:
    return datetime.strptime(text, TIMESTAMP_FORMAT)


def next_microsecond(text: str) -> str:
    """The timestamp one microsecond later: how a message that collides on ``sk`` gets a free slot."""
    return format_timestamp(parse_timestamp(text) + ONE_MICROSECOND)
