"""Cursors through the handlers: altered ones, and ones from another list, are a 400 and leak nothing."""
from __future__ import annotations

import base64
import json

import pytest

from tests.support.api import assert_error, next_cursor, ok
from tests.support.client import Caller
from tests.support.people import ANDREW, BAYKO, LONDO


def flip(text: str, index: int) -> str:
    return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1:]


@pytest.fixture
def two_conversations(aws) -> tuple[str, str]:
    """andrewbrown talks with bayko and with londo, three messages each: every list has a second page at limit 2."""
    andrew = Caller(aws, ANDREW)
    with_bayko = andrew.start_conversation("bayko", "bayko 1")
    with_londo = andrew.start_conversation("londo", "londo 1")
    for index in (2, 3):
        ok(andrew.send(f"bayko {index}", group=with_bayko))
        ok(andrew.send(f"londo {index}", group=with_londo))
    return with_bayko, with_londo


def test_a_cursor_works_for_its_own_list(aws, two_conversations) -> None:
    with_bayko, _ = two_conversations
    andrew = Caller(aws, ANDREW)
    cursor = next_cursor(andrew.list_messages(with_bayko, limit="2"))
    assert [message["message"] for message in ok(andrew.list_messages(with_bayko, limit="2", cursor=cursor))] == [
        "bayko 1"]
    # The other member may continue from the same position: the cursor belongs to the conversation.
    assert ok(Caller(aws, BAYKO).list_messages(with_bayko, limit="2", cursor=cursor))[0]["message"] == "bayko 1"


def test_tampered_group_cursors_are_400(aws, two_conversations, subtests) -> None:
    andrew = Caller(aws, ANDREW)
    cursor = next_cursor(andrew.list_groups(limit="1"))
    payload, signature = cursor.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    older = {**decoded, "k": {**decoded["k"], "sk": "0000"}}
    forged = base64.urlsafe_b64encode(json.dumps(older).encode()).decode().rstrip("=")
    for name, tampered in {"payload": f"{flip(payload, 3)}.{signature}",
                           "signature": f"{payload}.{flip(signature, 0)}",
                           "re-encoded position": f"{forged}.{signature}",
                           "truncated": cursor[:-1]}.items():
        with subtests.test(name):
            assert_error(andrew.list_groups(limit="1", cursor=tampered), 400, "invalid_cursor")


def test_tampered_message_cursor_is_400(aws, two_conversations) -> None:
    with_bayko, _ = two_conversations
    andrew = Caller(aws, ANDREW)
    payload, signature = next_cursor(andrew.list_messages(with_bayko, limit="2")).split(".")
    assert_error(andrew.list_messages(with_bayko, cursor=f"{flip(payload, 10)}.{signature}"), 400, "invalid_cursor")
    assert_error(andrew.list_messages(with_bayko, cursor=f"{payload}.{flip(signature, 5)}"), 400, "invalid_cursor")


def test_another_users_group_cursor_is_400(aws, two_conversations) -> None:
    andrews_cursor = next_cursor(Caller(aws, ANDREW).list_groups(limit="1"))
    assert_error(Caller(aws, LONDO).list_groups(limit="1", cursor=andrews_cursor), 400, "invalid_cursor")
    assert_error(Caller(aws, BAYKO).list_groups(cursor=andrews_cursor), 400, "invalid_cursor")


def test_another_groups_message_cursor_is_400_even_for_a_member_of_both(aws, two_conversations) -> None:
    with_bayko, with_londo = two_conversations
    andrew = Caller(aws, ANDREW)
    bayko_cursor = next_cursor(andrew.list_messages(with_bayko, limit="2"))
    assert_error(andrew.list_messages(with_londo, limit="2", cursor=bayko_cursor), 400, "invalid_cursor")


def test_cursors_do_not_cross_routes(aws, two_conversations) -> None:
    with_bayko, _ = two_conversations
    andrew = Caller(aws, ANDREW)
    groups_cursor = next_cursor(andrew.list_groups(limit="1"))
    messages_cursor = next_cursor(andrew.list_messages(with_bayko, limit="2"))
    assert_error(andrew.list_messages(with_bayko, cursor=groups_cursor), 400, "invalid_cursor")
    assert_error(andrew.list_groups(cursor=messages_cursor), 400, "invalid_cursor")


def test_a_stranger_with_a_valid_cursor_still_gets_404(aws, two_conversations) -> None:
    with_bayko, _ = two_conversations
    cursor = next_cursor(Caller(aws, ANDREW).list_messages(with_bayko, limit="2"))
    assert_error(Caller(aws, LONDO).list_messages(with_bayko, cursor=cursor), 404, "message_group_not_found")
