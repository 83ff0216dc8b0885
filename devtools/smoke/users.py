"""Smoke users made for one run and removed after it (``SMOKE_CREATE_USERS=1``), when the caller may.

A Cruddur user is two records: a Cognito user (``AdminCreateUser`` without a welcome message, then
``AdminSetUserPassword`` with ``Permanent``, so that it is CONFIRMED and signs in without a
``NEW_PASSWORD_REQUIRED`` challenge: Cognito API Reference, AdminSetUserPassword) and a row of PostgreSQL's
``users`` table holding its ``sub``. So this needs Cognito admin rights on the pool *and* a way into the database
(its URL, from ``DATABASE_URL`` or the stack's SSM parameter, and a network path to it): what a black-box check
of the outputs alone does not have, hence opt-in. The handles are new each run (``smoke-<hex>-a``...), so no real
user's row or conversation is touched; what the run wrote in DynamoDB stays, under handles nobody has any more.
"""
from __future__ import annotations

import secrets
from contextlib import closing
from dataclasses import dataclass, field

import psycopg2
from botocore.exceptions import BotoCoreError, ClientError

from devtools.local_stack.cognito import PoolUser, add_user
from devtools.ops.database import connect
from devtools.smoke.clients import CheckFailed
from devtools.smoke.target import ROLE_SUFFIXES, ROLES, SmokeUser, UserStore


def one_time_password() -> str:
    """Meets Cognito's default policy (length, upper, lower, digit, symbol) whatever the random part."""
    return f"Smoke-{secrets.token_urlsafe(18)}-a1A!"


@dataclass
class SmokeUsers:
    store: UserStore
    prefix: str = field(default_factory=lambda: f"smoke-{secrets.token_hex(3)}")
    created: list[str] = field(default_factory=list)
    """Cognito usernames of the users made so far, for ``remove``."""
    rows: list[str] = field(default_factory=list)
    """The ``sub`` of every users row inserted so far."""

    def create(self) -> dict[str, SmokeUser]:
        users = {}
        for role in ROLES:
            handle = f"{self.prefix}-{ROLE_SUFFIXES[role].lower()}"
            email, display_name, password = f"{handle}@example.com", f"Smoke {ROLE_SUFFIXES[role]}", one_time_password()
            try:
                signed = add_user(self.store.cognito, self.store.user_pool_id,
                                  PoolUser(handle=handle, display_name=display_name, email=email), password)
            except (ClientError, BotoCoreError) as error:
                raise CheckFailed(f"Cognito refused to make {email}: {error}") from None
            self.created.append(signed.username)
            try:
                with closing(connect(self.store.database_url)) as connection, connection, \
                        connection.cursor() as cursor:
                    cursor.execute("INSERT INTO public.users (display_name, handle, email, cognito_user_id) "
                                   "VALUES (%s, %s, %s, %s)", (display_name, handle, email, signed.sub))
            except psycopg2.Error as error:
                raise CheckFailed(f"cannot add {handle} to the users table: {' '.join(str(error).split())}") from None
            self.rows.append(signed.sub)
            users[role] = SmokeUser(role, signed.username, password, handle)
        return users

    def remove(self) -> str:
        """Deletes the rows, then the Cognito users (each whatever became of the others); what it removed."""
        problems, removed_rows = [], 0
        if self.rows:
            try:
                with closing(connect(self.store.database_url)) as connection, connection, \
                        connection.cursor() as cursor:
                    cursor.execute("DELETE FROM public.users WHERE cognito_user_id = ANY(%s)", (self.rows,))
                    removed_rows = cursor.rowcount
                self.rows = []
            except psycopg2.Error as error:
                problems.append(f"the users rows of {self.prefix}-*: {' '.join(str(error).split())}")
        removed_users = 0
        for username in list(self.created):
            try:
                self.store.cognito.admin_delete_user(UserPoolId=self.store.user_pool_id, Username=username)
            except (ClientError, BotoCoreError) as error:
                problems.append(f"Cognito user {username}: {error}")
            else:
                removed_users += 1
            self.created.remove(username)
        done = f"{removed_users} Cognito users and {removed_rows} users rows removed ({self.prefix}-*)"
        if problems:
            raise CheckFailed(f"{done}; not removed: {'; '.join(problems)}")
        return done
