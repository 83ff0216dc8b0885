"""The sync's tokens and pages (``domain.sync``) on the template's table in moto, with group rows versioned as
design20.md section 1 has every writer leave them (``tests/support/row_versions.py``)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from dataclasses import asdict, replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from cruddur_messaging.data.row_versions import RowVersionReads
from cruddur_messaging.domain.group_row_timeline import LATE_AFTER, SYNC_HORIZON, version_at
from cruddur_messaging.domain.list_messages import message_of
from cruddur_messaging.domain.sync import (
    CONVERSATIONS_PER_PAGE, MESSAGES_PER_PAGE, SETTLE, Continuation, SyncToken, decode_token, encode_token, sync,
)
from cruddur_messaging.errors import BadRequest, Gone
from cruddur_messaging.models import MessageGroupSummary, SyncPage
from cruddur_messaging.pagination import MAX_CURSOR_LENGTH, CursorCodec
from devtools.template import load_template, parameter_defaults
from tests.support.calls import record_calls
from tests.support.people import ANDREW, BAYKO, stranger
from tests.support.row_versions import apply_message, owner_rows, put_message

KEY = b"k" * 48
CODEC = CursorCodec(KEY)
NOW = datetime.now(timezone.utc).replace(microsecond=0)
INDEX = parameter_defaults(load_template())["RowVersionIndexName"]


def signed(payload: bytes) -> str:
    """Any payload, signed with the key: what only the holder of the key could make."""
    encoded = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
    signature = hmac.new(KEY, encoded.encode(), hashlib.sha256).digest()[:16]
    return f"{encoded}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def codec() -> CursorCodec:
    return CODEC


def token_at(moment: datetime, **changes: Any) -> str:
    return encode_token(CODEC, ANDREW.uuid, replace(SyncToken.starting_at(version_at(moment)), **changes))


class World:
    """Andrew's conversations with strangers, on the table: messages put, then applied to both rows."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self.reads = RowVersionReads(table, INDEX)
        self.groups: dict[str, Any] = {}

    def conversation(self, number: int) -> str:
        group = str(uuid.UUID(int=number, version=4))
        self.groups[group] = stranger(number)
        return group

    def message(self, group: str, at: datetime, applied: datetime | None = None, text: str | None = None,
                from_andrew: bool = False) -> dict[str, Any]:
        other = self.groups[group]
        sender = ANDREW if from_andrew else other
        item = put_message(self.table, group, sender, text or f"at {at.isoformat()}", str(uuid.uuid4()), at)
        apply_message(self.table, group, ANDREW, other, item, applied or at)
        return item

    def sync(self, since: str | None, now: datetime) -> SyncPage:
        return sync(self.reads, codec, ANDREW, since, now)

    def sync_all(self, since: str, now: datetime) -> tuple[list[SyncPage], str]:
        pages = [self.sync(since, now)]
        while not pages[-1].complete:
            assert len(pages) < 50
            pages.append(self.sync(pages[-1].since, now))
        return pages, pages[-1].since


@pytest.fixture
def world(aws) -> World:
    return World(aws.table)


def messages_of(pages: list[SyncPage]) -> list[str]:
    return [message.uuid for page in pages for message in page.messages]


# --- the token ----------------------------------------------------------------------------------------------------


def test_a_token_round_trips_and_is_opaque_url_safe_ascii() -> None:
    token = SyncToken(floor=10, message_floor=5, position=12, next_floor=20,
                      continuation=Continuation(str(uuid.uuid4()), None, "2026-01-01T00:00:00.000000+00:00"))
    text = encode_token(CODEC, ANDREW.uuid, token)
    assert text.isascii() and "=" not in text and "+" not in text and "/" not in text
    assert decode_token(CODEC, ANDREW.uuid, text, datetime(1970, 1, 1, tzinfo=timezone.utc)) == token


@pytest.mark.parametrize("index", [0, 7, 30, -2])
def test_a_tampered_token_is_invalid_since(index: int) -> None:
    text = token_at(NOW)
    tampered = text[:index % len(text)] + ("A" if text[index] != "A" else "B") + text[index % len(text) + 1:]
    with pytest.raises(BadRequest) as raised:
        decode_token(CODEC, ANDREW.uuid, tampered, NOW)
    assert (raised.value.status, raised.value.code) == (400, "invalid_since")


