"""Blocking end to end on the local stack (issue 22): ``make dev`` as a process of its own, real HTTP and WebSocket
clients. bayko blocks andrewbrown; andrewbrown's sends into their conversation and by handle, and his new
conversation with londo (who blocks him too), are refused; nothing is stored (the table is read), no frame reaches
bayko's socket and his unread counts do not move; after unblocking, sending works and arrives live."""
from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest
import requests
from boto3.dynamodb.conditions import Key

from cruddur_messaging.data import keys
from devtools.local_stack.launch import RunningStack
from tests.integration.local_stack.test_live_e2e import QUIET_SECONDS, frames, open_socket
from tests.integration.local_stack.test_local_stack_e2e import get, post, sign_in


@pytest.fixture(scope="module")
def tokens(stack: RunningStack) -> dict[str, str]:
    return {handle: sign_in(stack.info, handle)["AccessToken"] for handle in ("andrewbrown", "bayko", "londo")}


def block(stack: RunningStack, token: str, handle: str, method: str = "POST") -> requests.Response:
    return requests.request(method, f"{stack.info.api_url}/api/users/@{handle}/block", timeout=20,
                            headers={"Authorization": f"Bearer {token}"})


def items(stack: RunningStack, pk: str) -> list[dict[str, Any]]:
    info = stack.info
    table = boto3.resource("dynamodb", endpoint_url=info.aws_endpoint_url, region_name=info.region,
                           aws_access_key_id="testing", aws_secret_access_key="testing").Table(info.table_name)
    return table.query(KeyConditionExpression=Key("pk").eq(pk), ConsistentRead=True)["Items"]


def quiet_for_messages(socket: Any) -> list[dict[str, Any]]:
    """Whatever arrives in the quiet period; the caller checks none of it is a message."""
    received = []
    deadline = time.monotonic() + QUIET_SECONDS
    while (left := deadline - time.monotonic()) > 0:
        try:
            received.append(json.loads(socket.recv(timeout=left)))
        except TimeoutError:
            break
    return received


def refused(response: requests.Response, code: str) -> bool:
    return response.status_code == 403 and response.json()["code"] == code


def test_a_block_refuses_sends_stores_nothing_sends_no_frame_and_unblocking_restores(stack, tokens) -> None:
    info = stack.info
    group = info.seed_message_group_uuid
    andrew, bayko, londo = info.user("andrewbrown"), info.user("bayko"), info.user("londo")
    with open_socket(stack, tokens["bayko"]) as bayko_socket:
        # A message first, so that bayko's list and counts have settled on it before the block.
        warm = post(info, "/api/messages", tokens["andrewbrown"], {"message": "Before", "message_group_uuid": group})
        assert warm.status_code == 200, stack.logs()
        frames(bayko_socket, until=lambda received: any(
            frame["type"] == "conversation.updated" and frame["conversation"]["created_at"] == warm.json()["created_at"]
            for frame in received))
        badge = get(info, "/api/message_groups/unread", tokens["bayko"]).json()
        stored = items(stack, keys.messages_pk(group))

        blocked = block(stack, tokens["bayko"], "andrewbrown")
        assert blocked.status_code == 200 and blocked.json() == {
            "handle": "andrewbrown", "display_name": andrew.display_name, "blocked": True}
        assert block(stack, tokens["londo"], "andrewbrown").status_code == 200
        assert get(info, "/api/blocks", tokens["bayko"]).json() == [
            {"handle": "andrewbrown", "display_name": andrew.display_name}]

        assert refused(post(info, "/api/messages", tokens["andrewbrown"],
                            {"message": "Into the group", "message_group_uuid": group}), "recipient_unavailable")
        assert refused(post(info, "/api/messages", tokens["andrewbrown"], {"message": "By handle", "handle": "bayko"}),
                       "recipient_unavailable")
        assert refused(post(info, "/api/messages", tokens["andrewbrown"], {"message": "A new one", "handle": "londo"}),
                       "recipient_unavailable")
        assert refused(post(info, "/api/messages", tokens["bayko"],
                            {"message": "Last word", "message_group_uuid": group}), "user_blocked")

        assert items(stack, keys.messages_pk(group)) == stored  # nothing stored
        assert items(stack, keys.pair_pk(andrew.uuid, londo.uuid)) == [
            {**keys.pair_block_key(londo.uuid, andrew.uuid), "blocker_uuid": londo.uuid, "blocked_uuid": andrew.uuid,
             "created_at": items(stack, keys.blocks_pk(londo.uuid))[0]["created_at"]}]  # the block only: no group
        assert not [frame for frame in quiet_for_messages(bayko_socket) if frame["type"] == "message.created"
                    and frame["message"]["uuid"] != warm.json()["uuid"]]  # (its frame may come after its list's)
        assert get(info, "/api/message_groups/unread", tokens["bayko"]).json() == badge
        assert len(get(info, f"/api/messages/{group}", tokens["bayko"]).json()) > 0  # bayko still reads it

        assert block(stack, tokens["bayko"], "andrewbrown", "DELETE").json()["blocked"] is False
        assert block(stack, tokens["londo"], "andrewbrown", "DELETE").status_code == 200
        assert items(stack, keys.blocks_pk(bayko.uuid)) == []
        after = post(info, "/api/messages", tokens["andrewbrown"], {"message": "After", "message_group_uuid": group})
        assert after.status_code == 200, stack.logs()
        frames(bayko_socket, until=lambda received: any(
            frame["type"] == "message.created" and frame["message"]["uuid"] == after.json()["uuid"]
            for frame in received))
        assert post(info, "/api/messages", tokens["andrewbrown"], {"message": "Hello", "handle": "londo"}
                    ).status_code == 200
