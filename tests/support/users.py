"""A fake ``UserRepository`` for the caches over PostgreSQL's users (callers, cards, the authorizer's directory)."""
from __future__ import annotations

from typing import Literal

from cruddur_messaging.errors import DependencyUnavailable
from cruddur_messaging.models import User


class FakeUsers:
    """Rows kept by one key, ``by`` (a handle is looked up in lower case); the lookups by that key are recorded, a
    lookup by the other key fails the test; ``down`` makes every lookup a 503."""

    def __init__(self, *users: User, by: Literal["cognito_user_id", "handle"] = "cognito_user_id") -> None:
        self.by = by
        self.rows = {getattr(user, by): user for user in users}
        self.lookups: list[str] = []
        self.down = False

    def find_by_cognito_user_id(self, cognito_user_id: str) -> User | None:
        return self._find("cognito_user_id", cognito_user_id)

    def find_by_handle(self, handle: str) -> User | None:
        return self._find("handle", handle)

    def _find(self, key: str, value: str) -> User | None:
        if key != self.by:
            raise AssertionError(f"looked up by {key}, where only {self.by} is expected")
        self.lookups.append(value)
        if self.down:
            raise DependencyUnavailable("The user directory is temporarily unavailable.")
        return self.rows.get(value.lower() if key == "handle" else value)
