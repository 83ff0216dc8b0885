"""Every file in ``events/`` (the ones ``sam local invoke -e`` and ``make invoke`` use) runs against the function
whose route it carries, on the seeded tables, with the answer its name promises."""
from __future__ import annotations

import json
import os
from dataclasses import fields
from datetime import datetime
from typing import Any, Callable
from uuid import UUID

import pytest

from cruddur_messaging.clock import epoch_microseconds
from cruddur_messaging.domain import send_limits
from cruddur_messaging.models import Message, MessageGroupSummary
from devtools.environment import local_function_specs
from tests.support.api import assert_error, header, ok
from tests.support.events import EVENTS_DIR, SEED_GROUP_UUID, as_user, load_event, with_query
from tests.support.people import ANDREW, BAYKO, LONDO
from tests.support.table import scan_all, snapshot

# name -> (status, error code) of the files whose answer is an error; the others' answers are checked below.
ERRORS = {
    "create-message-invalid-json": (400, "invalid_json"),
    "create-message-missing-target": (400, "message_group_uuid_or_handle_required"),
    "create-message-not-member": (404, "message_group_not_found"),
    "create-message-unknown-handle": (404, "user_not_found"),
    "create-message-blank": (422, "message_blank"),
    "create-message-too-long": (422, "message_exceed_max_chars"),
    "create-message-to-self": (422, "message_self"),
    "list-groups-bad-limit": (400, "invalid_limit"),
    "list-groups-tampered-cursor": (400, "invalid_cursor"),
    "list-groups-no-claims": (401, "unauthorized"),
    "list-messages-malformed-uuid": (400, "invalid_message_group_uuid"),
    "list-messages-unknown-group": (404, "message_group_not_found"),
    "list-messages-not-member": (404, "message_group_not_found"),
    "mark-read-invalid-read-at": (400, "invalid_read_at"),
    "mark-read-not-member": (404, "message_group_not_found"),
    "users-short-unknown": (404, "user_not_found"),
    "block-unknown-handle": (404, "user_not_found"),
    "block-self": (422, "block_self"),
    "sync-invalid-since": (400, "invalid_since"),
    "sync-tampered-since": (400, "invalid_since"),
    "edit-message-blank": (422, "message_blank"),
    "edit-message-not-sender": (403, "not_sender"),
    "delete-message-unknown": (404, "message_not_found"),
}
MESSAGE_FIELDS = {field.name for field in fields(Message)}
SEED_PEOPLE = {person.handle: person for person in (ANDREW, BAYKO, LONDO)}
GROUP_ROW_FIELDS = {field.name for field in fields(MessageGroupSummary)}


def the_caller(event: dict[str, Any]) -> str:
    return event["requestContext"]["authorizer"]["jwt"]["claims"]["username"]


def assert_sent(aws, event: dict[str, Any], sent: dict[str, Any], group: str) -> None:
    """The answer is the message the event sent, by its caller, stored once as a ``MSG#`` item of ``group``."""
    caller = SEED_PEOPLE[the_caller(event)]
    assert (sent["message"], sent["handle"], sent["display_name"]) == (
        json.loads(event["body"])["message"], caller.handle, caller.display_name)
    assert str(UUID(sent["uuid"])) == sent["uuid"] and datetime.fromisoformat(sent["created_at"]).tzinfo
    [item] = [item for item in scan_all(aws.table) if item.get("message_uuid") == sent["uuid"]]
    assert (item["pk"], item["sk"], item["message"]) == (f"MSG#{group}", sent["created_at"], sent["message"])


def invoke(aws, event: dict[str, Any]) -> dict[str, Any]:
    return aws.invoke(function_of_route(aws, event["routeKey"]), event)


def check_into_group(aws, event, body) -> None:
    assert set(body) == MESSAGE_FIELDS
    assert_sent(aws, event, body, json.loads(event["body"])["message_group_uuid"])


def check_new_conversation(aws, event, body) -> None:
    assert set(body) == MESSAGE_FIELDS | {"message_group_uuid"} and body["message_group_uuid"] != SEED_GROUP_UUID
    assert_sent(aws, event, body, body["message_group_uuid"])


def check_idempotent(aws, event, body) -> None:
    check_into_group(aws, event, body)
    assert ok(invoke(aws, event)) == body  # the retry gets the first answer; assert_sent found one item