@pytest.mark.parametrize("text", [
    "", "yesterday", "ünïcode.token", "a" * (MAX_CURSOR_LENGTH + 1),
    CODEC.seal({"sync": ANDREW.uuid, "v": "1", "t": 0, "p": 1}),  # signed, but not our shape
    CODEC.seal({"sync": ANDREW.uuid, "v": True, "t": 0, "p": 1}),
    CODEC.seal({"sync": ANDREW.uuid, "v": 1, "t": 0, "p": 1, "c": ["g", None]}),
    signed(b'["not", "an", "object"]'),
], ids=["empty", "garbage", "non-ascii", "too-long", "string-version", "boolean-version", "short-continuation",
        "not-an-object"])
def test_a_malformed_token_is_invalid_since(text: str) -> None:
    with pytest.raises(BadRequest) as raised:
        decode_token(CODEC, ANDREW.uuid, text, NOW)
    assert raised.value.code == "invalid_since"


def test_a_list_cursor_is_not_a_token_nor_a_token_a_cursor() -> None:
    cursor = CODEC.encode(f"GRP#{ANDREW.uuid}", {"pk": f"GRP#{ANDREW.uuid}", "sk": "2026-01-01T00:00:00+00:00"})
    with pytest.raises(BadRequest) as raised:
        decode_token(CODEC, ANDREW.uuid, cursor, NOW)
    assert raised.value.code == "invalid_since"
    with pytest.raises(BadRequest) as raised:
        CODEC.decode(token_at(NOW), f"GRP#{ANDREW.uuid}")
    assert raised.value.code == "invalid_cursor"


def test_another_users_token_or_another_key_is_invalid_since() -> None:
    for text, key in ((token_at(NOW), b"another key"), (encode_token(CODEC, BAYKO.uuid, SyncToken.starting_at(1)),
                                                        KEY)):
        with pytest.raises(BadRequest):
            decode_token(CursorCodec(key), ANDREW.uuid, text, NOW)


def test_a_token_past_the_horizon_is_gone_one_within_it_is_served() -> None:
    assert decode_token(CODEC, ANDREW.uuid, token_at(NOW - SYNC_HORIZON + timedelta(minutes=1)), NOW)
    with pytest.raises(Gone) as raised:
        decode_token(CODEC, ANDREW.uuid, token_at(NOW - SYNC_HORIZON - timedelta(seconds=1)), NOW)
    assert (raised.value.status, raised.value.code) == (410, "reload_required")


def test_without_since_a_token_of_now_and_nothing_read(aws, monkeypatch) -> None:
    calls = record_calls(monkeypatch)
    page = World(aws.table).sync(None, NOW)
    assert (page.conversations, page.messages, page.complete) == ([], [], True)
    assert calls.dynamodb() == []
    token = decode_token(CODEC, ANDREW.uuid, page.since, NOW)
    assert token == SyncToken.starting_at(version_at(NOW - SETTLE))
    assert token.floor - token.message_floor == version_at(NOW + LATE_AFTER) - version_at(NOW)


# --- pages ----------------------------------------------------------------------------------------------------------


def test_conversations_are_list_items_and_messages_as_listed_plus_their_group_oldest_first(world: World) -> None:
    since = token_at(NOW - timedelta(minutes=30))
    first, second = world.conversation(1), world.conversation(2)
    sent = [world.message(first, NOW - timedelta(minutes=20)), world.message(second, NOW - timedelta(minutes=19)),
            world.message(first, NOW - timedelta(minutes=18), from_andrew=True)]
    page = world.sync(since, NOW)
    assert page.complete
    rows = owner_rows(world.table, ANDREW)
    assert sorted(page.conversations, key=lambda item: item.uuid) == sorted(
        (MessageGroupSummary.of_row(rows[group]) for group in (first, second)), key=lambda item: item.uuid)
    assert all(item.version == int(rows[item.uuid]["version"]) > 0 for item in page.conversations)
    assert [asdict(message) for message in page.messages] == [
        {**asdict(message_of(item)), "message_group_uuid": item["pk"].removeprefix("MSG#")} for item in sent]
    assert list(asdict(page)) == ["since", "conversations", "messages", "complete"]


