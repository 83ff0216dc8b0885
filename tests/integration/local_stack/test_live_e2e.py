"""Live delivery end to end, with real sockets: ``make dev`` as a process of its own, two members and a stranger
connected to its WebSocket API with real Cognito tokens, messages sent and a conversation marked read over HTTP,
and what each socket receives checked for shape, order and recipient; bad tokens refused at the handshake; the
management API's 410."""
from __future__ import annotations

import json
import time
from typing import Any, Callable

import boto3
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from cruddur_messaging.data import keys
from devtools.local_stack.cognito import PoolUser, add_user
from devtools.local_stack.launch import RunningStack
from tests.integration.local_stack.test_local_stack_e2e import cognito, post, sign_in

FRAME_TIMEOUT_SECONDS = 10
QUIET_SECONDS = 1.5
"""How long a socket that must get nothing is watched after the others got their frames."""


@pytest.fixture(scope="module")
def tokens(stack: RunningStack) -> dict[str, str]:
    return {handle: sign_in(stack.info, handle)["AccessToken"] for handle in ("andrewbrown", "bayko", "londo")}


def open_socket(stack: RunningStack, token: str, *, as_subprotocol: bool = True) -> ClientConnection:
    if as_subprotocol:
        return connect(stack.info.websocket_url, subprotocols=["cruddur.v1", token], open_timeout=20)
    return connect(f"{stack.info.websocket_url}?access_token={token}", open_timeout=20)


def frames(socket: ClientConnection, count: int = 1,
           until: Callable[[list[dict[str, Any]]], bool] | None = None) -> list[dict[str, Any]]:
    """The next ``count`` frames, or the frames until ``until`` holds for them."""
    received: list[dict[str, Any]] = []
    deadline = time.monotonic() + FRAME_TIMEOUT_SECONDS
    while not (until(received) if until else len(received) >= count):
        received.append(json.loads(socket.recv(timeout=max(0.01, deadline - time.monotonic()))))
    return received


def nothing_arrives(socket: ClientConnection) -> bool:
    try:
        socket.recv(timeout=QUIET_SECONDS)
    except TimeoutError:
        return True
    return False


def refusal_status(stack: RunningStack, **arguments: Any) -> int:
    url = arguments.pop("url", stack.info.websocket_url)
    with pytest.raises(InvalidStatus) as refused:
        connect(url, open_timeout=20, **arguments)
    assert json.loads(bytes(refused.value.response.body)) == {"message": "Unauthorized"}
    return refused.value.response.status_code


def test_both_members_see_each_message_and_read_live_and_a_stranger_sees_nothing(stack, tokens) -> None:
    info = stack.info
    group = info.seed_message_group_uuid
    with open_socket(stack, tokens["andrewbrown"]) as andrew, \
            open_socket(stack, tokens["bayko"], as_subprotocol=False) as bayko, \
            open_socket(stack, tokens["londo"]) as londo:
        assert andrew.subprotocol == "cruddur.v1" and londo.subprotocol == "cruddur.v1"
        assert bayko.subprotocol is None  # no subprotocol offered, none selected

        # The stream function may still be counting the seeded conversation's unread messages: its list updates
        # can arrive at any time, so the answers are picked out of what arrives.
        andrew.send(json.dumps({"action": "ping"}))
        assert {"type": "pong"} in frames(andrew, until=lambda received: {"type": "pong"} in received)
        andrew.send(json.dumps({"action": "subscribe"}))
        errors = [frame for frame in frames(andrew, until=lambda received: any(
            frame["type"] == "error" for frame in received)) if frame["type"] == "error"]
        assert errors[0]["code"] == "unknown_action"  # and the connection stays open

        sent = []
        for text in ("Did you get this?", "And this?", "And this one too?"):
            body = {"message": text, "message_group_uuid": group}
            response = post(info, "/api/messages", tokens["andrewbrown"], body)
            assert response.status_code == 200, stack.logs()
            sent.append(response.json())

        def all_sent_and_the_list_at_the_last(received: list[dict[str, Any]]) -> bool:
            created = [frame for frame in received if frame["type"] == "message.created"]
            updates = [frame for frame in received if frame["type"] == "conversation.updated"]
            return len(created) >= len(sent) and any(
                update["conversation"]["created_at"] == sent[-1]["created_at"] for update in updates)

        for socket, other in ((andrew, "bayko"), (bayko, "andrewbrown")):
            # The list moves once per stream batch (coalesced), so there may be fewer updates than messages.
            received = frames(socket, until=all_sent_and_the_list_at_the_last)
            created = [frame for frame in received if frame["type"] == "message.created"]
            assert created == [{"type": "message.created", "message_group_uuid": group, "message": message}
                               for message in sent]  # shape, and the conversation's order
            updates = [frame["conversation"] for frame in received if frame["type"] == "conversation.updated"]
            assert updates and all(update["uuid"] == group and update["handle"] == other for update in updates)
            assert updates[-1]["message"] == sent[-1]["message"]
            assert updates[-1]["created_at"] == sent[-1]["created_at"]
            assert set(updates[-1]) == {"uuid", "display_name", "handle", "message", "created_at", "unread_count",
                                        "last_read_at", "version"}
            versions = [update["version"] for update in updates]
            assert versions == sorted(versions) and versions[0] > 0  # each change of the row raises it

        # bayko reads them: andrew's socket is told ("Seen"), bayko's own gets the list item read, londo nothing.
        response = post(info, f"/api/message_groups/{group}/read", tokens["bayko"], {})
        assert response.status_code == 200, stack.logs()
        assert response.json()["last_read_at"] == sent[-1]["created_at"]
        seen = {"type": "read", "message_group_uuid": group, "handle": "bayko", "last_read_at": sent[-1]["created_at"]}
        assert seen in frames(andrew, until=lambda received: seen in received)
        bayko_frames = frames(bayko, until=lambda received: any(
            frame["type"] == "conversation.updated" and frame["conversation"]["unread_count"] == 0
            and frame["conversation"]["last_read_at"] == sent[-1]["created_at"] for frame in received))
        assert not [frame for frame in bayko_frames if frame["type"] == "read" and frame["handle"] == "bayko"]
        assert nothing_arrives(londo)


