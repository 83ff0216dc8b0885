"""Who is calling: the caller's Cruddur user, from the token's ``sub``, cached in the warm container.

The user row of a caller changes rarely (a new display name), so a bounded TTL lets a warm request skip
PostgreSQL entirely while a change still shows up within minutes. A ``sub`` with no user (a Cognito account
whose Cruddur row does not exist yet, or a client retrying in a loop) is remembered for a few seconds only: long
enough that a burst of its requests costs one query, short enough that a user registered a moment later gets in.
"""
from __future__ import annotations

import time
from typing import Callable

from cruddur_messaging.cache import LookupCache
from cruddur_messaging.data.users import UserRepository
from cruddur_messaging.errors import ErrorCode, Forbidden, Unauthorized
from cruddur_messaging.models import User

UNKNOWN_CALLER_TTL_SECONDS = 10.0


class CallerDirectory:
    def __init__(self, users: UserRepository, ttl_seconds: float,
                 unknown_ttl_seconds: float = UNKNOWN_CALLER_TTL_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._users = users
        self._cache: LookupCache[str, User] = LookupCache(ttl_seconds, unknown_ttl_seconds, clock)

    def resolve(self, cognito_user_id: str | None) -> User:
        if not cognito_user_id:
            raise Unauthorized("A valid access token is required.", code=ErrorCode.UNAUTHORIZED)
        user = self._cache.get_or_load(cognito_user_id, lambda: self._users.find_by_cognito_user_id(cognito_user_id))
        if user is None:
            raise Forbidden("This account has no Cruddur user.", code=ErrorCode.CALLER_NOT_REGISTERED)
        return user
