"""Many tabs, end to end on ``make dev`` with real sockets and tokens (issue 20): past the per-user bound the
oldest tab is evicted calmly - told with the ``evicted`` frame, then closed - and clients that follow
docs/websocket-api.md (reconnect after any close but that one) do not churn; and each member's ``unread`` frames
follow their badge."""
from __future__ import annotations

import json
import threading
import time
from typing import Any

import boto3
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from cruddur_messaging.data import keys
from devtools.local_stack.launch import RunningStack
from devtools.template import load_template, parameter_defaults
from tests.integration.local_stack.test_local_stack_e2e import get, post, sign_in

ARRIVAL_TIMEOUT_SECONDS = 15
QUIET_SECONDS = 3.0
"""How long every tab is watched for a close or a reconnect after the eviction, and how long the frames must have
stopped before the badge is compared."""
RECONNECT_DELAY_SECONDS = 0.2
"""The docs' back-off starts at 1 s; shorter here, so that a churn would show many times within the watch."""
EVICTED = {"type": "evicted", "code": 4001, "reason": "replaced by a newer connection"}


class DocsTab:
    """A client as docs/websocket-api.md says to write one: after an ``evicted`` frame it stays closed; after any
    other close it reconnects (here after a short delay)."""

    def __init__(self, stack: RunningStack, token: str, name: str) -> None:
        self.stack, self.token, self.name = stack, token, name
        self.frames: list[dict[str, Any]] = []
        self.events: list[str] = []
        """What happened to the tab, in order: each frame's type, ``close <code>``, ``reconnect``."""
        self.reconnects = 0
        self.evicted = False
        self.stopped = False
        self.socket: ClientConnection = self._open()
        self._reader = threading.Thread(target=self._run, name=f"tab-{name}", daemon=True)
        self._reader.start()

    def _open(self) -> ClientConnection:
        return connect(self.stack.info.websocket_url, subprotocols=["cruddur.v1", self.token], open_timeout=20)

    def _run(self) -> None:
        while not self.stopped:
            try:
                for message in self.socket:
                    frame = json.loads(message)
                    self.frames.append(frame)
                    self.events.append(frame["type"])
                    if frame["type"] == "evicted":
                        self.evicted = True
            except ConnectionClosed:
                pass
            if self.stopped:
                return
            self.events.append(f"close {self.socket.close_code}")
            if self.evicted:
                return  # "open in another tab": no reconnect
            time.sleep(RECONNECT_DELAY_SECONDS)
            if self.stopped:
                return
            self.reconnects += 1
            self.events.append("reconnect")
            self.socket = self._open()

    @property
    def open(self) -> bool:
        return not self.evicted and self.socket.close_code is None

    def message_uuids(self) -> set[str]:
        return {frame["message"]["uuid"] for frame in list(self.frames) if frame["type"] == "message.created"}

    def close(self) -> None:
        self.stopped = True
        self.socket.close()
        self._reader.join(5)


def connection_count(stack: RunningStack, handle: str) -> int:
    info = stack.info
    table = boto3.resource("dynamodb", endpoint_url=info.aws_endpoint_url, region_name=info.region,
                           aws_access_key_id="testing", aws_secret_access_key="testing").Table(info.table_name)
    return table.query(KeyConditionExpression="pk = :pk", ConsistentRead=True, Select="COUNT",
                       ExpressionAttributeValues={":pk": keys.connections_pk(info.user(handle).uuid)})["Count"]


def wait_for(check, seconds: float = ARRIVAL_TIMEOUT_SECONDS) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_eleven_tabs_evict_exactly_the_oldest_calmly_and_the_other_ten_keep_their_frames(stack) -> None:
    info = stack.info
    bound = int(parameter_defaults(load_template())["LiveConnectionsPerUser"])
    assert bound == 10
    tokens = {handle: sign_in(info, handle)["AccessToken"] for handle in ("andrewbrown", "bayko")}
    # Another test's sockets of andrew's may still be on their way out ($disconnect runs after a close).
    assert wait_for(lambda: connection_count(stack, "andrewbrown") == 0)
    tabs: list[DocsTab] = []
    try:
        for number in range(bound + 1):  # one after another: the first is the oldest
            tabs.append(DocsTab(stack, tokens["andrewbrown"], f"andrew-{number}"))
            assert wait_for(lambda: connection_count(stack, "andrewbrown") == min(len(tabs), bound)), stack.logs()

        oldest, others = tabs[0], tabs[1:]
        assert wait_for(lambda: oldest.socket.close_code is not None), stack.logs()
        time.sleep(QUIET_SECONDS)  # a churn would show here: closes, reconnects, more evictions
        # Told first, then closed with API Gateway's code for DeleteConnection (1000), and not reconnected. (List
        # frames of the seeded conversation, which the stream function may still be counting, can come before.)
        assert [frame for frame in oldest.frames if frame["type"] == "evicted"] == [EVICTED]
        assert oldest.events[-2:] == ["evicted", "close 1000"]
        churn = [(tab.name, event) for tab in others for event in tab.events
                 if event.startswith(("evicted", "close", "reconnect"))]
        assert churn == []
        assert sum(tab.reconnects for tab in tabs) == 0
        assert connection_count(stack, "andrewbrown") == bound

        # The ten still get every frame.
        sent = post(info, "/api/messages", tokens["bayko"], {"message": "To all ten tabs",
                                                             "message_group_uuid": info.seed_message_group_uuid})
        assert sent.status_code == 200, stack.logs()
        uuid = sent.json()["uuid"]
        assert wait_for(lambda: all(uuid in tab.message_uuids() for tab in others)), [tab.events for tab in others]
        assert uuid not in oldest.message_uuids()
        assert all(tab.open for tab in others) and not oldest.open
        assert sum(tab.reconnects for tab in tabs) == 0 and [tab.evicted for tab in tabs].count(True) == 1
    finally:
        for tab in tabs:
            tab.close()


