"""Who is calling: the caller's Cruddur user, from the token's ``sub``, cached in the warm container.

The user row of a caller changes rarely (a new display name), so a bounded TTL lets a warm request skip
PostgreSQL entirely while a change still shows up within minutes.
"""
from __future__ import annotations

import time
from functools import lru_cache
from typing import Callable

from cruddur_messaging.config import get_settings
from cruddur_messaging.data.users import UserRepository, user_repository
from cruddur_messaging.errors import Forbidden, Unauthorized
from cruddur_messaging.models import User


class CallerDirectory:
    def __init__(self, users: UserRepository, ttl_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._users = users
        self._ttl_seconds = ttl_seconds
        self._clock = clock
        self._cache: dict[str, tuple[float, User]] = {}

    def resolve(self, cognito_user_id: str | None) -> User:
        if not cognito_user_id:
            raise Unauthorized("A valid access token is required.", code="unauthorized")
        now = self._clock()
        cached = self._cache.get(cognito_user_id)
        if cached and cached[0] > now:
            return cached[1]
        user = self._users.find_by_cognito_user_id(cognito_user_id)
        if user is None:
            raise Forbidden("This account has no Cruddur user.", code="caller_not_registered")
        self._evict_expired(now)
        self._cache[cognito_user_id] = (now + self._ttl_seconds, user)
        return user

    def _evict_expired(self, now: float) -> None:
        for key in [key for key, (expires_at, _) in self._cache.items() if expires_at <= now]:
            del self._cache[key]


@lru_cache(maxsize=1)
def caller_directory() -> CallerDirectory:
    return CallerDirectory(user_repository(), get_settings().caller_cache_ttl_seconds)


def resolve_caller(cognito_user_id: str | None) -> User:
    return caller_directory().resolve(cognito_user_id)
