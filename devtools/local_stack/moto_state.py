"""moto's state on disk, so that the local stack's data outlives a restart (docs/local-stack.md).

Runs inside the moto process (``moto_launcher``), which calls :meth:`DynamoDBState.flush` and
:meth:`CognitoState.save` at the end of every request that may have changed something, before the response goes
out: an acknowledged write is on disk, and a ``kill -9`` loses nothing that a client was told had succeeded.

- DynamoDB: every item of every table, and every stream record of the last 24 hours (DynamoDB's stream
  retention) with its sequence number, in SQLite (``dynamodb.sqlite``). Only the items a request touched are
  written. A table gets its items and stream records back when it is created again under the same name (the
  stack's provisioning creates it on every start): they are put back directly, not written through the API, so
  restoring emits no stream records and the stream function sees nothing new. Sequence numbers continue where
  they stopped, also after a table is deleted and created again, so a poller's checkpoint stays meaningful.
  Deleting a table deletes its items.
- Cognito: the user pools (users with their ``sub``, app clients, issued tokens) pickled after every request
  that is not a read (``cognito.pickle``). moto signs every pool's tokens with one fixed key from its package,
  which is not pickled but loaded again, so tokens issued before a restart still verify after it.

What is not kept: SQS messages, SSM parameters and secrets (the stack provisions them again on every start; the
cursor secret's value comes from ``cursor-signing-key`` in the stack's directory, so cursors outlive a restart).
"""
from __future__ import annotations

import json
import logging
import os
import pickle
import sqlite3
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable

from joserfc import jwk
from moto.cognitoidp.models import CognitoIdpBackend
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import StreamRecord, Table
from moto.utilities.utils import load_resource

log = logging.getLogger(__name__)

STREAM_RETENTION = timedelta(hours=24)
DYNAMODB_FILE = "dynamodb.sqlite"
COGNITO_FILE = "cognito.pickle"
_COGNITO_KEY_RESOURCE = "cognitoidp/resources/jwks-private.json"
_COGNITO_KEY_ID = "moto-cognito-signing-key"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    scope TEXT NOT NULL, table_name TEXT NOT NULL, hash_key TEXT NOT NULL, range_key TEXT NOT NULL,
    item TEXT NOT NULL, PRIMARY KEY (scope, table_name, hash_key, range_key));
CREATE TABLE IF NOT EXISTS stream_records (
    scope TEXT NOT NULL, table_name TEXT NOT NULL, sequence_number TEXT NOT NULL, created TEXT NOT NULL,
    record BLOB NOT NULL, PRIMARY KEY (scope, table_name, sequence_number));
CREATE TABLE IF NOT EXISTS sequences (
    scope TEXT NOT NULL, table_name TEXT NOT NULL, next_sequence_number TEXT NOT NULL,
    PRIMARY KEY (scope, table_name));
