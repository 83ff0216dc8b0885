"""Edit and delete end to end on the local stack (issue 21): ``make dev`` as a process of its own, real HTTP and
WebSocket clients. andrewbrown edits his newest message: bayko's page of the conversation, his list and his socket
show the edit; andrewbrown deletes it: bayko's socket gets the delete, the page shows a tombstone, both members'
previews fall back to the message before it, bayko's unread count and badge drop back, and the text is gone from
every answer and from the table; bayko cannot edit or delete andrewbrown's messages."""
from __future__ import annotations

import boto3
import pytest
import requests
from boto3.dynamodb.conditions import Key

from cruddur_messaging.data import keys
from devtools.local_stack.launch import RunningStack
from tests.integration.local_stack.test_live_e2e import frames, open_socket
from tests.integration.local_stack.test_local_stack_e2e import eventually, get, post, sign_in


@pytest.fixture(scope="module")
def tokens(stack: RunningStack) -> dict[str, str]:
    return {handle: sign_in(stack.info, handle)["AccessToken"] for handle in ("andrewbrown", "bayko")}


def change(stack: RunningStack, method: str, token: str, group: str, message_uuid: str,
           body: dict | None = None) -> requests.Response:
    return requests.request(method, f"{stack.info.api_url}/api/messages/{group}/{message_uuid}", json=body,
                            timeout=20, headers={"Authorization": f"Bearer {token}"})


def message_items(stack: RunningStack, group: str) -> list[dict]:
    info = stack.info
    table = boto3.resource("dynamodb", endpoint_url=info.aws_endpoint_url, region_name=info.region,
                           aws_access_key_id="testing", aws_secret_access_key="testing").Table(info.table_name)
    return table.query(KeyConditionExpression=Key("pk").eq(keys.messages_pk(group)), ConsistentRead=True)["Items"]


def list_item(stack: RunningStack, token: str, group: str) -> dict:
    [item] = [item for item in get(stack.info, "/api/message_groups", token).json() if item["uuid"] == group]
    return item


def table_items(stack: RunningStack) -> list[dict]:
    info = stack.info
    table = boto3.resource("dynamodb", endpoint_url=info.aws_endpoint_url, region_name=info.region,
                           aws_access_key_id="testing", aws_secret_access_key="testing").Table(info.table_name)
    return table.scan(ConsistentRead=True)["Items"]


def test_andrewbrown_edits_then_deletes_his_newest_message_and_bayko_sees_both(stack, tokens) -> None:
    info = stack.info
    group = info.seed_message_group_uuid
    andrew, bayko = tokens["andrewbrown"], tokens["bayko"]
    before = {token: list_item(stack, token, group) for token in (andrew, bayko)}
    badge_before = get(info, "/api/message_groups/unread", bayko).json()
    with open_socket(stack, bayko) as bayko_socket:
        sent = post(info, "/api/messages", andrew, {"message": "Meet at the Zocalo at 8", "message_group_uuid": group})
        assert sent.status_code == 200, stack.logs()
        sent = sent.json()
        frames(bayko_socket, until=lambda received: any(
            frame["type"] == "message.created" and frame["message"]["uuid"] == sent["uuid"] for frame in received))

        assert change(stack, "PATCH", bayko, group, sent["uuid"], {"message": "Mine"}).json()["code"] == "not_sender"
        edited = change(stack, "PATCH", andrew, group, sent["uuid"], {"message": "Meet at the Zocalo at 9"})
        assert edited.status_code == 200, stack.logs()
        edited = edited.json()
        assert (edited["uuid"], edited["message"], edited["created_at"]) == (sent["uuid"], "Meet at the Zocalo at 9",
                                                                            sent["created_at"])
        updated = frames(bayko_socket, until=lambda received: any(
            frame["type"] == "message.updated" for frame in received))[-1]
        assert updated == {"type": "message.updated", "message_group_uuid": group, "message": edited}
        assert get(info, f"/api/messages/{group}", bayko).json()[-1] == edited
        eventually(lambda: list_item(stack, bayko, group)["message"] == "Meet at the Zocalo at 9")
        assert list_item(stack, bayko, group)["unread_count"] == before[bayko]["unread_count"] + 1

        deleted = change(stack, "DELETE", andrew, group, sent["uuid"])
        assert deleted.status_code == 200, stack.logs()
        deleted = deleted.json()
        assert deleted == {"message_group_uuid": group, "uuid": sent["uuid"], "deleted_at": deleted["deleted_at"]}
        gone = frames(bayko_socket, until=lambda received: any(
            frame["type"] == "message.deleted" for frame in received))[-1]
        assert gone == {"type": "message.deleted", **deleted}

    page = get(info, f"/api/messages/{group}", bayko)
    assert page.json()[-1] == {**sent, "message": "", "deleted_at": deleted["deleted_at"]}
    assert "Zocalo" not in page.text
    assert change(stack, "DELETE", andrew, group, sent["uuid"]).json() == deleted
    assert change(stack, "PATCH", andrew, group, sent["uuid"], {"message": "Back"}).status_code == 404
    [item] = [item for item in message_items(stack, group) if item["message_uuid"] == sent["uuid"]]
    assert "message" not in item and "edited_at" not in item and item["deleted_at"] == deleted["deleted_at"]
    assert not any("Zocalo" in str(item) for item in message_items(stack, group))

    # Both previews fall back to the message before it. bayko had not read it: his count and badge drop back;
    # andrewbrown's send marked the conversation read up to it, and a marker never moves back: nothing is unread.
    for token in (andrew, bayko):
        eventually(lambda token=token: list_item(stack, token, group)["message"] == before[token]["message"])
        assert list_item(stack, token, group)["created_at"] == before[token]["created_at"]
    assert list_item(stack, bayko, group)["unread_count"] == before[bayko]["unread_count"]
    assert list_item(stack, andrew, group)["unread_count"] == 0
    assert get(info, "/api/message_groups/unread", bayko).json() == badge_before
    assert not any("Zocalo" in str(item) for item in table_items(stack))