def test_bad_tokens_are_refused_at_the_handshake(stack, tokens) -> None:
    info = stack.info
    assert refusal_status(stack) == 401  # no token at all
    assert refusal_status(stack, subprotocols=["cruddur.v1", "not-a-token"]) == 401
    id_token = sign_in(info, "bayko")["IdToken"]
    assert refusal_status(stack, subprotocols=["cruddur.v1", id_token]) == 401
    forged = tokens["bayko"][:-4] + ("AAAA" if not tokens["bayko"].endswith("AAAA") else "BBBB")
    assert refusal_status(stack, url=f"{info.websocket_url}?access_token={forged}") == 401


def test_a_closed_connection_is_forgotten_and_the_management_api_answers_410(stack, tokens) -> None:
    info = stack.info
    table = boto3.resource("dynamodb", endpoint_url=info.aws_endpoint_url, region_name=info.region,
                           aws_access_key_id="testing", aws_secret_access_key="testing").Table(info.table_name)
    londo = info.user("londo")

    def connection_ids() -> list[str]:
        return [item["sk"] for item in table.query(
            KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": keys.connections_pk(londo.uuid)},
            ConsistentRead=True)["Items"]]

    # Another test's londo socket may still be on its way out ($disconnect runs after its close), so this
    # connection is the one that was not there before.
    before = set(connection_ids())
    with open_socket(stack, tokens["londo"]):
        [connection_id] = set(connection_ids()) - before
        management = boto3.client("apigatewaymanagementapi", region_name=info.region,
                                  endpoint_url=f"http://127.0.0.1:{stack.environment['CRUDDUR_WS_MANAGEMENT_PORT']}/live",
                                  aws_access_key_id="testing", aws_secret_access_key="testing")
        assert management.get_connection(ConnectionId=connection_id)["Identity"]["SourceIp"] == "127.0.0.1"
    deadline = time.monotonic() + FRAME_TIMEOUT_SECONDS
    while connection_id in connection_ids():  # $disconnect runs once the socket is gone
        assert time.monotonic() < deadline, "the connection was not forgotten"
        time.sleep(0.1)
    with pytest.raises(management.exceptions.GoneException):
        management.post_to_connection(ConnectionId=connection_id, Data=b"{}")



def test_a_cognito_user_without_a_cruddur_row_is_refused_with_403(stack) -> None:
    """The authorizer admits the valid token, finds no user for its ``sub`` in PostgreSQL and says so in its
    context; ``$connect`` refuses the handshake with that 403 and records nothing (``domain.live_callers``)."""
    info = stack.info
    newcomer = add_user(cognito(info), info.user_pool_id,
                        PoolUser(handle="newcomer", display_name="New Comer", email="newcomer@example.com"))
    token = cognito(info).initiate_auth(ClientId=info.user_pool_client_id, AuthFlow="USER_PASSWORD_AUTH",
                                        AuthParameters={"USERNAME": newcomer.username,
                                                        "PASSWORD": newcomer.password})["AuthenticationResult"]
    with pytest.raises(InvalidStatus) as refused:
        connect(info.websocket_url, subprotocols=["cruddur.v1", token["AccessToken"]], open_timeout=20)
    assert refused.value.response.status_code == 403
    assert json.loads(bytes(refused.value.response.body)) == {"message": "This account has no Cruddur user."}
