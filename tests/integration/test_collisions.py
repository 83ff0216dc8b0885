"""Same-microsecond collisions through the handler (the clock frozen): a message never overwrites another."""
from __future__ import annotations

import pytest

from cruddur_messaging.domain import create_message as create_message_module
from tests.support.api import ok
from tests.support.client import Caller
from tests.support.people import ANDREW, BAYKO
from tests.support.table import group_rows_of, messages_in

FROZEN = "2026-05-05T05:05:05.555555+00:00"


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(create_message_module, "utc_now", lambda: FROZEN)
    return FROZEN


def test_messages_sent_in_the_same_microsecond_are_all_stored(aws, frozen_clock) -> None:
    andrew, bayko = Caller(aws, ANDREW), Caller(aws, BAYKO)
    first = ok(andrew.send("first", handle="bayko"))
    group = first["message_group_uuid"]
    second = ok(bayko.send("second", group=group))
    third = ok(andrew.send("third", group=group))
    assert [first["created_at"], second["created_at"], third["created_at"]] == [
        FROZEN, "2026-05-05T05:05:05.555556+00:00", "2026-05-05T05:05:05.555557+00:00"]
    stored = messages_in(aws.table, group)
    assert [(item["message"], item["message_uuid"], item["sk"]) for item in stored] == [
        (response["message"], response["uuid"], response["created_at"]) for response in (first, second, third)]
    assert [message["message"] for message in ok(bayko.list_messages(group))] == ["first", "second", "third"]


def test_two_conversations_started_in_the_same_microsecond_both_exist(aws, frozen_clock) -> None:
    """The starter's two group rows would share ``GRP#<starter>``/``sk``: the second moves a microsecond on."""
    andrew = Caller(aws, ANDREW)
    with_bayko = ok(andrew.send("to bayko", handle="bayko"))
    with_londo = ok(andrew.send("to londo", handle="londo"))
    assert with_bayko["message_group_uuid"] != with_londo["message_group_uuid"]
    rows = group_rows_of(aws.table, ANDREW.uuid)
    assert [(row["sk"], row["user_handle"]) for row in rows] == [(FROZEN, "bayko"),
                                                               ("2026-05-05T05:05:05.555556+00:00", "londo")]
    assert with_londo["created_at"] == "2026-05-05T05:05:05.555556+00:00"
    assert [group["handle"] for group in ok(andrew.list_groups())] == ["londo", "bayko"]
