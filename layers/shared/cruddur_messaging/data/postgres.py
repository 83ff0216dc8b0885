"""One PostgreSQL connection per warm container, reconnected when it dropped, and bounded in time.

Lambda runs one request at a time per container, so a single connection is enough and avoids a connection
(and its TLS and authentication round trips) per request. Only reads run here, in autocommit mode, so a
query interrupted by a dropped connection can simply be run again on a new one.

Nothing waits on PostgreSQL longer than the function can afford (15 s): connecting gives up after
``CONNECT_TIMEOUT_SECONDS``, the server cancels a statement after ``STATEMENT_TIMEOUT_MS`` (a lock held elsewhere,
an overloaded server), and the kernel drops a connection whose packets go unacknowledged for
``TCP_USER_TIMEOUT_MS`` (a vanished host). A cancelled statement is not retried: the server is slow, and asking
again would only double the wait. Either way the request ends in a 503 with ``Retry-After``. Worst case: a
dropped connection found by the TCP timeout (4 s), a reconnect (3 s) and a statement that times out (3 s) - 10 s.

Over TCP the connection is always TLS (``config.DatabaseTls``): ``verify-full`` against the RDS certificate bundle by
default, ``require`` at the least, whatever ``sslmode`` the URL carries. The one exception is a unix socket, which is
how the embedded local PostgreSQL of ``make dev`` and the tests listens (``devtools/postgres.py``): it never leaves
the machine, and libpq does not use TLS over a socket anyway.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping

import psycopg2
import psycopg2.errors
import psycopg2.extensions

from cruddur_messaging.config import SSLMODE_VERIFY_FULL, DatabaseTls
from cruddur_messaging.errors import DependencyUnavailable
from cruddur_messaging.observability import logger, tracer

# Each query a subsegment of the invocation's trace (statement and database, never the parameters).
tracer.patch(("psycopg2",))

SQL_DIR = Path(__file__).parent / "sql"
CONNECT_TIMEOUT_SECONDS = 3
STATEMENT_TIMEOUT_MS = 3000
TCP_USER_TIMEOUT_MS = 4000


def load_sql(name: str) -> str:
    return (SQL_DIR / f"{name}.sql").read_text()


def connection_parameters(url: str, tls: DatabaseTls) -> dict[str, Any]:
    """The URL's parameters with the bounds above and the configured TLS; ``options`` the URL already carries are
    kept, its ``sslmode`` and ``sslrootcert`` are not."""
    parameters = psycopg2.extensions.parse_dsn(url)
    options = f"{parameters.get('options', '')} -c statement_timeout={STATEMENT_TIMEOUT_MS}".strip()
    return {**parameters, "connect_timeout": CONNECT_TIMEOUT_SECONDS, "tcp_user_timeout": TCP_USER_TIMEOUT_MS,
            "options": options, "application_name": "cruddur-messaging", **tls_parameters(parameters, tls)}


def tls_parameters(parameters: dict[str, str], tls: DatabaseTls) -> dict[str, str]:
    """libpq's ``sslmode`` (and ``sslrootcert`` for ``verify-full``) for a server reached over TCP; nothing for the
    embedded local PostgreSQL on a unix socket (the only exception, see the module's docstring)."""
    if is_unix_socket(parameters):
        return {}
    if tls.sslmode == SSLMODE_VERIFY_FULL:
        return {"sslmode": tls.sslmode, "sslrootcert": str(tls.root_cert)}
    return {"sslmode": tls.sslmode}


def is_unix_socket(parameters: dict[str, str]) -> bool:
    """Whether libpq connects over a unix socket: no ``hostaddr``, and every host an absolute path (a socket
    directory, as libpq reads a host that "looks like an absolute path") or none at all (libpq's default socket)."""
    if parameters.get("hostaddr"):
        return False
    return all(host == "" or host.startswith("/") for host in parameters.get("host", "").split(","))


class PostgresDatabase:
    def __init__(self, url_provider: Callable[[], str], tls: DatabaseTls) -> None:
        self._url_provider = url_provider
        self._tls = tls
        self._connection: psycopg2.extensions.connection | None = None

    def fetch_one(self, query: str, params: Mapping[str, Any]) -> tuple | None:
        """Runs a parameterized read; retries once on a fresh connection if the old one had dropped."""
        return self._read(query, params, lambda cursor: cursor.fetchone())

    def fetch_all(self, query: str, params: Mapping[str, Any]) -> list[tuple]:
        """Every row of a parameterized read, retried as ``fetch_one``."""
        return self._read(query, params, lambda cursor: cursor.fetchall())

    def _read(self, query: str, params: Mapping[str, Any], rows: Callable[[Any], Any]) -> Any:
        for attempt in (1, 2):
            connection = self._connect()
            try:
                with connection.cursor() as cursor:
                    cursor.execute(query, params)
                    return rows(cursor)
            except psycopg2.errors.QueryCanceled as error:
                logger.warning("PostgreSQL statement timed out", extra={"timeout_ms": STATEMENT_TIMEOUT_MS})
                raise DependencyUnavailable("The user directory is temporarily unavailable.") from error
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
            connection = psycopg2.connect(**connection_parameters(self._url_provider(), self._tls))
        except psycopg2.OperationalError as error:
            logger.warning("cannot connect to PostgreSQL", extra={"error": str(error)})
            raise DependencyUnavailable("The user directory is temporarily unavailable.") from error
        connection.autocommit = True
        connection.set_session(readonly=True)
        self._connection = connection
        return connection
