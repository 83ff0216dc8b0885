"""Every file in ``events/`` (the ones ``sam local invoke -e`` and ``make invoke`` use) runs against the function
whose route it carries, on the seeded tables, with the answer its name promises."""
from __future__ import annotations

import json

from devtools.environment import local_function_specs
from tests.support.api import assert_error, ok
from tests.support.events import EVENTS_DIR, SEED_GROUP_UUID, load_event
from tests.support.table import snapshot

# name -> (status, error code); a 200 names the key its body must have.
EXPECTED = {
    "create-message-into-group": (200, "uuid"),
    "create-message-new-conversation": (200, "message_group_uuid"),
    "create-message-idempotent": (200, "uuid"),
    "create-message-invalid-json": (400, "invalid_json"),
    "create-message-missing-target": (400, "message_group_uuid_or_handle_required"),
    "create-message-not-member": (404, "message_group_not_found"),
    "create-message-unknown-handle": (404, "user_not_found"),
    "create-message-blank": (422, "message_blank"),
    "create-message-too-long": (422, "message_exceed_max_chars"),
    "create-message-to-self": (422, "message_self"),
    "list-groups": (200, None),
    "list-groups-limit-1": (200, None),
    "list-groups-bad-limit": (400, "invalid_limit"),
    "list-groups-tampered-cursor": (400, "invalid_cursor"),
    "list-groups-no-claims": (401, "unauthorized"),
    "list-messages": (200, None),
    "list-messages-limit-5": (200, None),
    "list-messages-malformed-uuid": (400, "invalid_message_group_uuid"),
    "list-messages-unknown-group": (404, "message_group_not_found"),
    "list-messages-not-member": (404, "message_group_not_found"),
    "mark-read": (200, "unread_count"),
    "mark-read-at-message": (200, "last_read_at"),
    "mark-read-invalid-read-at": (400, "invalid_read_at"),
    "mark-read-not-member": (404, "message_group_not_found"),
    "unread-badge": (200, "messages"),
    "users-short": (200, "display_name"),
    "users-short-unknown": (404, "user_not_found"),
}


def function_of_route(aws, route_key: str) -> str:
    method, path = route_key.split(" ", 1)
    [logical_id] = [logical_id for logical_id, spec in local_function_specs(aws.resources, aws.stream_arn).items()
                    if any((route.method, route.path) == (method, path) for route in spec.routes)]
    return logical_id


def test_every_api_event_file_is_covered() -> None:
    files = {path.stem for path in EVENTS_DIR.glob("*.json")
             if json.loads(path.read_text()).get("version") == "2.0"}  # API Gateway HTTP API events
    assert files == set(EXPECTED)


def test_every_event_file_gives_its_answer(aws, seeded, subtests) -> None:
    for name, (status, code) in EXPECTED.items():
        with subtests.test(name):
            event = load_event(name)
            before = snapshot(aws.table)
            response = aws.invoke(function_of_route(aws, event["routeKey"]), event)
            if status == 200:
                body = ok(response)
                if code:
                    assert code in body
                else:
                    assert isinstance(body, list) and body
            else:
                assert_error(response, status, code)
                assert snapshot(aws.table) == before


def test_seeded_conversation_is_what_the_list_events_show(aws, seeded) -> None:
    [group] = ok(aws.invoke("ListGroupsFunction", load_event("list-groups")))
    assert group["uuid"] == SEED_GROUP_UUID and group["handle"] == "bayko"
    assert len(ok(aws.invoke("ListMessagesFunction", load_event("list-messages")))) == len(seeded)
