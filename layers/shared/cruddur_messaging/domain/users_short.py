"""A user's public card by handle; the frontend sends the handle with a leading ``@``.

The route needs no token, so anyone can call it as often as they like: each warm container remembers the cards
it served for a minute (and the browser may too: ``CARD_MAX_AGE_SECONDS`` is also the response's
``Cache-Control``), and a handle that names nobody for a few seconds, so repeated lookups do not reach PostgreSQL.
"""
from __future__ import annotations

import time
from typing import Callable

from cruddur_messaging.cache import LookupCache
from cruddur_messaging.data.users import UserRepository
from cruddur_messaging.domain.validation import normalize_handle
from cruddur_messaging.errors import ErrorCode, NotFound
from cruddur_messaging.models import UserShort

CARD_MAX_AGE_SECONDS = 60
UNKNOWN_HANDLE_TTL_SECONDS = 10.0


class UserCards:
    def __init__(self, users: UserRepository, ttl_seconds: float = CARD_MAX_AGE_SECONDS,
                 unknown_ttl_seconds: float = UNKNOWN_HANDLE_TTL_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._users = users
        self._cache: LookupCache[str, UserShort] = LookupCache(ttl_seconds, unknown_ttl_seconds, clock)

    def find(self, raw_handle: str | None) -> UserShort:
        handle = normalize_handle(raw_handle)
        key = handle.lower()  # handles are unique regardless of case
        card = self._cache.get_or_load(key, lambda: self._card(handle))
        if card is None:
            raise NotFound(f"No user with the handle @{handle}.", code=ErrorCode.USER_NOT_FOUND)
        return card

    def _card(self, handle: str) -> UserShort | None:
        user = self._users.find_by_handle(handle)
        return UserShort.of(user) if user else None
