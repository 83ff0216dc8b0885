"""Checks of identifiers that arrive from clients: malformed ones are a 400 before any lookup."""
from __future__ import annotations

import re
import uuid
from typing import Any

from cruddur_messaging.errors import BadRequest, ErrorCode

HANDLE_PATTERN = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


def normalize_handle(raw: Any) -> str:
    """``@bayko`` and ``bayko`` name the same user; anything that cannot be a handle is a 400."""
    handle = raw.strip().removeprefix("@") if isinstance(raw, str) else ""
    if not HANDLE_PATTERN.fullmatch(handle):
        raise BadRequest("A handle is letters, digits, '.', '_' or '-' (at most 64).", code=ErrorCode.INVALID_HANDLE)
    return handle


def parse_message_group_uuid(raw: Any) -> str:
    """The canonical (lower-case, hyphenated) form of a group uuid."""
    if isinstance(raw, str):
        try:
            return str(uuid.UUID(raw))
        except ValueError:
            pass
    raise BadRequest("message_group_uuid must be a uuid.", code=ErrorCode.INVALID_MESSAGE_GROUP_UUID)
