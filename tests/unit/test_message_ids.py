"""The UUIDv7 of a message (RFC 9562, section 5.7): its layout, and the time it carries back."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from cruddur_messaging.clock import format_timestamp, parse_timestamp
from cruddur_messaging.message_ids import time_of, uuid7_at

AT = "2026-12-06T06:12:53.293456+00:00"


def test_the_layout_is_rfc_9562s_uuidv7() -> None:
    value = uuid.UUID(uuid7_at(AT))
    assert value.version == 7 and value.variant == uuid.RFC_4122
    milliseconds = int((parse_timestamp(AT) - datetime(1970, 1, 1, tzinfo=timezone.utc)) / timedelta(milliseconds=1))
    assert value.int >> 80 == milliseconds  # unix_ts_ms: the first 48 bits, big-endian
    assert (value.int >> 76) & 0xF == 7 and (value.int >> 62) & 0b11 == 0b10


def test_the_time_it_carries_is_the_start_of_the_messages_millisecond() -> None:
    assert format_timestamp(time_of(uuid7_at(AT))) == "2026-12-06T06:12:53.293000+00:00"
    assert time_of(uuid7_at("1970-01-01T00:00:00.000999+00:00")) == datetime(1970, 1, 1, tzinfo=timezone.utc)


def test_two_uuids_of_one_instant_differ_and_sort_by_time() -> None:
    many = {uuid7_at(AT) for _ in range(1000)}
    assert len(many) == 1000
    later = uuid7_at("2026-12-06T06:12:53.294000+00:00")
    assert all(earlier < later for earlier in many)


def test_other_versions_carry_no_time() -> None:
    group = uuid.UUID("5ae290ed-55d1-47a0-bc6d-fe2bc2700399")
    for other in (uuid.uuid4(), uuid.uuid5(group, "0"), uuid.uuid1()):
        assert time_of(str(other)) is None


def test_a_uuidv7_of_a_time_no_timestamp_holds_carries_none() -> None:
    beyond = uuid.UUID(int=(0xFFFF_FFFF_FFFF << 80) | (7 << 76) | (0b10 << 62))
    assert beyond.version == 7 and time_of(str(beyond)) is None
