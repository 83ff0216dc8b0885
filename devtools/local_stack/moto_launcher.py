"""``python -m devtools.local_stack.moto_launcher``: moto's server as the local stack runs it.

``moto.server`` with five changes, made in this process before it serves anything:

- DynamoDB and DynamoDB Streams requests are served one at a time (moto's models are not safe under concurrent
  requests: a transaction could be seen half applied, or undo another request's write);
- transactions roll back item by item (``moto_transactions``): their cost no longer grows with the table;
- the data operations' answers are serialized as plain JSON (``moto_responses``), about 3.5x faster per ``Query``;
- a table query reads only its partition, not the whole table sorted (``moto_queries``);
- with ``--state-dir``, DynamoDB items and stream records and the Cognito user pools are kept on disk after
  every request that may have changed them, and come back on the next start (``moto_state``).
"""
from __future__ import annotations

import argparse
import functools
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Iterable

from moto.cognitoidp.models import cognitoidp_backends
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple

from devtools.local_stack import moto_queries, moto_responses, moto_transactions
from devtools.local_stack.moto_state import COGNITO_FILE, DYNAMODB_FILE, CognitoState, DynamoDBState

log = logging.getLogger(__name__)

_DYNAMODB_TARGETS = ("DynamoDB_", "DynamoDBStreams_")
_COGNITO_TARGET = "AWSCognitoIdentityProviderService."
_COGNITO_READS = ("Describe", "List", "Get", "AdminGet")
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class StatefulApplication:
    """Wraps moto's WSGI application: serializes DynamoDB requests and saves state after each request."""

    def __init__(self, app: WsgiApp, dynamodb: DynamoDBState | None, cognito: CognitoState | None) -> None:
        self.app = app
        self.dynamodb = dynamodb
        self.cognito = cognito
        self.dynamodb_lock = threading.RLock()
        self.cognito_lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target.startswith(_DYNAMODB_TARGETS):
            with self.dynamodb_lock:
                # moto builds the whole response in this call; the state is saved before it is sent.
                response = self.app(environ, start_response)
                if self.dynamodb is not None:
                    self.dynamodb.flush()
                return response
        if target.startswith(_COGNITO_TARGET):
            with self.cognito_lock:
                response = self.app(environ, start_response)
                action = target[len(_COGNITO_TARGET):]
                if self.cognito is not None and not action.startswith(_COGNITO_READS):
                    self.cognito.save(_loaded_cognito_backends())
                return response
        return self.app(environ, start_response)


def _loaded_cognito_backends() -> list[Any]:
    return [backend for regions in cognitoidp_backends.values() for backend in regions.values()]


def _track_item_writes(state: DynamoDBState) -> None:
    """Tells ``state`` which item each write touched (transactions and batches go through these three)."""
    def key_of(backend: DynamoDBBackend, table_name: str, key: dict[str, Any]) -> tuple[Any, Any] | None:
        try:
            return backend.get_keys_value(backend.get_table(table_name), key)
        except Exception:  # noqa: BLE001 - an invalid key fails the write itself; nothing to track
            return None

    def tracked(write: Callable[..., Any], key_argument: Callable[[Table, Any], dict[str, Any]]) -> Callable[..., Any]:
        @functools.wraps(write)
        def wrapper(backend: DynamoDBBackend, table_name: str, item_or_key: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return write(backend, table_name, item_or_key, *args, **kwargs)
            finally:
                table = backend.tables.get(table_name)
                key = key_of(backend, table_name, key_argument(table, item_or_key)) if table else None
                if key is not None:
                    state.mark(backend, table_name, *key)
        return wrapper

    def item_key(table: Table, attributes: dict[str, Any]) -> dict[str, Any]:
        names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
        return {name: attributes[name] for name in names if name in attributes}

    DynamoDBBackend.put_item = tracked(DynamoDBBackend.put_item, item_key)  # type: ignore[method-assign]
    DynamoDBBackend.update_item = tracked(DynamoDBBackend.update_item, lambda _, key: key)  # type: ignore[method-assign]
    DynamoDBBackend.delete_item = tracked(DynamoDBBackend.delete_item, lambda _, key: key)  # type: ignore[method-assign]


def _restore_tables_when_created(state: DynamoDBState) -> None:
    create_table, delete_table = DynamoDBBackend.create_table, DynamoDBBackend.delete_table

    @functools.wraps(create_table)
    def create(backend: DynamoDBBackend, name: str, *args: Any, **kwargs: Any) -> Table:
        table = create_table(backend, name, *args, **kwargs)
        state.restore(backend, table)
        return table

    @functools.wraps(delete_table)
    def delete(backend: DynamoDBBackend, name: str) -> Table:
        table = delete_table(backend, name)
        state.forget(backend, name)
        return table

    DynamoDBBackend.create_table = create  # type: ignore[method-assign]
    DynamoDBBackend.delete_table = delete  # type: ignore[method-assign]


def _restore_cognito(state: CognitoState) -> None:
    for (account_id, region), pools in state.load().items():
        cognitoidp_backends[account_id][region].user_pools = pools
        log.info("restored %d Cognito user pool(s) in %s", len(pools), region)


def build_application(state_dir: Path | None) -> StatefulApplication:
    moto_transactions.install()
    moto_responses.install()
    moto_queries.install()
    dynamodb = cognito = None
    if state_dir is not None:
        state_dir.mkdir(parents=True, exist_ok=True)
        dynamodb = DynamoDBState(state_dir / DYNAMODB_FILE)
        cognito = CognitoState(state_dir / COGNITO_FILE)
        _track_item_writes(dynamodb)
        _restore_tables_when_created(dynamodb)
        _restore_cognito(cognito)
    return StatefulApplication(DomainDispatcherApplication(create_backend_app), dynamodb, cognito)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devtools.local_stack.moto_launcher", description=__doc__)
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    parser.add_argument("--state-dir", type=Path, help="keep DynamoDB and Cognito state here (default: memory only)")
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s")
    os.environ.setdefault("MOTO_PORT", str(arguments.port))  # as moto.server does: its URLs (SQS) name the port
    application = build_application(arguments.state_dir)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    run_simple(arguments.host, arguments.port, application, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
