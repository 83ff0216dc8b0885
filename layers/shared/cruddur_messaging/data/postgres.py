"""One PostgreSQL connection per warm container, reconnected when it dropped.

Lambda runs one request at a time per container, so a single connection is enough and avoids a connection
(and its TLS and authentication round trips) per request. Only reads run here, in autocommit mode, so a
query interrupted by a dropped connection can simply be run again on a new one.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping

import psycopg2
import psycopg2.extensions

from cruddur_messaging.errors import DependencyUnavailable
from cruddur_messaging.observability import logger, tracer

# Each query a subsegment of the invocation's trace (statement and database, never the parameters).
tracer.patch(("psycopg2",))

SQL_DIR = Path(__file__).parent / "sql"
CONNECT_TIMEOUT_SECONDS = 3


def load_sql(name: str) -> str:
    return (SQL_DIR / f"{name}.sql").read_text()


class PostgresDatabase:
    def __init__(self, url_provider: Callable[[], str]) -> None:
        self._url_provider = url_provider
        self._connection: psycopg2.extensions.connection | None = None

    def fetch_one(self, query: str, params: Mapping[str, Any]) -> tuple | None:
        """Runs a parameterized read; retries once on a fresh connection if the old one had dropped."""
        for attempt in (1, 2):
            connection = self._connect()
            try:
                with connection.cursor() as cursor:
                    cursor.execute(query, params)
                    return cursor.fetchone()
            except (psycopg2.OperationalError, psycopg2.InterfaceError) as error:
                logger.warning("PostgreSQL connection lost", extra={"attempt": attempt, "error": str(error)})
                self.close()
        raise DependencyUnavailable("The user directory is temporarily unavailable.")

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            finally:
                self._connection = None

    def _connect(self) -> psycopg2.extensions.connection:
        if self._connection is not None and not self._connection.closed:
            return self._connection
        try:
            connection = psycopg2.connect(self._url_provider(), connect_timeout=CONNECT_TIMEOUT_SECONDS,
                                          application_name="cruddur-messaging")
        except psycopg2.OperationalError as error:
            logger.warning("cannot connect to PostgreSQL", extra={"error": str(error)})
            raise DependencyUnavailable("The user directory is temporarily unavailable.") from error
        connection.autocommit = True
        connection.set_session(readonly=True)
        self._connection = connection
        return connection
