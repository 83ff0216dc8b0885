"""PostgreSQL going away mid-run, on a server of this test's own (the session's shared one stays up).

Stopped: a request that needs it is a 503 with ``Retry-After`` and writes nothing, while a warm container
still serves callers it has cached. Started again: the same warm container reconnects by itself. A backend
killed under the connection (``pg_terminate_backend``): the next query reconnects transparently. Hung (another
session holds a lock on ``users``): the statement timeout ends the wait in a 503 well before the function's
timeout, and once the lock is gone the same connection serves again.
"""
from __future__ import annotations

import copy
import time
from contextlib import contextmanager
from typing import Any, Iterator

import boto3
import psycopg2
import pytest

from cruddur_messaging.data.postgres import STATEMENT_TIMEOUT_MS
from devtools.environment import local_function_specs
from devtools.postgres import EmbeddedPostgres
from tests.support.api import assert_error, header, ok
from tests.support.calls import record_calls
from tests.support.client import Caller
from tests.support.containers import cold_start
from tests.support.events import load_event
from tests.support.people import ANDREW, BAYKO, LONDO
from tests.support.table import snapshot


@pytest.fixture(scope="module")
def outage_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    """Created once for the module (initdb is the slow part), stopped between tests."""
    server = EmbeddedPostgres(tmp_path_factory.mktemp("outage") / "pg").start().setup()
    server.stop()
    yield server
    server.stop()


@pytest.fixture
def own_postgres(aws, outage_server: EmbeddedPostgres) -> Iterator[EmbeddedPostgres]:
    outage_server.start()
    boto3.client("ssm", region_name=aws.resources.region).put_parameter(
        Name=aws.resources.database_url_parameter, Value=outage_server.database_url, Type="SecureString",
        Overwrite=True)
    cold_start()
    yield outage_server
    cold_start()  # drop the container's connection before the server goes
    outage_server.stop()


def messaging_backends(server: EmbeddedPostgres) -> list[int]:
    connection = psycopg2.connect(server.admin_url)
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE application_name = 'cruddur-messaging'")
            return [pid for (pid,) in cursor.fetchall()]
    finally:
        connection.close()


def terminate(server: EmbeddedPostgres, pids: list[int]) -> None:
    connection = psycopg2.connect(server.admin_url)
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            for pid in pids:
                cursor.execute("SELECT pg_terminate_backend(%s)", (pid,))
                assert cursor.fetchone() == (True,)
    finally:
        connection.close()


def test_stop_then_start_again(aws, own_postgres, monkeypatch) -> None:
    andrew, bayko = Caller(aws, ANDREW), Caller(aws, BAYKO)
    group = andrew.start_conversation("londo", "Before the outage")  # warm: andrew cached, connection open
    ok(andrew.list_groups())

    own_postgres.stop()
    before = snapshot(aws.table)
    # Needs the recipient's row: 503, nothing written.
    assert_error(andrew.send("During the outage", handle="bayko"), 503, "dependency_unavailable")
    # Callers this container has not seen cannot be resolved.
    assert_error(bayko.list_groups(), 503, "dependency_unavailable")
    assert_error(Caller(aws, LONDO).send("Me neither", group=group), 503, "dependency_unavailable")
    assert_error(aws.invoke("UsersShortFunction", load_event("users-short")), 503, "dependency_unavailable")
    assert snapshot(aws.table) == before
    # A cached caller needs no PostgreSQL at all: reads and posts into a group go on.
    ok(andrew.list_groups())
    assert ok(andrew.send("Still here", group=group))["message"] == "Still here"

    own_postgres.start()
    calls = record_calls(monkeypatch)
    created = ok(andrew.send("After the outage", handle="bayko"))  # the same warm container reconnects
    assert calls.connections == 1
    again = ok(andrew.send("Once more", handle="bayko"))  # the recipient looked up again...
    assert again["message_group_uuid"] == created["message_group_uuid"]
    assert calls.sql == ["user_by_handle"] * 2 and calls.connections == 1  # ...on that one connection
    # Every other function has a container of its own (as in AWS), and each reconnects once by itself.
    assert ok(bayko.list_groups())[0]["uuid"] == created["message_group_uuid"]
    assert ok(aws.invoke("UsersShortFunction", load_event("users-short")))["handle"] == "bayko"
    assert ok(aws.invoke("UsersShortFunction", users_short_event("londo")))["handle"] == "londo"
    assert calls.connections == 3  # and keeps using that one connection


