"""Users live in PostgreSQL; this is the only module that knows how they are queried."""
from __future__ import annotations

from typing import Protocol

from cruddur_messaging.data.postgres import PostgresDatabase, load_sql
from cruddur_messaging.models import User

USER_BY_COGNITO_USER_ID = load_sql("user_by_cognito_user_id")
USER_BY_HANDLE = load_sql("user_by_handle")
USERS_BY_UUIDS = load_sql("users_by_uuids")


class UserRepository(Protocol):
    def find_by_cognito_user_id(self, cognito_user_id: str) -> User | None: ...

    def find_by_handle(self, handle: str) -> User | None: ...

    def find_by_uuids(self, uuids: list[str]) -> list[User]: ...


class PostgresUserRepository:
    def __init__(self, database: PostgresDatabase) -> None:
        self._database = database

    def find_by_cognito_user_id(self, cognito_user_id: str) -> User | None:
        return _user(self._database.fetch_one(USER_BY_COGNITO_USER_ID, {"cognito_user_id": cognito_user_id}))

    def find_by_handle(self, handle: str) -> User | None:
        return _user(self._database.fetch_one(USER_BY_HANDLE, {"handle": handle}))

    def find_by_uuids(self, uuids: list[str]) -> list[User]:
        """The users among ``uuids`` (one query; a uuid with no user is left out)."""
        if not uuids:
            return []
        return [_user(row) for row in self._database.fetch_all(USERS_BY_UUIDS, {"uuids": uuids})]


def _user(row: tuple | None) -> User | None:
    if row is None:
        return None
    uuid, handle, display_name, cognito_user_id = row
    return User(uuid=uuid, handle=handle, display_name=display_name, cognito_user_id=cognito_user_id)
