"""The local WebSocket API plays API Gateway around real sockets: the template's routes and authorizer, the events
the functions get, how it reads their answers (401/403/500, a refused ``$connect``, the selected subprotocol, route
responses), ``$disconnect`` after a close, and the management API. The functions are scripted here; the real ones
run in the end-to-end test."""
from __future__ import annotations

import json
import threading
import time
from typing import Any, Callable, Iterator

import boto3
import pytest
from botocore.config import Config
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from devtools.environment import LocalResources, template_context
from devtools.local_stack.launch import free_port
from devtools.local_stack.websocket_api import SEND_TIMEOUT_SECONDS, LocalWebSocketApi, policy_allows
from devtools.template import WebSocketApiSpec, WebSocketRoute, load_template, websocket_api_spec
from tests.support.live import connect_and_stop_reading

SPEC = websocket_api_spec(load_template(), template_context(LocalResources(table_name="t")))
ALLOW = {"principalId": "user-sub", "context": {"sub": "user-sub", "nested": {"dropped": True}},
         "policyDocument": {"Version": "2012-10-17", "Statement": [
             {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "arn:aws:execute-api:*/live/*"}]}}


class Functions:
    """Scripted functions: each logical id answers with ``answers[id](event)``; every event is kept."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.answers: dict[str, Callable[[dict[str, Any]], Any]] = {
            "LiveAuthorizerFunction": lambda event: ALLOW,
            "LiveConnectionFunction": self._connection,
        }
        self.disconnected = threading.Event()

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        self.events.append((logical_id, event))
        return self.answers[logical_id](event)

    def _connection(self, event: dict[str, Any]) -> Any:
        route = event["requestContext"]["routeKey"]
        if route == "$connect":
            return {"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": "cruddur.v1"}}
        if route == "$disconnect":
            self.disconnected.set()
            return {"statusCode": 200}
        return {"statusCode": 200, "body": json.dumps({"echo": json.loads(event["body"])})}

    def of_route(self, route_key: str) -> list[dict[str, Any]]:
        return [event for logical_id, event in self.events
                if logical_id == "LiveConnectionFunction" and event["requestContext"]["routeKey"] == route_key]


@pytest.fixture
def functions() -> Functions:
    return Functions()


@pytest.fixture
def api(functions: Functions) -> Iterator[LocalWebSocketApi]:
    server = LocalWebSocketApi(SPEC, functions.invoke, "127.0.0.1", free_port(), free_port(), "us-east-1")
    server.start()
    yield server
    server.stop()


def url(api: LocalWebSocketApi, path: str = "") -> str:
    return f"ws://127.0.0.1:{api.port}{path}"


def refused(api: LocalWebSocketApi, **arguments: Any) -> tuple[int, Any]:
    with pytest.raises(InvalidStatus) as error:
        connect(url(api, arguments.pop("path", "")), open_timeout=10, **arguments)
    return error.value.response.status_code, json.loads(bytes(error.value.response.body))


def test_the_template_gives_the_routes_and_their_functions() -> None:
    assert SPEC.stage == "live" and SPEC.route_selection_expression == "$request.body.action"
    assert SPEC.routes == {
        "$connect": WebSocketRoute("$connect", "LiveConnectionFunction", "LiveAuthorizerFunction", False),
        "$disconnect": WebSocketRoute("$disconnect", "LiveConnectionFunction", None, False),
        "$default": WebSocketRoute("$default", "LiveConnectionFunction", None, True),
    }


def test_a_connection_gets_api_gateways_events_and_the_authorizers_context(api, functions) -> None:
    with connect(url(api, "/live?access_token=t0k&x=1"), subprotocols=["cruddur.v1", "t0k2"]) as socket:
        assert socket.subprotocol == "cruddur.v1"
        socket.send(json.dumps({"action": "ping"}))
        assert json.loads(socket.recv(timeout=5)) == {"echo": {"action": "ping"}}  # the route response
    assert functions.disconnected.wait(5)

    [(_, authorizer_event), *_] = functions.events
    assert authorizer_event["type"] == "REQUEST"
    assert authorizer_event["methodArn"].endswith(":local-websocket-api/live/$connect")
    assert authorizer_event["headers"]["Sec-WebSocket-Protocol"] == "cruddur.v1, t0k2"
    assert authorizer_event["queryStringParameters"] == {"access_token": "t0k", "x": "1"}
    [connected] = functions.of_route("$connect")
    [message] = functions.of_route("$default")
    [disconnected] = functions.of_route("$disconnect")
    connection_id = connected["requestContext"]["connectionId"]
    for event, event_type in ((connected, "CONNECT"), (message, "MESSAGE"), (disconnected, "DISCONNECT")):
        context = event["requestContext"]
        assert (context["eventType"], context["connectionId"], context["stage"]) == (event_type, connection_id, "live")
        # The authorizer's context, flattened to scalars, with its principal, on every route of the connection.
        assert context["authorizer"]["sub"] == "user-sub" and context["authorizer"]["principalId"] == "user-sub"
        assert "nested" not in context["authorizer"]
    assert message["body"] == '{"action": "ping"}' and "messageId" in message["requestContext"]
    assert disconnected["requestContext"]["disconnectStatusCode"] == 1000


def test_the_authorizers_answers_become_api_gateways_statuses(api, functions) -> None:
    def fail(message: str) -> Callable[[dict[str, Any]], Any]:
        def answer(event: dict[str, Any]) -> Any:
            raise RuntimeError(message)
        return answer

    functions.answers["LiveAuthorizerFunction"] = fail("Unauthorized")
    assert refused(api) == (401, {"message": "Unauthorized"})
    functions.answers["LiveAuthorizerFunction"] = fail("boom")
    assert refused(api) == (500, {"message": "Internal server error"})
    deny = {**ALLOW, "policyDocument": {"Statement": [{**ALLOW["policyDocument"]["Statement"][0], "Effect": "Deny"}]}}
    functions.answers["LiveAuthorizerFunction"] = lambda event: deny
    assert refused(api) == (403, {"message": "Forbidden"})
    assert functions.of_route("$connect") == []  # the integration never ran


def test_a_refusing_connect_integration_refuses_the_handshake(api, functions) -> None:
    functions.answers["LiveConnectionFunction"] = lambda event: {"statusCode": 403,
                                                                 "body": json.dumps({"message": "No user"})}
    assert refused(api) == (403, {"message": "No user"})


def test_no_subprotocol_is_selected_unless_connect_answers_one(api, functions) -> None:
    functions.answers["LiveConnectionFunction"] = lambda event: {"statusCode": 200}
    with connect(url(api)) as socket:
        assert socket.subprotocol is None


def test_other_paths_and_plain_requests_are_answered_in_json(api) -> None:
    assert refused(api, path="/other") == (404, {"message": "Not Found"})
    import requests

    response = requests.get(f"http://127.0.0.1:{api.port}/", timeout=5)
    assert (response.status_code, response.json()) == (426, {"message": "Upgrade Required"})


def test_the_management_api_posts_reads_and_closes_connections(api, functions) -> None:
    management = boto3.client("apigatewaymanagementapi", region_name="us-east-1",
                              endpoint_url=f"{api.management.url}/live", aws_access_key_id="local",
                              aws_secret_access_key="local")
    with connect(url(api), subprotocols=["cruddur.v1", "t"]) as socket:
        [connected] = functions.of_route("$connect")
        connection_id = connected["requestContext"]["connectionId"]
        management.post_to_connection(ConnectionId=connection_id, Data=b'{"type": "pong"}')
        assert socket.recv(timeout=5) == '{"type": "pong"}'  # a text frame
        identity = management.get_connection(ConnectionId=connection_id)["Identity"]
        assert identity["SourceIp"] == "127.0.0.1"
        management.delete_connection(ConnectionId=connection_id)
        assert functions.disconnected.wait(5)
    deadline = time.monotonic() + 5
    while True:
        try:
            management.post_to_connection(ConnectionId=connection_id, Data=b"{}")
        except management.exceptions.GoneException:
            break
        assert time.monotonic() < deadline
    with pytest.raises(management.exceptions.GoneException):
        management.get_connection(ConnectionId="never-was=")


def test_a_client_that_stops_reading_gets_429_as_from_api_gateway_and_no_send_waits_on_it(api, functions) -> None:
    management = boto3.client("apigatewaymanagementapi", region_name="us-east-1",
                              endpoint_url=f"{api.management.url}/live", aws_access_key_id="local",
                              aws_secret_access_key="local", config=Config(retries={"total_max_attempts": 1}))
    stuck = connect_and_stop_reading(url(api), "t")
    try:
        [connected] = functions.of_route("$connect")
        connection_id = connected["requestContext"]["connectionId"]
        frame = json.dumps({"type": "message.created", "pad": "x" * 2500}).encode()
        posted = 0
        with pytest.raises(management.exceptions.LimitExceededException) as limited:  # botocore reads the shape
            while posted < 1000:
                management.post_to_connection(ConnectionId=connection_id, Data=frame)
                posted += 1
        assert limited.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
        assert posted < 100  # a few tens of KB, not the megabytes a kernel buffer grows to
        # Full now: answered at once, without waiting for the socket.
        for _ in range(5):
            started = time.monotonic()
            with pytest.raises(management.exceptions.LimitExceededException):
                management.post_to_connection(ConnectionId=connection_id, Data=b"{}")
            assert time.monotonic() - started < SEND_TIMEOUT_SECONDS / 2
        started = time.monotonic()
        management.delete_connection(ConnectionId=connection_id)  # does not wait for the client either
        assert time.monotonic() - started < SEND_TIMEOUT_SECONDS
        with pytest.raises(management.exceptions.GoneException):
            management.get_connection(ConnectionId=connection_id)
    finally:
        stuck.close()


def test_policies_allow_only_what_they_name() -> None:
    arn = "arn:aws:execute-api:us-east-1:123456789012:api/live/$connect"
    allow = {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": arn}
    assert policy_allows({"Statement": [allow]}, arn)
    assert policy_allows({"Statement": allow}, arn)
    assert not policy_allows({"Statement": [{**allow, "Resource": arn.replace("live", "test")}]}, arn)
    assert not policy_allows({"Statement": [allow, {**allow, "Effect": "Deny"}]}, arn)
    assert not policy_allows({"Statement": [{**allow, "Action": "execute-api:ManageConnections"}]}, arn)
    assert not policy_allows(None, arn)


def test_a_template_without_a_websocket_api_has_no_spec() -> None:
    template = {"Resources": {name: resource for name, resource in load_template()["Resources"].items()
                              if not resource["Type"].startswith("AWS::ApiGatewayV2::")}}
    assert websocket_api_spec(template, {}) is None
    assert isinstance(SPEC, WebSocketApiSpec)
