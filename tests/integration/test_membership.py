"""Only the two members of a group read or post into it (docs/README.md, tutorial defect 3)."""
from __future__ import annotations

from tests.support.api import assert_error, ok
from tests.support.client import Caller
from tests.support.people import ANDREW, BAYKO, LONDO
from tests.support.table import messages_in, snapshot


def test_members_read_and_post_strangers_get_404_and_write_nothing(aws) -> None:
    andrew, bayko, londo = Caller(aws, ANDREW), Caller(aws, BAYKO), Caller(aws, LONDO)
    group = andrew.start_conversation("bayko", "Just the two of us")
    assert ok(bayko.send("Indeed", group=group))["handle"] == "bayko"
    before = snapshot(aws.table)
    assert_error(londo.list_messages(group), 404, "message_group_not_found")
    assert_error(londo.send("Let me in", group=group), 404, "message_group_not_found")
    assert_error(londo.list_messages(group, limit="1"), 404, "message_group_not_found")
    assert snapshot(aws.table) == before
    for member in (andrew, bayko):
        assert [message["message"] for message in ok(member.list_messages(group))] == ["Just the two of us",
                                                                                      "Indeed"]


def test_creator_reads_the_new_group_in_the_very_next_request(aws, calls) -> None:
    andrew = Caller(aws, ANDREW)
    created = ok(andrew.send("First words", handle="londo"))
    calls.clear()
    [message] = ok(andrew.list_messages(created["message_group_uuid"]))
    assert message == {key: value for key, value in created.items() if key != "message_group_uuid"}
    # The access check is a strongly consistent read: in DynamoDB an eventually consistent one might not see
    # the membership written a moment ago (moto always would, so the test checks how it is read).
    [membership_read] = calls.dynamodb_calls("GetItem")
    assert membership_read["Key"]["pk"] == f"GROUP#{created['message_group_uuid']}"
    assert membership_read["ConsistentRead"] is True
    # ...and the other member can post into it at once.
    assert ok(Caller(aws, LONDO).send("Already?", group=created["message_group_uuid"]))["handle"] == "londo"


def test_create_response_is_the_message_itself(aws) -> None:
    created = ok(Caller(aws, ANDREW).send("Hello", handle="bayko"))
    group = created["message_group_uuid"]
    [stored] = messages_in(aws.table, group)
    assert created == {"message_group_uuid": group, "uuid": stored["message_uuid"], "display_name": "Andrew Brown",
                       "handle": "andrewbrown", "message": "Hello", "created_at": stored["sk"], "edited_at": None,
                       "deleted_at": None}
    assert created["uuid"] != ANDREW.uuid  # the tutorial put the sender's uuid there (defect 11)
    into_group = ok(Caller(aws, BAYKO).send("Hi", group=group))
    assert set(into_group) == {"uuid", "display_name", "handle", "message", "created_at", "edited_at", "deleted_at"}
    assert into_group["uuid"] == messages_in(aws.table, group)[-1]["message_uuid"]
