"""Checks of identifiers and message texts that arrive from clients: malformed ones are a 400 before any lookup;
a well-formed text that breaks a rule (blank, too long) is a 422."""
from __future__ import annotations

import re
import uuid
from typing import Any

from cruddur_messaging.errors import BadRequest, ErrorCode, RuleViolation
from cruddur_messaging.models import MESSAGE_MAX_CHARS

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


def parse_message_uuid(raw: Any) -> str:
    """The canonical form of a message uuid (a path parameter)."""
    if isinstance(raw, str):
        try:
            return str(uuid.UUID(raw))
        except ValueError:
            pass
    raise BadRequest("message_uuid must be a uuid.", code=ErrorCode.INVALID_MESSAGE_UUID)


def check_message_form(message: Any) -> None:
    """A message's text, if present, is a string DynamoDB can store (400 otherwise)."""
    if message is not None and not isinstance(message, str):
        raise BadRequest("message must be a string.", code=ErrorCode.INVALID_MESSAGE)
    if message is not None and not _is_unicode_text(message):
        # JSON may carry a lone surrogate ("\ud800"); DynamoDB cannot store it, so it is refused here.
        raise BadRequest("message must be valid Unicode text.", code=ErrorCode.INVALID_MESSAGE)


def check_message_rules(message: str | None) -> str:
    """The rules of a message's text, for a send and an edit alike: not blank, at most ``MESSAGE_MAX_CHARS``."""
    if message is None or not message.strip():
        raise RuleViolation("The message is blank.", code=ErrorCode.MESSAGE_BLANK)
    if len(message) > MESSAGE_MAX_CHARS:
        raise RuleViolation(f"The message is longer than {MESSAGE_MAX_CHARS} characters.",
                            code=ErrorCode.MESSAGE_EXCEED_MAX_CHARS)
    return message


def parse_message_text(raw: Any) -> str:
    """A message's text: its form (400), then its rules (422)."""
    check_message_form(raw)
    return check_message_rules(raw)


def _is_unicode_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
