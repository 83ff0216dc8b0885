"""PostgreSQL for the operator scripts: the database itself (create, drop, SQL files) and the users in it.

Users are read through the layer's repository (its SQL, its row mapping), as the functions read them.
"""
from __future__ import annotations

import logging
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

import psycopg2
import psycopg2.errors
from psycopg2 import sql
from psycopg2.extensions import connection as Connection, make_dsn, parse_dsn

from cruddur_messaging.config import DatabaseTls
from cruddur_messaging.data.postgres import PostgresDatabase, tls_parameters
from cruddur_messaging.data.users import PostgresUserRepository
from cruddur_messaging.models import User
from devtools.ops.errors import OpsError

SQL_DIR = Path(__file__).with_name("sql")
MAINTENANCE_DATABASE = "postgres"
CONNECT_TIMEOUT_SECONDS = 5
APPLICATION_NAME = "cruddur-ops"

logger = logging.getLogger(__name__)


def database_name(database_url: str) -> str:
    try:
        name = parse_dsn(database_url).get("dbname")
    except psycopg2.ProgrammingError as error:
        raise OpsError(f"the database URL is not valid: {' '.join(str(error).split())}") from None
    if not name:
        raise OpsError("the database URL names no database")
    return name


def connect(database_url: str, *, database: str | None = None) -> Connection:
    """A connection to the URL's database, or to ``database`` on the same server, over TLS as the functions
    connect (``DATABASE_SSLMODE``, verify-full against the RDS bundle by default; a unix socket is exempt)."""
    dsn = make_dsn(database_url, dbname=database) if database else database_url
    return psycopg2.connect(dsn, connect_timeout=CONNECT_TIMEOUT_SECONDS, application_name=APPLICATION_NAME,
                            **tls_parameters(parse_dsn(dsn), DatabaseTls.from_environment()))


def _run_on_maintenance_database(database_url: str, statement: sql.Composable,
                                 params: tuple[object, ...] = ()) -> list[tuple]:
    """CREATE/DROP DATABASE cannot run inside a transaction nor in the database they act on."""
    with closing(connect(database_url, database=MAINTENANCE_DATABASE)) as connection:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(statement, params)
            return cursor.fetchall() if cursor.description else []


def database_exists(database_url: str) -> bool:
    return bool(_run_on_maintenance_database(
        database_url, sql.SQL("SELECT 1 FROM pg_database WHERE datname = %s"), (database_name(database_url),)))


def create_database(database_url: str) -> bool:
    """Creates the URL's database; False when it already exists."""
    if database_exists(database_url):
        return False
    _run_on_maintenance_database(
        database_url, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database_name(database_url))))
    return True


def drop_database(database_url: str) -> bool:
    """Drops the URL's database, closing its sessions (PostgreSQL 13+); False when it does not exist."""
    if not database_exists(database_url):
        return False
    _run_on_maintenance_database(
        database_url,
        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database_name(database_url))))
    return True


def run_sql_file(database_url: str, path: Path) -> None:
    """Runs a file of SQL statements in one transaction."""
    with closing(connect(database_url)) as connection, connection, connection.cursor() as cursor:
        cursor.execute(path.read_text())


def find_users(database_url: str, handles: Iterable[str]) -> dict[str, User | None]:
    """Each handle's user (None when unknown), looked up as the functions look them up."""
    database = PostgresDatabase(lambda: database_url, DatabaseTls.from_environment())
    try:
        repository = PostgresUserRepository(database)
        return {handle: repository.find_by_handle(handle) for handle in handles}
    finally:
        database.close()


@dataclass
class CognitoLinks:
    """What :func:`set_cognito_user_ids` did: handle -> sub it set, and the handles no user has."""

    linked: dict[str, str] = field(default_factory=dict)
    unknown_handles: list[str] = field(default_factory=list)


def set_cognito_user_ids(database_url: str, subs_by_handle: Mapping[str, str]) -> CognitoLinks:
    """Sets each user's ``cognito_user_id`` to the sub of the Cognito user with their handle, in one transaction.

    Raises OpsError, changing nothing, when a sub already belongs to another user (the unique index).
    """
    statement = (SQL_DIR / "update_cognito_user_id.sql").read_text()
    links = CognitoLinks()
    with closing(connect(database_url)) as connection, connection, connection.cursor() as cursor:
        for handle, sub in sorted(subs_by_handle.items()):
            try:
                cursor.execute(statement, {"handle": handle, "sub": sub})
            except psycopg2.errors.UniqueViolation:
                raise OpsError(f"cannot link {handle} to Cognito user {sub}: another user already has that "
                               "cognito_user_id; nothing was changed") from None
            row = cursor.fetchone()
            if row is None:
                links.unknown_handles.append(handle)
            else:
                links.linked[row[0]] = sub
    return links
