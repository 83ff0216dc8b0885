"""The WebSocket API's routes (``LiveConnectionFunction``): connections recorded in the caller's own partition with
a TTL, a bounded number per user (the oldest closed past it), forgotten at ``$disconnect``; client frames
answered; ``cruddur.v1`` selected only when offered."""
from __future__ import annotations

import json
import time
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone
from http import HTTPStatus

import psycopg2
import pytest

from cruddur_messaging.config import ConfigurationError, LiveSettings, management_endpoint_of
from cruddur_messaging.data import keys
from cruddur_messaging.data.connection_gateway import CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS
from cruddur_messaging.data.connections import ConnectionStore
from cruddur_messaging.errors import DependencyUnavailable, Forbidden
from cruddur_messaging.models import LiveConnection
from tests.support.containers import cold_start
from tests.support.live import (
    CONNECTION_FUNCTION,
    answering_management_api,
    client_frame_event,
    connect_event,
    disconnect_event,
)
from tests.support.people import ANDREW, BAYKO, LONDO
from tests.support.table import query_all


def connection_items(aws, person) -> list[dict]:
    return query_all(aws.table, keys.connections_pk(person.uuid))


def test_connect_records_the_connection_in_the_callers_partition_with_a_ttl(live) -> None:
    before = time.time()
    response = live.invoke(CONNECTION_FUNCTION, connect_event(ANDREW, "conn-1"))

    assert response == {"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": "cruddur.v1"}}
    [item] = connection_items(live, ANDREW)
    assert (item["pk"], item["sk"], item["connection_id"], item["user_uuid"]) == (
        f"CONN#{ANDREW.uuid}", "conn-1", "conn-1", ANDREW.uuid)
    connected_at = datetime.fromisoformat(item["connected_at"])
    assert before - 1 <= connected_at.timestamp() <= time.time() + 1 and connected_at.tzinfo == timezone.utc
    # API Gateway closes a connection after two hours: the item expires a few minutes after that.
    assert 2 * 3600 <= int(item["expiration"]) - connected_at.timestamp() <= 2 * 3600 + 600
    assert connection_items(live, BAYKO) == []


def test_the_subprotocol_is_selected_only_when_offered(live) -> None:
    without = live.invoke(CONNECTION_FUNCTION, connect_event(ANDREW, "query-token-client", subprotocols=None))
    assert without == {"statusCode": 200, "headers": {}}
    other = live.invoke(CONNECTION_FUNCTION, connect_event(ANDREW, "other", subprotocols="graphql-ws"))
    assert other["headers"] == {}


@pytest.mark.parametrize("refusal", [
    Forbidden("This account has no Cruddur user.", code="caller_not_registered"),
    DependencyUnavailable("The user directory is temporarily unavailable."),
], ids=["unregistered", "database-down"])
def test_a_caller_the_authorizer_could_not_resolve_is_refused_with_its_answer(live, refusal) -> None:
    """The authorizer admits the token and says in its context why there is no user (``domain.live_callers``)."""
    event = connect_event(ANDREW, "conn-x")
    authorizer = event["requestContext"]["authorizer"]
    del authorizer["user_uuid"]
    authorizer.update(refusal_status=str(refusal.status), refusal_code=refusal.code, refusal_message=refusal.message)
    response = live.invoke(CONNECTION_FUNCTION, event)
    assert (response["statusCode"], json.loads(response["body"])) == (refusal.status, {"message": refusal.message})
    assert connection_items(live, ANDREW) == []


def test_without_a_user_in_the_authorizers_context_nothing_is_recorded(live) -> None:
    event = connect_event(ANDREW, "conn-x")
    del event["requestContext"]["authorizer"]["user_uuid"]
    assert live.invoke(CONNECTION_FUNCTION, event)["statusCode"] == 401
    assert live.invoke(CONNECTION_FUNCTION, {**event, "requestContext": {
        **event["requestContext"], "routeKey": "$disconnect", "eventType": "DISCONNECT"}}) == {"statusCode": 200}
    assert connection_items(live, ANDREW) == []