def test_nothing_changed_since_is_an_empty_complete_page(world: World) -> None:
    group = world.conversation(1)
    world.message(group, NOW - timedelta(hours=2))
    page = world.sync(token_at(NOW - timedelta(hours=1)), NOW)
    assert (page.conversations, page.messages, page.complete) == ([], [], True)


def test_pages_are_bounded_by_conversations_and_together_list_everything(world: World) -> None:
    since = token_at(NOW - timedelta(hours=1))
    count = CONVERSATIONS_PER_PAGE + 5
    sent = [world.message(world.conversation(number), NOW - timedelta(minutes=50) + timedelta(seconds=number))
            for number in range(1, count + 1)]
    pages, _ = world.sync_all(since, NOW)
    assert [len(page.conversations) for page in pages] == [CONVERSATIONS_PER_PAGE, 5]
    assert [page.complete for page in pages] == [False, True]
    assert sorted(messages_of(pages)) == sorted(item["message_uuid"] for item in sent)
    assert len({item.uuid for page in pages for item in page.conversations}) == count


def test_a_conversation_cut_by_the_message_bound_continues_on_the_next_page(world: World) -> None:
    since = token_at(NOW - timedelta(hours=1))
    group, small = world.conversation(1), world.conversation(2)
    many = [world.message(group, NOW - timedelta(minutes=50) + timedelta(seconds=index))
            for index in range(2 * MESSAGES_PER_PAGE + 30)]
    few = [world.message(small, NOW - timedelta(minutes=20) + timedelta(seconds=index)) for index in range(3)]
    pages, _ = world.sync_all(since, NOW)
    assert [len(page.messages) for page in pages] == [MESSAGES_PER_PAGE, MESSAGES_PER_PAGE, 30 + 3]
    listed = messages_of(pages)
    assert len(listed) == len(set(listed)) and set(listed) == {item["message_uuid"] for item in many + few}
    for page in pages:
        assert [m.created_at for m in page.messages] == sorted(m.created_at for m in page.messages)


def test_a_later_conversation_that_does_not_fit_is_left_whole_to_the_next_page(world: World) -> None:
    since = token_at(NOW - timedelta(hours=1))
    first, second = world.conversation(1), world.conversation(2)
    for index in range(10):
        world.message(first, NOW - timedelta(minutes=50) + timedelta(seconds=index))
    for index in range(MESSAGES_PER_PAGE - 5):
        world.message(second, NOW - timedelta(minutes=40) + timedelta(seconds=index))
    pages, _ = world.sync_all(since, NOW)
    assert [([item.uuid for item in page.conversations], len(page.messages)) for page in pages] == [
        ([first], 10), ([second], MESSAGES_PER_PAGE - 5)]


def test_a_row_that_moves_between_pages_is_reported_again_and_nothing_is_missed(world: World) -> None:
    since = token_at(NOW - timedelta(hours=1))
    groups = [world.conversation(number) for number in range(1, CONVERSATIONS_PER_PAGE + 6)]
    sent = [world.message(group, NOW - timedelta(minutes=50) + timedelta(seconds=index))
            for index, group in enumerate(groups)]
    first = world.sync(since, NOW)
    served, waiting = first.conversations[0].uuid, groups[-1]
    assert waiting not in {item.uuid for item in first.conversations}
    later = [world.message(served, NOW - timedelta(seconds=5)), world.message(waiting, NOW - timedelta(seconds=4))]
    rest, _ = world.sync_all(first.since, NOW)
    again = [item for page in rest for item in page.conversations if item.uuid == served]
    assert len(again) == 1 and again[0].version > first.conversations[0].version
    assert again[0].message == later[0]["message"]
    assert set(messages_of([first, *rest])) == {item["message_uuid"] for item in sent + later}


