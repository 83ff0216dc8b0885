"""Opaque, tamper-proof pagination cursors.

A cursor is the DynamoDB key to continue after, signed with HMAC-SHA256 together with the partition it belongs
to. An altered cursor, or one taken from another partition (another user's groups, another conversation),
fails verification and is rejected with a 400 instead of leaking or skipping data.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from typing import Any, Mapping

from cruddur_messaging.errors import BadRequest, ErrorCode
from cruddur_messaging.models import PageRequest

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_CURSOR_LENGTH = 2048
SIGNATURE_BYTES = 16
# ASCII digits only: str.isdigit() also accepts "²" or "٣", and int() refuses the first and huge numbers.
LIMIT_PATTERN = re.compile(r"[0-9]{1,3}")


def parse_page_request(query: Mapping[str, str] | None) -> PageRequest:
    query = query or {}
    raw_limit = query.get("limit")
    if raw_limit is None:
        limit = DEFAULT_LIMIT
    elif LIMIT_PATTERN.fullmatch(raw_limit) and 1 <= int(raw_limit) <= MAX_LIMIT:
        limit = int(raw_limit)
    else:
        raise BadRequest(f"limit must be an integer from 1 to {MAX_LIMIT}.", code=ErrorCode.INVALID_LIMIT)
    cursor = query.get("cursor")
    if cursor is not None and not (0 < len(cursor) <= MAX_CURSOR_LENGTH):
        raise BadRequest("The cursor is not valid.", code=ErrorCode.INVALID_CURSOR)
    return PageRequest(limit=limit, cursor=cursor)


class CursorCodec:
    """Signs and checks the list cursors; ``seal`` and ``unseal`` are its signing, which the sync tokens
    (``domain.sync``) share: one key, one scheme, and a payload of each kind is refused as the other."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def encode(self, partition: str, position: Mapping[str, str]) -> str:
        return self.seal({"p": partition, "k": dict(position)})

    def decode(self, cursor: str, partition: str) -> dict[str, str]:
        """The key to continue after; raises BadRequest unless the cursor is intact and for ``partition``."""
        decoded = self.unseal(cursor)
        if decoded is None:
            raise BadRequest("The cursor is not valid.", code=ErrorCode.INVALID_CURSOR)
        if (not isinstance(decoded, dict) or decoded.get("p") != partition
                or not _is_key_of(decoded.get("k"), partition)):
            raise BadRequest("The cursor belongs to another list.", code=ErrorCode.INVALID_CURSOR)
        return decoded["k"]

    def seal(self, payload: Mapping[str, Any]) -> str:
        """``payload`` (JSON) as opaque, URL-safe text signed with the key."""
        encoded = _b64encode(json.dumps(dict(payload), separators=(",", ":")).encode())
        return f"{encoded}.{self._sign(encoded)}"

    def unseal(self, text: str) -> Any:
        """What ``seal`` sealed; None unless ``text`` is intact and signed with this key."""
        # A text we issued is ASCII (base64url and a dot); anything else would make compare_digest or encode()
        # raise instead of refusing it.
        if not text.isascii():
            return None
        payload, _, signature = text.partition(".")
        if not payload or not hmac.compare_digest(signature, self._sign(payload)):
            return None
        try:
            return json.loads(_b64decode(payload))
        except (ValueError, binascii.Error):
            return None

    def _sign(self, payload: str) -> str:
        return _b64encode(hmac.new(self._key, payload.encode(), hashlib.sha256).digest()[:SIGNATURE_BYTES])


def _is_key_of(position: Any, partition: str) -> bool:
    return (isinstance(position, dict) and set(position) == {"pk", "sk"} and position["pk"] == partition
            and isinstance(position["sk"], str))


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