def check_until_past_the_limit(aws, event, body) -> None:
    """Sent again and again (the limits' clock frozen from the second send on): ``SendBurst`` are accepted, or one
    more when the first send's interval was over before the freeze; then 429 with Retry-After. Exactly the accepted
    ones are stored."""
    check_into_group(aws, event, body)
    burst = int(os.environ["SEND_BURST"])
    frozen = epoch_microseconds()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(send_limits, "epoch_microseconds", lambda: frozen)
        answers = [invoke(aws, event) for _ in range(burst + 1)]
    accepted = 1 + sum(1 for answer in answers if answer["statusCode"] == 200)
    refused = answers[accepted - 1]
    assert_error(refused, 429, "rate_limited")
    assert header(refused, "Retry-After") == "1"
    assert burst <= accepted <= burst + 1 and all(answer["statusCode"] == 429 for answer in answers[accepted - 1:])
    text = json.loads(event["body"])["message"]
    assert len([item for item in scan_all(aws.table) if item.get("message") == text]) == accepted


def check_groups(aws, event, rows) -> None:
    assert rows and all(set(row) == GROUP_ROW_FIELDS for row in rows)
    assert [row["created_at"] for row in rows] == sorted((row["created_at"] for row in rows), reverse=True)
    assert {row["uuid"]: row["handle"] for row in rows}[SEED_GROUP_UUID] == "bayko"


def check_groups_limit(aws, event, rows) -> None:
    assert rows == ok(invoke(aws, load_event("list-groups")))[:1]


def check_messages(aws, event, messages, seeded) -> None:
    assert messages and all(set(message) == MESSAGE_FIELDS for message in messages)
    assert [m["created_at"] for m in messages] == sorted(m["created_at"] for m in messages)
    assert {m["uuid"] for m in seeded} <= {m["uuid"] for m in messages}


def check_messages_limit(aws, event, messages) -> None:
    assert len(messages) == int(event["queryStringParameters"]["limit"])
    assert messages == ok(invoke(aws, load_event("list-messages")))[-len(messages):]


def group_row(aws, event) -> dict[str, Any]:
    return {row["uuid"]: row for row in ok(invoke(aws, as_user(load_event("list-groups"), the_caller(event))))}[
        event["pathParameters"]["message_group_uuid"]]


def check_read(aws, event, body) -> None:
    assert body == {"message_group_uuid": event["pathParameters"]["message_group_uuid"],
                    "last_read_at": group_row(aws, event)["created_at"], "unread_count": 0}
    assert group_row(aws, event)["last_read_at"] == body["last_read_at"]


def check_read_at(aws, event, body) -> None:
    assert body == {"message_group_uuid": event["pathParameters"]["message_group_uuid"],
                    "last_read_at": json.loads(event["body"])["read_at"], "unread_count": 0}


def check_badge(aws, event, badge) -> None:
    rows = ok(invoke(aws, as_user(load_event("list-groups"), the_caller(event))))
    assert badge == {"conversations": sum(1 for row in rows if row["unread_count"]),
                     "messages": sum(row["unread_count"] for row in rows)}


def check_user_card(aws, event, card) -> None:
    person = SEED_PEOPLE[event["pathParameters"]["handle"].removeprefix("@")]
    assert card == {"uuid": person.uuid, "handle": person.handle, "display_name": person.display_name}


def check_block(aws, event, state, blocked: bool = True) -> None:
    person = SEED_PEOPLE[event["pathParameters"]["handle"].removeprefix("@")]
    assert state == {"handle": person.handle, "display_name": person.display_name, "blocked": blocked}
    assert ok(invoke(aws, event)) == state  # idempotent: the same answer again
    listed = ok(invoke(aws, as_user(load_event("list-blocks"), the_caller(event))))
    assert ({"handle": person.handle, "display_name": person.display_name} in listed) is blocked


def check_unblock(aws, event, state) -> None:
    check_block(aws, event, state, blocked=False)


def check_blocks(aws, event, listed) -> None:
    assert listed == [{"handle": LONDO.handle, "display_name": LONDO.display_name}]  # block-user ran before


def check_sync(aws, event, body) -> None:
    """A token of now and nothing else; the token is the caller's ``since`` for the next sync."""
    assert body == {"since": body["since"], "conversations": [], "messages": [], "complete": True}
    again = ok(invoke(aws, with_query(load_event("sync"), since=body["since"])))
    assert set(again) == {"since", "conversations", "messages", "complete"} and again["complete"] is True
    assert_error(invoke(aws, as_user(with_query(load_event("sync"), since=body["since"]), "bayko")), 400,
                 "invalid_since")