def test_no_route_touches_postgresql(live, connections, monkeypatch) -> None:
    """The caller is the authorizer's: with PostgreSQL and its parameter out of reach, every route still works."""
    def unreachable(*args, **kwargs):
        raise AssertionError("LiveConnectionFunction connected to PostgreSQL")

    monkeypatch.setattr(psycopg2, "connect", unreachable)
    monkeypatch.delenv("DATABASE_URL_PARAMETER")
    cold_start()
    assert live.invoke(CONNECTION_FUNCTION, connect_event(BAYKO, connections.open("b-1")))["statusCode"] == 200
    assert live.invoke(CONNECTION_FUNCTION, client_frame_event('{"action": "ping"}'))["statusCode"] == 200
    assert live.invoke(CONNECTION_FUNCTION, disconnect_event(BAYKO, "b-1")) == {"statusCode": 200}
    assert connection_items(live, BAYKO) == []


def test_past_the_bound_the_oldest_connections_are_closed_and_forgotten(live, connections, monkeypatch) -> None:
    monkeypatch.setenv("LIVE_CONNECTIONS_PER_USER", "3")
    opened = [connections.open(f"tab-{number}") for number in range(5)]
    for connection_id in opened:
        assert live.invoke(CONNECTION_FUNCTION, connect_event(ANDREW, connection_id))["statusCode"] == 200
        time.sleep(0.002)  # distinct connected_at

    assert sorted(item["sk"] for item in connection_items(live, ANDREW)) == ["tab-2", "tab-3", "tab-4"]
    assert connections.closed == ["tab-0", "tab-1"]  # through the management API's DELETE, oldest first
    # Each is told first, so that its client does not reconnect (DeleteConnection closes with 1000, as any close).
    evicted = {"type": "evicted", "code": 4001, "reason": "replaced by a newer connection"}
    assert connections.frames["tab-0"] == connections.frames["tab-1"] == [evicted]
    assert connections.history == [("tab-0", "evicted"), ("tab-0", "close"), ("tab-1", "evicted"), ("tab-1", "close")]
    live.invoke(CONNECTION_FUNCTION, connect_event(LONDO, "londo-1"))
    assert len(connection_items(live, LONDO)) == 1  # the bound is per user


def test_an_evicted_connection_that_is_already_gone_is_forgotten_too(live, connections, monkeypatch) -> None:
    monkeypatch.setenv("LIVE_CONNECTIONS_PER_USER", "1")
    live.invoke(CONNECTION_FUNCTION, connect_event(ANDREW, "vanished"))  # never opened in the registry: a 410
    assert live.invoke(CONNECTION_FUNCTION, connect_event(ANDREW, connections.open("new")))["statusCode"] == 200
    assert [item["sk"] for item in connection_items(live, ANDREW)] == ["new"]
    assert connections.closed == [] and connections.attempts == {}  # its post answered 410: not closed again


@pytest.mark.parametrize("answer", ["forbidden", "unreachable", "timeout"])
def test_eviction_is_best_effort_whatever_the_management_api_answers(live, monkeypatch, capsys, caplog,
                                                                      answer) -> None:
    """403 (an execute-api VPC endpoint with private DNS answers it for public APIs), an endpoint that refuses
    connections, one that answers after the read timeout: the new connection is admitted all the same and the
    oldest forgotten, with a warning (the error only) and a metric. The evicted frame not taken, the close is
    still tried: one attempt each."""
    monkeypatch.setenv("LIVE_CONNECTIONS_PER_USER", "1")
    with ExitStack() as stack:
        if answer == "unreachable":
            endpoint = "http://127.0.0.1:9"  # discard port: connection refused
        else:
            server = stack.enter_context(answering_management_api(
                *((HTTPStatus.FORBIDDEN, "ForbiddenException", 0) if answer == "forbidden" else
                  (HTTPStatus.OK, "", READ_TIMEOUT_SECONDS + 1))))
            endpoint = server.url
        monkeypatch.setenv("WEBSOCKET_API_ENDPOINT", endpoint)
        assert live.invoke(CONNECTION_FUNCTION, connect_event(ANDREW, "oldest"))["statusCode"] == 200
        capsys.readouterr()
        caplog.clear()
        started = time.monotonic()
        assert live.invoke(CONNECTION_FUNCTION, connect_event(ANDREW, "newest"))["statusCode"] == 200
        # One attempt of each call: the evicted frame, then the close.
        assert time.monotonic() - started < 2 * (READ_TIMEOUT_SECONDS + CONNECT_TIMEOUT_SECONDS) + 1
        if answer != "unreachable":
            assert [request.split()[0] for request in server.requests] == ["POST", "DELETE"]

    assert [item["sk"] for item in connection_items(live, ANDREW)] == ["newest"]
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    [metric] = [line for line in lines if "LiveEvictionsNotClosed" in line]
    assert (metric["LiveEvictionsNotClosed"], metric["LiveConnectionsEvicted"]) == ([1.0], [1.0])
    warnings = [vars(record) for record in caplog.records if record.levelname == "WARNING"]
    assert "a.b.c" not in caplog.text + json.dumps(lines)  # the event's token, never logged
    expected = {"forbidden": {"error_code": "ForbiddenException"}, "unreachable": {"error": "EndpointConnectionError"},
                "timeout": {"error": "ReadTimeoutError"}}[answer]
    assert any(expected.items() <= warning.items() for warning in warnings)
    assert any(warning["msg"] == "evicted connections forgotten without being closed" for warning in warnings)


