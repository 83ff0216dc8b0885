"""Starting conversations (pattern D): one group per pair, whoever starts it and however often."""
from __future__ import annotations

from tests.support.api import assert_error, ok
from tests.support.client import Caller
from tests.support.events import load_event
from tests.support.people import ANDREW, BAYKO, LONDO
from tests.support.table import census, group_rows_of, messages_in, snapshot


def test_event_new_conversation_writes_one_group_atomically(aws) -> None:
    created = ok(aws.invoke("CreateMessageFunction", load_event("create-message-new-conversation")))
    group = created["message_group_uuid"]
    assert (created["handle"], created["message"]) == ("andrewbrown", "Londo, a word about the Centauri Republic.")
    assert census(aws.table) == {"PAIR#": 1, "GROUP#": 1, "GRP#": 2, "MSG#": 1}
    [andrews_row] = group_rows_of(aws.table, ANDREW.uuid)
    [londos_row] = group_rows_of(aws.table, LONDO.uuid)
    assert andrews_row["message_group_uuid"] == londos_row["message_group_uuid"] == group
    assert andrews_row["sk"] == londos_row["sk"] == created["created_at"]


def test_a_pair_that_shares_a_group_gets_that_group_from_either_side(aws) -> None:
    andrew, bayko = Caller(aws, ANDREW), Caller(aws, BAYKO)
    group = andrew.start_conversation("bayko", "one")
    assert andrew.start_conversation("@bayko", "two") == group
    assert andrew.start_conversation("BAYKO", "three") == group
    assert bayko.start_conversation("andrewbrown", "four") == group
    assert census(aws.table) == {"PAIR#": 1, "GROUP#": 1, "GRP#": 2, "MSG#": 4}
    assert [item["message"] for item in messages_in(aws.table, group)] == ["one", "two", "three", "four"]


def test_each_pair_has_its_own_group(aws) -> None:
    andrew = Caller(aws, ANDREW)
    with_bayko, with_londo = andrew.start_conversation("bayko"), andrew.start_conversation("londo")
    between_them = Caller(aws, BAYKO).start_conversation("londo")
    assert len({with_bayko, with_londo, between_them}) == 3
    assert census(aws.table) == {"PAIR#": 3, "GROUP#": 3, "GRP#": 6, "MSG#": 3}


def test_unknown_handle_is_404_and_writes_nothing(aws) -> None:
    before = snapshot(aws.table)
    assert_error(aws.invoke("CreateMessageFunction", load_event("create-message-unknown-handle")), 404,
                 "user_not_found")
    assert snapshot(aws.table) == before


def test_users_short_is_the_public_card_only(aws) -> None:
    response = aws.invoke("UsersShortFunction", load_event("users-short"))
    assert ok(response) == {"uuid": BAYKO.uuid, "handle": "bayko", "display_name": "Andrew Bayko"}
    event = load_event("users-short")
    event["pathParameters"] = {"handle": "%40Londo"}
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/api/users/%40Londo/short"
    assert ok(aws.invoke("UsersShortFunction", event))["handle"] == "londo"
