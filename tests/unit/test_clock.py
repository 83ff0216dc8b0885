"""``clock``: the one parser of timestamps, for the table's canonical form and the forms the tutorial wrote."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from cruddur_messaging.clock import instant_of, next_microsecond, parse_timestamp

UTC_14H = datetime(2019, 3, 20, 14, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("text", [
    "2019-03-20T14:00:00.000000+00:00",  # canonical
    "2019-03-20T10:00:00-04:00",         # the tutorial's isoformat() of local time: offset, no microseconds
    "2019-03-20T14:00:00",               # no offset at all: UTC
])
def test_every_form_names_its_instant(text: str) -> None:
    assert parse_timestamp(text) == UTC_14H
    assert instant_of(text) == UTC_14H


def test_a_timestamp_without_offset_is_refused_where_one_is_required() -> None:
    with pytest.raises(ValueError):
        parse_timestamp("2019-03-20T14:00:00", naive_is_utc=False)
    assert parse_timestamp("2019-03-20T10:00:00-04:00", naive_is_utc=False) == UTC_14H


@pytest.mark.parametrize("text", ["yesterday", "", None])
def test_anything_else_is_no_instant(text) -> None:
    assert instant_of(text) is None


def test_the_next_microsecond_is_canonical() -> None:
    assert next_microsecond("2026-03-04T05:06:07.999999+00:00") == "2026-03-04T05:06:08.000000+00:00"
    assert next_microsecond("2019-03-20T10:00:00-04:00") == "2019-03-20T14:00:00.000001+00:00"