def test_disconnect_forgets_only_that_connection(live) -> None:
    for connection_id in ("a", "b"):
        live.invoke(CONNECTION_FUNCTION, connect_event(ANDREW, connection_id))
    assert live.invoke(CONNECTION_FUNCTION, disconnect_event(ANDREW, "a")) == {"statusCode": 200}
    assert [item["sk"] for item in connection_items(live, ANDREW)] == ["b"]
    # Disconnecting twice (API Gateway retries) is harmless.
    assert live.invoke(CONNECTION_FUNCTION, disconnect_event(ANDREW, "a")) == {"statusCode": 200}


def test_ping_gets_pong_and_anything_else_an_error_frame(live) -> None:
    def answer(body):
        response = live.invoke(CONNECTION_FUNCTION, client_frame_event(body))
        assert response["statusCode"] == 200
        return json.loads(response["body"])

    assert answer('{"action": "ping"}') == {"type": "pong"}
    assert answer("not json") == {"type": "error", "code": "invalid_json", "message": "The frame is not valid JSON."}
    assert answer('{"action": "send", "message": "hi"}')["code"] == "unknown_action"
    assert answer("[1, 2]")["code"] == "invalid_frame"
    assert answer(None)["code"] == "invalid_frame"
    assert answer(json.dumps({"action": "ping", "pad": "x" * 5000}))["code"] == "invalid_frame"


def test_connections_past_their_ttl_are_not_delivered_to_before_dynamodb_removes_them(live) -> None:
    store = ConnectionStore(live.table)
    two_hours_ago = datetime.now(timezone.utc) - timedelta(hours=2, minutes=30)
    store.add(LiveConnection(ANDREW.uuid, "expired", two_hours_ago.isoformat()))
    store.add(LiveConnection(ANDREW.uuid, "current", datetime.now(timezone.utc).isoformat()))
    assert [connection.connection_id for connection in store.of_user(ANDREW.uuid)] == ["current"]
    assert len(connection_items(live, ANDREW)) == 2  # TTL deletes within days; reads must not wait for it


def test_the_management_endpoint_is_the_apis_host_under_the_stage() -> None:
    assert management_endpoint_of("wss://abc123.execute-api.eu-west-1.amazonaws.com", "live") == \
        "https://abc123.execute-api.eu-west-1.amazonaws.com/live"
    assert management_endpoint_of("http://127.0.0.1:3002/", "/live") == "http://127.0.0.1:3002/live"
    assert management_endpoint_of("ws://127.0.0.1:3002", "live") == "http://127.0.0.1:3002/live"
    with pytest.raises(ConfigurationError):
        management_endpoint_of("abc123.execute-api.eu-west-1.amazonaws.com", "live")
    with pytest.raises(ConfigurationError, match="LIVE_CONNECTIONS_PER_USER"):
        LiveSettings.from_environment({"WEBSOCKET_API_ENDPOINT": "wss://a", "WEBSOCKET_STAGE": "live",
                                       "LIVE_CONNECTIONS_PER_USER": "0"})
    with pytest.raises(ConfigurationError, match="WEBSOCKET_STAGE"):
        LiveSettings.from_environment({"WEBSOCKET_API_ENDPOINT": "wss://a"})