def the_message_item(aws, event) -> dict[str, Any]:
    [item] = [item for item in scan_all(aws.table)
              if item.get("message_uuid") == event["pathParameters"]["message_uuid"]]
    return item


def check_edit(aws, event, message) -> None:
    """The message as lists show it, with the new text and ``edited_at``; the item holds the same."""
    text = json.loads(event["body"])["message"]
    assert set(message) == MESSAGE_FIELDS and message["uuid"] == event["pathParameters"]["message_uuid"]
    assert (message["message"], message["handle"], message["deleted_at"]) == (text, the_caller(event), None)
    item = the_message_item(aws, event)
    assert (item["message"], item["edited_at"], item["sk"]) == (text, message["edited_at"], message["created_at"])
    listed = ok(invoke(aws, with_query(load_event("list-messages"), limit="100")))
    assert message in listed
    assert ok(invoke(aws, event)) == message  # the same text again: the same answer


def check_delete(aws, event, deleted) -> None:
    """The message's uuid and ``deleted_at``, the same again; the item keeps no text; lists show a tombstone."""
    assert deleted == {"message_group_uuid": event["pathParameters"]["message_group_uuid"],
                       "uuid": event["pathParameters"]["message_uuid"], "deleted_at": deleted["deleted_at"]}
    item = the_message_item(aws, event)
    assert item["deleted_at"] == deleted["deleted_at"] and "message" not in item and "edited_at" not in item
    assert ok(invoke(aws, event)) == deleted
    listed = {m["uuid"]: m for m in ok(invoke(aws, with_query(load_event("list-messages"), limit="100")))}
    tombstone = listed[deleted["uuid"]]
    assert (tombstone["message"], tombstone["deleted_at"], tombstone["edited_at"]) == ("", deleted["deleted_at"], None)
    assert_error(invoke(aws, load_event("edit-message")), 404, "message_not_found")


# name -> what its 200 answer must be, given the state the files before it left (they run in this order).
ANSWERS: dict[str, Callable[..., None]] = {
    "create-message-into-group": check_into_group,
    "create-message-new-conversation": check_new_conversation,
    "create-message-idempotent": check_idempotent,
    "list-groups": check_groups,
    "list-groups-limit-1": check_groups_limit,
    "list-messages": check_messages,
    "list-messages-limit-5": check_messages_limit,
    "mark-read": check_read,
    "mark-read-at-message": check_read_at,
    "unread-badge": check_badge,
    "users-short": check_user_card,
    "block-user": check_block,
    "list-blocks": check_blocks,
    "unblock-user": check_unblock,
    "create-message-past-the-limit": check_until_past_the_limit,  # last: its sends fill the seeded group's page
    "sync": check_sync,
    "edit-message": check_edit,
    "delete-message": check_delete,  # after edit-message: deletes the message it edited
}


def function_of_route(aws, route_key: str) -> str:
    method, path = route_key.split(" ", 1)
    [logical_id] = [logical_id for logical_id, spec in local_function_specs(aws.resources, aws.stream_arn).items()
                    if any((route.method, route.path) == (method, path) for route in spec.routes)]
    return logical_id


def test_every_api_event_file_is_covered() -> None:
    files = {path.stem for path in EVENTS_DIR.glob("*.json")
             if json.loads(path.read_text()).get("version") == "2.0"}  # API Gateway HTTP API events
    assert files == set(ERRORS) | set(ANSWERS) and not set(ERRORS) & set(ANSWERS)


def test_every_event_file_gives_its_answer(aws, seeded, subtests) -> None:
    for name in [*ANSWERS, *ERRORS]:
        with subtests.test(name):
            event = load_event(name)
            before = snapshot(aws.table)
            response = invoke(aws, event)
            if name in ANSWERS:
                check = ANSWERS[name]
                extra = (seeded,) if check is check_messages else ()
                check(aws, event, ok(response), *extra)
            else:
                assert_error(response, *ERRORS[name])
                assert snapshot(aws.table) == before


def test_seeded_conversation_is_what_the_list_events_show(aws, seeded) -> None:
    [group] = ok(aws.invoke("ListGroupsFunction", load_event("list-groups")))
    assert group["uuid"] == SEED_GROUP_UUID and group["handle"] == "bayko"
    assert len(ok(aws.invoke("ListMessagesFunction", load_event("list-messages")))) == len(seeded)
