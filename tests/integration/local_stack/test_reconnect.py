"""Reconnect without missing anything, end to end on ``make dev``: a client that went away catches up with
``GET /api/sync`` and ends with exactly the server's list and messages.

The reader (andrewbrown) loads its list and conversations and takes a sync token, as a client does when it
starts; then it goes away. Meanwhile 50 messages arrive across 5 conversations from four senders writing
concurrently, the reader's other device sends some and marks conversations read, and the reader syncs *while*
messages still land (rows move between its pages and its calls). Once the stream function has settled, one more
sync (plus pages) must leave the client's merged state equal to what the HTTP API lists: every conversation with
its unread count and version, every message once.
"""
from __future__ import annotations

import random
from contextlib import closing
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterator
from urllib.parse import urljoin

import pytest
import requests

from devtools.local_stack.cognito import PoolUser, add_user
from devtools.local_stack.launch import RunningStack
from devtools.ops.database import connect
from tests.integration.local_stack.test_local_stack_e2e import (
    FRONTEND_ORIGIN,
    cognito,
    eventually,
    get,
    post,
    sign_in,
)

MESSAGES = 50
NEWCOMERS = ("reconnect-a", "reconnect-b", "reconnect-c")


def pages(stack: RunningStack, path: str, token: str) -> Iterator[Any]:
    """Every item of a list route, following its ``Link: rel="next"``."""
    url: str | None = f"{stack.info.api_url}{path}"
    while url:
        response = requests.get(url, timeout=20, headers={"Origin": FRONTEND_ORIGIN,
                                                         "Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
        yield from response.json()
        following = response.links.get("next", {}).get("url")
        url = urljoin(response.url, following) if following else None


class SyncingClient:
    """What a client keeps: conversations by uuid (the higher version wins) and messages by uuid."""

    def __init__(self, stack: RunningStack, token: str) -> None:
        self.stack, self.token = stack, token
        self.conversations: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, dict[str, Any]] = {}
        self.since: str | None = None
        self.calls = 0

    def load(self) -> None:
        """A fresh start: a token first, then the list and every conversation (so nothing falls in between)."""
        self.since = self._sync(None)["since"]
        for item in pages(self.stack, "/api/message_groups", self.token):
            self._keep_conversation(item)
        for group in self.conversations:
            for message in pages(self.stack, f"/api/messages/{group}", self.token):
                self.messages[message["uuid"]] = {**message, "message_group_uuid": group}

    def sync(self) -> None:
        while True:
            page = self._sync(self.since)
            for item in page["conversations"]:
                self._keep_conversation(item)
            for message in page["messages"]:
                self.messages[message["uuid"]] = message
            self.since = page["since"]
            if page["complete"]:
                return

    def _sync(self, since: str | None) -> dict[str, Any]:
        self.calls += 1
        response = requests.get(f"{self.stack.info.api_url}/api/sync", params={"since": since} if since else None,
                                headers={"Origin": FRONTEND_ORIGIN, "Authorization": f"Bearer {self.token}"},
                                timeout=20)
        assert response.status_code == 200, response.text
        return response.json()

    def _keep_conversation(self, item: dict[str, Any]) -> None:
        known = self.conversations.get(item["uuid"])
        if known is None or item["version"] > known["version"]:
            self.conversations[item["uuid"]] = item


@pytest.fixture(scope="module")
def people(stack: RunningStack) -> dict[str, str]:
    """Access tokens of the reader, its other device, and the four people writing to it."""
    info = stack.info
    tokens = {handle: sign_in(info, handle)["AccessToken"] for handle in ("andrewbrown", "bayko", "londo")}
    for handle in NEWCOMERS:
        user = add_user(cognito(info), info.user_pool_id,
                        PoolUser(handle=handle, display_name=handle.title(), email=f"{handle}@example.com"))
        with closing(connect(info.database_url)) as connection, connection, connection.cursor() as cursor:
            cursor.execute("INSERT INTO public.users (display_name, handle, email, cognito_user_id) "
                           "VALUES (%s, %s, %s, %s)", (handle.title(), handle, f"{handle}@example.com", user.sub))
        tokens[handle] = cognito(info).initiate_auth(
            ClientId=info.user_pool_client_id, AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": user.username, "PASSWORD": user.password},
        )["AuthenticationResult"]["AccessToken"]
    return tokens


def test_a_client_that_went_away_catches_up_with_one_sync(stack: RunningStack, people: dict[str, str]) -> None:
    info, reader_token = stack.info, people["andrewbrown"]
    senders = ["bayko", "londo", *NEWCOMERS]
    groups = {}
    for handle in senders:
        started = post(info, "/api/messages", people[handle], {"handle": "andrewbrown", "message": f"hi from {handle}"})
        assert started.status_code == 200, started.text
        groups[handle] = started.json()["message_group_uuid"]
    eventually(lambda: {item["uuid"] for item in pages(stack, "/api/message_groups", reader_token)}
               >= set(groups.values()))

    client = SyncingClient(stack, reader_token)
    client.load()

    rng = random.Random(20)
    plan = [rng.choice(senders) for _ in range(MESSAGES)]

    def send(index: int, handle: str) -> None:
        if index % 7 == 0:  # the reader's other device answers
            response = post(info, "/api/messages", reader_token,
                            {"message_group_uuid": groups[handle], "message": f"reply {index}"})
        else:
            response = post(info, "/api/messages", people[handle],
                            {"message_group_uuid": groups[handle], "message": f"message {index}"})
        assert response.status_code == 200, response.text
        if index % 11 == 0:  # ... and marks a conversation read
            marked = post(info, f"/api/message_groups/{groups[handle]}/read", reader_token, {})
            assert marked.status_code == 200, marked.text

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(send, index, handle) for index, handle in enumerate(plan)]
        client.sync()  # while messages still land: rows move between its pages and its calls
        for future in futures:
            future.result()

    def settled() -> bool:
        badge = get(info, "/api/message_groups/unread", reader_token).json()
        listed = list(pages(stack, "/api/message_groups", reader_token))
        return sum(item["unread_count"] for item in listed) == badge["messages"] and all(
            item["created_at"] == max(m["created_at"] for m in pages(stack, f"/api/messages/{item['uuid']}",
                                                                    reader_token))
            for item in listed)

    eventually(settled, seconds=60)
    calls_before = client.calls
    client.sync()

    server_list = {item["uuid"]: item for item in pages(stack, "/api/message_groups", reader_token)}
    assert client.conversations == server_list
    for group in server_list:
        served = {m["uuid"]: {**m, "message_group_uuid": group}
                  for m in pages(stack, f"/api/messages/{group}", reader_token)}
        held = {uuid: m for uuid, m in client.messages.items() if m["message_group_uuid"] == group}
        assert held == served
    assert sum(1 for m in client.messages.values() if m["message_group_uuid"] in groups.values()) >= MESSAGES
    # One sync, in pages: it lists again what changed in the last minute and a half (SETTLE + LATE_AFTER), which
    # here is every message of the test, the seeded conversation's included.
    assert 1 <= client.calls - calls_before <= 5