"""
ItemKey = tuple[DynamoDBBackend, str, DynamoType, "DynamoType | None"]


def _scope(backend: DynamoDBBackend) -> str:
    return f"{backend.account_id}/{backend.region_name}"


def _key_text(value: DynamoType | None) -> str:
    return "" if value is None else json.dumps(value.to_json(), sort_keys=True)


class DynamoDBState:
    """Items and stream records in SQLite. Not thread-safe by itself: the launcher calls it under the lock
    that serializes DynamoDB requests."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # A process crash loses nothing committed; only a machine crash could lose the last commits.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._dirty: set[ItemKey] = set()
        self._touched: set[DynamoDBBackend] = set()
        self._stream_written: dict[tuple[str, str], int] = {}

    def mark(self, backend: DynamoDBBackend, table_name: str, hash_key: DynamoType,
             range_key: DynamoType | None) -> None:
        """Notes an item that a request may have changed; :meth:`flush` writes it as it is then."""
        self._dirty.add((backend, table_name, hash_key, range_key))
        self._touched.add(backend)

    def flush(self) -> None:
        if not self._touched:
            return
        dirty, touched = self._dirty, self._touched
        self._dirty, self._touched = set(), set()
        with self._db:
            self._db.execute("BEGIN")
            for backend, table_name, hash_key, range_key in dirty:
                table = backend.tables.get(table_name)
                if table is not None:
                    self._write_item(_scope(backend), table, hash_key, range_key)
            for backend in touched:
                for table in list(backend.tables.values()):
                    self._write_stream_records(_scope(backend), table)

    def _write_item(self, scope: str, table: Table, hash_key: DynamoType, range_key: DynamoType | None) -> None:
        key = (scope, table.name, _key_text(hash_key), _key_text(range_key))
        item = table.get_item(hash_key, range_key)
        if item is None:
            self._db.execute("DELETE FROM items WHERE scope=? AND table_name=? AND hash_key=? AND range_key=?", key)
        else:
            self._db.execute("INSERT OR REPLACE INTO items VALUES (?, ?, ?, ?, ?)",
                             (*key, json.dumps(item.to_json()["Attributes"])))

    def _write_stream_records(self, scope: str, table: Table) -> None:
        shard = table.stream_shard
        if shard is None:
            return
        written = self._stream_written.get((scope, table.name), shard.starting_sequence_number - 1)
        new = shard.items[written - shard.starting_sequence_number + 1:]
        if not new:
            return
        self._db.executemany("INSERT OR REPLACE INTO stream_records VALUES (?, ?, ?, ?, ?)", [
            (scope, table.name, record.record["dynamodb"]["SequenceNumber"],
             record.record["dynamodb"]["ApproximateCreationDateTime"].isoformat(), pickle.dumps(record))
            for record in new])
        last = int(new[-1].record["dynamodb"]["SequenceNumber"])
        self._stream_written[(scope, table.name)] = last
        self._db.execute("INSERT OR REPLACE INTO sequences VALUES (?, ?, ?)", (scope, table.name, str(last + 1)))

    def restore(self, backend: DynamoDBBackend, table: Table) -> None:
        """Puts a table's items and its retained stream records back, without emitting any stream record."""
        scope = _scope(backend)
        count = 0
        for (text,) in self._db.execute("SELECT item FROM items WHERE scope=? AND table_name=?", (scope, table.name)):
            attributes = json.loads(text)
            hash_key = DynamoType(attributes[table.hash_key_attr])
            if table.range_key_attr is not None:
                range_key = DynamoType(attributes[table.range_key_attr])
                table.items[hash_key][range_key] = Item(hash_key, range_key, attributes)
            else:
                table.items[hash_key] = Item(hash_key, None, attributes)
            count += 1
        if table.stream_shard is not None:
            self._restore_stream(scope, table)
        if count:
            log.info("restored %d item(s) of %s", count, table.name)

    def _restore_stream(self, scope: str, table: Table) -> None:
        shard = table.stream_shard
        oldest = (datetime.now(timezone.utc) - STREAM_RETENTION).replace(tzinfo=None).isoformat()
        self._db.execute("DELETE FROM stream_records WHERE scope=? AND table_name=? AND created < ?",
                         (scope, table.name, oldest))
        rows = self._db.execute("SELECT record FROM stream_records WHERE scope=? AND table_name=?",
                                (scope, table.name)).fetchall()
        records: list[StreamRecord] = sorted((pickle.loads(blob) for (blob,) in rows),
                                             key=lambda record: int(record.record["dynamodb"]["SequenceNumber"]))
        next_row = self._db.execute("SELECT next_sequence_number FROM sequences WHERE scope=? AND table_name=?",
                                    (scope, table.name)).fetchone()
        if records:
            shard.starting_sequence_number = int(records[0].record["dynamodb"]["SequenceNumber"])
        elif next_row is not None:
            shard.starting_sequence_number = max(shard.starting_sequence_number, int(next_row[0]))
        shard.items = records
        self._stream_written[(scope, table.name)] = shard.starting_sequence_number + len(records) - 1

    def forget(self, backend: DynamoDBBackend, table_name: str) -> None:
        """A deleted table's items and stream records go; its next sequence number stays."""
        scope = _scope(backend)
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM items WHERE scope=? AND table_name=?", (scope, table_name))
            self._db.execute("DELETE FROM stream_records WHERE scope=? AND table_name=?", (scope, table_name))
        self._stream_written.pop((scope, table_name), None)
        self._dirty = {key for key in self._dirty if key[:2] != (backend, table_name)}


class _CognitoPickler(pickle.Pickler):
    """Leaves moto's signing key out (its RSA key object cannot be pickled); it is the same fixed key anyway."""

    def persistent_id(self, obj: Any) -> str | None:
        return _COGNITO_KEY_ID if isinstance(obj, jwk.RSAKey) else None


class _CognitoUnpickler(pickle.Unpickler):
    def persistent_load(self, pid: Any) -> Any:
        if pid != _COGNITO_KEY_ID:
            raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")
        return jwk.RSAKey.import_key(load_resource(_COGNITO_KEY_RESOURCE))


class CognitoState:
    """The user pools of every Cognito backend, in one pickle written whole (a crash leaves the previous one)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def save(self, backends: Iterable[CognitoIdpBackend]) -> None:
        state = {(backend.account_id, backend.region_name): backend.user_pools for backend in backends}
        with self._lock:
            partial = self.path.with_suffix(".tmp")
            with open(partial, "wb") as output:
                _CognitoPickler(output).dump(state)
            os.replace(partial, self.path)

    def load(self) -> dict[tuple[str, str], Any]:
        if not self.path.exists():
            return {}
        with open(self.path, "rb") as source:
            return _CognitoUnpickler(source).load()