def users_short_event(handle: str) -> dict[str, Any]:
    event = copy.deepcopy(load_event("users-short"))
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/api/users/@{handle}/short"
    event["pathParameters"] = {"handle": f"@{handle}"}
    return event


def test_terminated_backend_reconnects_transparently(aws, own_postgres, monkeypatch) -> None:
    ok(aws.invoke("UsersShortFunction", load_event("users-short")))
    [old_backend] = messaging_backends(own_postgres)
    terminate(own_postgres, [old_backend])
    calls = record_calls(monkeypatch)
    assert ok(aws.invoke("UsersShortFunction", users_short_event("londo")))["handle"] == "londo"  # not cached
    assert calls.sql == ["user_by_handle"]  # one query as far as the caller can tell...
    assert calls.connections == 1  # ...run again on a new connection
    [new_backend] = messaging_backends(own_postgres)
    assert new_backend != old_backend


def test_cold_container_while_postgres_is_down_is_503(aws, own_postgres) -> None:
    own_postgres.stop()
    before = snapshot(aws.table)
    for event_name, function in [("list-groups", "ListGroupsFunction"), ("list-messages", "ListMessagesFunction"),
                                 ("create-message-into-group", "CreateMessageFunction"),
                                 ("create-message-new-conversation", "CreateMessageFunction")]:
        assert_error(aws.invoke(function, load_event(event_name)), 503, "dependency_unavailable")
    assert snapshot(aws.table) == before


@contextmanager
def users_locked(server: EmbeddedPostgres) -> Iterator[None]:
    """Another session holds an exclusive lock on ``users`` (a migration, a stuck transaction): every read of the
    table waits for it, however long that is."""
    connection = psycopg2.connect(server.database_url, application_name="lock-holder")
    try:
        with connection.cursor() as cursor:
            cursor.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        yield
    finally:
        connection.rollback()
        connection.close()


def test_hung_query_is_a_503_before_the_function_times_out(aws, own_postgres, monkeypatch) -> None:
    ok(aws.invoke("UsersShortFunction", load_event("users-short")))  # warm: the connection is open
    specs = local_function_specs(aws.resources, aws.stream_arn)
    before = snapshot(aws.table)
    with users_locked(own_postgres):
        for function, event in [("UsersShortFunction", users_short_event("londo")),  # a handle not cached
                                ("ListGroupsFunction", load_event("list-groups")),  # a caller not cached
                                ("CreateMessageFunction", load_event("create-message-new-conversation"))]:
            started = time.monotonic()
            response = aws.invoke(function, event)
            waited = time.monotonic() - started
            assert_error(response, 503, "dependency_unavailable")
            assert header(response, "Retry-After") == "2"
            # The server cancelled the statement: no retry doubled the wait, and Lambda never timed out.
            assert STATEMENT_TIMEOUT_MS / 1000 <= waited < min(2 * STATEMENT_TIMEOUT_MS / 1000,
                                                              specs[function].timeout_seconds)
    assert snapshot(aws.table) == before

    calls = record_calls(monkeypatch)
    assert ok(aws.invoke("UsersShortFunction", users_short_event("londo")))["handle"] == "londo"
    assert ok(aws.invoke("ListGroupsFunction", load_event("list-groups"))) == []  # resolved: no groups yet
    assert calls.connections == 0  # the same connection, usable again once the lock is gone
