"""Message uuids that carry their message's time, so a message is found by its uuid alone.

A message is keyed by its time (``sk``) in its group's partition, but clients only know its uuid. Since issue 21 a
new message's uuid is a UUIDv7 (RFC 9562, section 5.7: a 48-bit big-endian count of Unix milliseconds, the
version 7, 74 random bits and the variant) whose milliseconds are the message's ``created_at``, planned together
(``domain.create_message.SendPlan``), so the message is one ``Query`` of a few milliseconds of its group away
(``data.messages.MessageStore.find_message``). Python 3.13 has no ``uuid.uuid7``; these are its few lines.
Tutorial-era messages carry other uuids (uuid4, or the seed's uuid5): ``is_uuid7`` tells them apart.
"""
from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta

from cruddur_messaging.clock import EPOCH, format_timestamp, parse_timestamp

VERSION = 7
ONE_MILLISECOND = timedelta(milliseconds=1)


def uuid7_at(created_at: str) -> str:
    """A fresh UUIDv7 whose timestamp is the millisecond of ``created_at`` (a canonical timestamp)."""
    milliseconds = (parse_timestamp(created_at) - EPOCH) // ONE_MILLISECOND
    value = (milliseconds & 0xFFFF_FFFF_FFFF) << 80
    value |= VERSION << 76
    value |= secrets.randbits(12) << 64
    value |= 0b10 << 62
    value |= secrets.randbits(62)
    return str(uuid.UUID(int=value))


def is_uuid7(message_uuid: str) -> bool:
    parsed = uuid.UUID(message_uuid)
    return parsed.version == VERSION and parsed.variant == uuid.RFC_4122


def time_of(message_uuid: str) -> datetime | None:
    """The start of the millisecond a UUIDv7 carries; None for another version (a tutorial-era message) and for a
    time past what a timestamp can hold (48 bits of milliseconds reach the year 10889: no message's)."""
    if not is_uuid7(message_uuid):
        return None
    try:
        moment = EPOCH + (uuid.UUID(message_uuid).int >> 80) * ONE_MILLISECOND
        format_timestamp(moment + timedelta(days=1))
    except (OverflowError, ValueError):
        return None
    return moment