def badge_shown(tab: DocsTab, fetched: dict[str, Any]) -> dict[str, Any]:
    """What a client shows: the badge it fetched after connecting, then each ``unread`` frame."""
    frames = [frame for frame in list(tab.frames) if frame["type"] == "unread"]
    return {key: value for key, value in frames[-1].items() if key != "type"} if frames else fetched


def test_after_a_burst_each_members_last_unread_frame_is_their_badge(stack) -> None:
    """Messages into two conversations and mark-reads on the way, over HTTP; once the frames stop, the last
    ``unread`` frame of each member equals ``GET /api/message_groups/unread``. (A member whose totals never changed
    gets none - the stream function may coalesce a reply and the answer to it into one move, from 0 to 0 - and
    keeps what it fetched after connecting.)"""
    info = stack.info
    handles = ("andrewbrown", "bayko", "londo")
    tokens = {handle: sign_in(info, handle)["AccessToken"] for handle in handles}
    tabs = {handle: DocsTab(stack, tokens[handle], handle) for handle in handles}
    try:
        fetched = {handle: get(info, "/api/message_groups/unread", tokens[handle]).json() for handle in handles}
        seed = info.seed_message_group_uuid
        started = post(info, "/api/messages", tokens["londo"], {"message": "Burst 0", "handle": "bayko"})
        assert started.status_code == 200, stack.logs()
        londo_group = started.json()["message_group_uuid"]
        steps: list[tuple[str, str, str | None]] = []
        for number in range(1, 13):
            steps.append(("andrewbrown", seed, f"Burst {number}"))
            steps.append(("londo", londo_group, f"Burst {number}"))
            if number % 4 == 0:
                steps.append(("bayko", seed, None))  # marks read
            if number % 5 == 0:
                steps.append(("bayko", londo_group, f"Reply {number}"))
        steps.append(("andrewbrown", seed, None))
        newest = {londo_group: started.json()["created_at"]}
        for handle, group, text in steps:
            if text is None:  # up to the newest message sent, whether the stream function applied it yet or not
                response = post(info, f"/api/message_groups/{group}/read", tokens[handle], {"read_at": newest[group]})
            else:
                response = post(info, "/api/messages", tokens[handle], {"message": text, "message_group_uuid": group})
                newest[group] = response.json().get("created_at", "")
            assert response.status_code == 200, stack.logs()

        def settled() -> bool:
            count = sum(len(tab.frames) for tab in tabs.values())
            time.sleep(QUIET_SECONDS)
            return count == sum(len(tab.frames) for tab in tabs.values())

        assert wait_for(settled, seconds=60), "the frames never stopped"
        badges = {}
        for handle in handles:
            badge = get(info, "/api/message_groups/unread", tokens[handle])
            assert badge.status_code == 200, stack.logs()
            badges[handle] = badge.json()
        assert {handle: badge_shown(tabs[handle], fetched[handle]) for handle in handles} == badges
        assert badge_shown(tabs["bayko"], {}) == badges["bayko"]  # his changed: by frames
        # The script's own sum for bayko: he marked the seeded conversation read after andrew's last message, and
        # replied to londo after londo's tenth: londo's last two are unread.
        assert badges["bayko"] == {"conversations": 1, "messages": 2}
    finally:
        for tab in tabs.values():
            tab.close()


@pytest.fixture(autouse=True)
def _no_leftover_threads() -> Any:
    """Every tab's reader ends with its test."""
    before = {thread.name for thread in threading.enumerate()}
    yield
    assert not [thread.name for thread in threading.enumerate()
                if thread.name.startswith("tab-") and thread.name not in before and thread.is_alive()]
