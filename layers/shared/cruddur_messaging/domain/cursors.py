"""The container's cursor codec (its key is read once and cached)."""
from __future__ import annotations

from cruddur_messaging.data.parameters import cursor_signing_key
from cruddur_messaging.pagination import CursorCodec


def cursor_codec() -> CursorCodec:
    return CursorCodec(cursor_signing_key())