def test_rows_sharing_a_version_at_the_page_boundary_stay_on_one_page(world: World) -> None:
    since = token_at(NOW - timedelta(hours=1))
    groups = [world.conversation(number) for number in range(1, CONVERSATIONS_PER_PAGE + 3)]
    for index, group in enumerate(groups):
        world.message(group, NOW - timedelta(minutes=50) + timedelta(seconds=index))
    tied = version_at(NOW - timedelta(minutes=10))
    for group in groups[CONVERSATIONS_PER_PAGE - 2:]:  # the 24th to the 27th: one version
        row = owner_rows(world.table, ANDREW)[group]
        world.table.put_item(Item={**row, "version": tied})
    pages, _ = world.sync_all(since, NOW)
    assert [len(page.conversations) for page in pages] == [CONVERSATIONS_PER_PAGE - 2, 4]


def test_a_late_message_is_listed_from_the_rows_late_from(world: World) -> None:
    group = world.conversation(1)
    world.message(group, NOW - timedelta(hours=3))
    since = token_at(NOW - timedelta(hours=1))
    # Created two hours ago, applied now (a stalled stream): before the token's T, after its V.
    late = world.message(group, NOW - timedelta(hours=2), applied=NOW - timedelta(minutes=1))
    row = owner_rows(world.table, ANDREW)[group]
    assert row["late_from"] == late["sk"] and int(row["late_version"]) == int(row["version"])
    page = world.sync(since, NOW)
    assert [message.uuid for message in page.messages] == [late["message_uuid"]]
    # A token from after the late write: the record is not news, T bounds the messages again.
    assert world.sync(token_at(NOW - timedelta(seconds=10)), NOW).messages == []


def test_the_next_sync_reports_again_what_changed_within_settle_and_nothing_older(world: World) -> None:
    old, recent = world.conversation(1), world.conversation(2)
    world.message(old, NOW - timedelta(minutes=5))
    recent_message = world.message(recent, NOW - SETTLE + timedelta(seconds=5))
    _, token = world.sync_all(token_at(NOW - timedelta(minutes=10)), NOW)
    again = world.sync(token, NOW + timedelta(seconds=1))
    assert [item.uuid for item in again.conversations] == [recent]
    assert [message.uuid for message in again.messages] == [recent_message["message_uuid"]]


def test_a_cut_conversation_whose_row_the_index_no_longer_shows_is_finished(world: World, monkeypatch) -> None:
    since = token_at(NOW - timedelta(hours=1))
    group = world.conversation(1)
    many = [world.message(group, NOW - timedelta(minutes=50) + timedelta(seconds=index))
            for index in range(MESSAGES_PER_PAGE + 20)]
    first = world.sync(since, NOW)
    assert not first.complete and len(first.messages) == MESSAGES_PER_PAGE
    # The row moved and its new place is not in the index yet: the index shows nothing of it.
    monkeypatch.setattr(world.reads, "rows_changed_after",
                        lambda owner, version, limit: type("Found", (), {"items": [], "truncated": False})())
    second = world.sync(first.since, NOW)
    assert second.complete and second.conversations == []
    assert messages_of([first, second]) == [item["message_uuid"] for item in many]


# --- the index --------------------------------------------------------------------------------------------------------


def test_the_index_holds_only_versioned_group_rows_in_version_order(world: World) -> None:
    """moto plays the template's sparse index (HASH ``pk``, RANGE ``version`` N) as DynamoDB does."""
    for number, version in ((1, 30), (2, 10), (3, None), (4, 20)):
        group = world.conversation(number)
        row = {"pk": f"GRP#{ANDREW.uuid}", "sk": f"2026-01-01T00:00:0{number}.000000+00:00",
               "message_group_uuid": group, "message": "m", "user_uuid": BAYKO.uuid,
               "user_display_name": BAYKO.display_name, "user_handle": BAYKO.handle}
        world.table.put_item(Item=row if version is None else {**row, "version": version})
    world.table.put_item(Item={"pk": f"GRP#{BAYKO.uuid}", "sk": "2026-01-01T00:00:00.000000+00:00",
                               "message_group_uuid": "x", "version": 15})
    found = world.reads.rows_changed_after(ANDREW.uuid, 10, 5)
    assert [int(row["version"]) for row in found.items] == [20, 30] and not found.truncated
    cut = world.reads.rows_changed_after(ANDREW.uuid, 0, 2)
    assert [int(row["version"]) for row in cut.items] == [10, 20] and cut.truncated
