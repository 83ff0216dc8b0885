"""Every error of docs/errors.md, through the handlers, starting from the files in ``events/``.

Each is a JSON object ``{code, message}`` with its status, and writes nothing; bad input is never a 5xx.
(The error files of ``events/`` themselves are run in test_events.py.) Cases that need no state of their own
share one table (``subtests``), which keeps the suite fast.
"""
from __future__ import annotations

import base64
import json
from typing import Any

from tests.support.api import assert_error, ok
from tests.support.client import Caller, create_message_event, list_groups_event, list_messages_event
from tests.support.events import SEED_GROUP_UUID, as_user, load_event, with_body, with_group, with_query
from tests.support.people import ANDREW, LONDO, UNKNOWN_COGNITO_USER_ID
from tests.support.table import snapshot

UNKNOWN_GROUP = "00000000-0000-4000-8000-000000000000"
FUNCTION_OF_EVENT = {"list-groups": "ListGroupsFunction", "list-messages": "ListMessagesFunction",
                     "create-message": "CreateMessageFunction", "users-short": "UsersShortFunction"}


def function_for(event_name: str) -> str:
    return next(function for prefix, function in FUNCTION_OF_EVENT.items() if event_name.startswith(prefix))


def test_error_bodies_are_json_never_html_or_empty(aws, seeded) -> None:
    response = aws.invoke("ListMessagesFunction", load_event("list-messages-not-member"))
    assert response["headers"]["Content-Type"] == "application/json"
    assert json.loads(response["body"]) == {"code": "message_group_not_found", "message": "No such message group."}


# -- 400 ---------------------------------------------------------------------------------------------------------

def test_malformed_create_message_bodies_are_400(aws, seeded, subtests) -> None:
    cases = {
        "empty": ("", "invalid_body"),
        "null": ("null", "invalid_body"),
        "array": ("[]", "invalid_body"),
        "string": ('"just a string"', "invalid_body"),
        "python-literal": ("{'message': 'single quotes'}", "invalid_json"),
        "truncated": ('{"message": "Hi", "handle": "bayko"', "invalid_json"),
        "nested-too-deep": ("[" * 100_000 + "]" * 100_000, "invalid_json"),
        "message-number": ('{"message": 5, "handle": "bayko"}', "invalid_message"),
        "lone-surrogate": ('{"message": "\\ud800", "handle": "bayko"}', "invalid_message"),
        "both-targets": (json.dumps({"message": "Hi", "handle": "bayko", "message_group_uuid": SEED_GROUP_UUID}),
                         "message_group_uuid_or_handle_required"),
        "bad-uuid": ('{"message": "Hi", "message_group_uuid": "nope"}', "invalid_message_group_uuid"),
        "bad-handle": ('{"message": "Hi", "handle": "no spaces allowed"}', "invalid_handle"),
    }
    before = snapshot(aws.table)
    for name, (body, code) in cases.items():
        with subtests.test(name):
            event = with_body(load_event("create-message-into-group"), body)
            assert_error(aws.invoke("CreateMessageFunction", event), 400, code)
    assert snapshot(aws.table) == before


def test_base64_bodies(aws, seeded) -> None:
    event = load_event("create-message-into-group")
    event["body"], event["isBase64Encoded"] = base64.b64encode(b"\xff\xfe{").decode(), True
    assert_error(aws.invoke("CreateMessageFunction", event), 400, "invalid_json")
    event = load_event("create-message-into-group")
    event["body"], event["isBase64Encoded"] = base64.b64encode(event["body"].encode()).decode(), True
    assert ok(aws.invoke("CreateMessageFunction", event))["message"] == "Ambassador, the Vorlons are here."


def test_bad_limit_and_bad_cursor_are_400_on_both_list_routes(aws, seeded, subtests) -> None:
    limits = ["0", "101", "-5", "ten", "2.5", "", "²", "٣", "9" * 5000]
    cursors = ["garbage", "é.é", "abc.", ".abc", "x" * 3000, "a.b.c", "%"]
    routes = {
        "list-groups": lambda **query: list_groups_event(ANDREW, **query),
        "list-messages": lambda **query: list_messages_event(ANDREW, SEED_GROUP_UUID, **query),
    }
    for route, event_of in routes.items():
        for limit in limits:
            with subtests.test(route=route, limit=limit[:10]):
                assert_error(aws.invoke(function_for(route), event_of(limit=limit)), 400, "invalid_limit")
        for cursor in cursors:
            with subtests.test(route=route, cursor=cursor[:10]):
                assert_error(aws.invoke(function_for(route), event_of(cursor=cursor)), 400, "invalid_cursor")


def test_malformed_group_in_the_path_is_400(aws, subtests) -> None:
    for group in ["not-a-uuid", "5ae290ed-55d1-47a0-bc6d", "ñ" * 36, "%20", SEED_GROUP_UUID + "0"]:
        with subtests.test(group=group):
            event = with_group(as_user(load_event("list-messages"), "andrewbrown"), group)
            assert_error(aws.invoke("ListMessagesFunction", event), 400, "invalid_message_group_uuid")


def test_bad_idempotency_key_is_400(aws, seeded, subtests) -> None:
    before = snapshot(aws.table)
    for name, key in {"empty": "", "too-long": "k" * 256, "unprintable": "tab\tin key"}.items():
        with subtests.test(name):
            event = create_message_event(ANDREW, {"message": "Hi", "message_group_uuid": SEED_GROUP_UUID}, key)
            assert_error(aws.invoke("CreateMessageFunction", event), 400, "invalid_idempotency_key")
    assert snapshot(aws.table) == before


def test_malformed_handle_on_users_short_is_400(aws, subtests) -> None:
    for handle in ["%00", "a%2Fb", "@", "x" * 65, "bay ko"]:
        with subtests.test(handle=handle):
            event = load_event("users-short")
            event["pathParameters"] = {"handle": handle}
            event["rawPath"] = event["requestContext"]["http"]["path"] = f"/api/users/{handle}/short"
            assert_error(aws.invoke("UsersShortFunction", event), 400, "invalid_handle")


# -- 401 / 403 ---------------------------------------------------------------------------------------------------

AUTHENTICATED = [
    ("ListGroupsFunction", "list-groups"),
    ("ListMessagesFunction", "list-messages"),
    ("CreateMessageFunction", "create-message-into-group"),
    ("CreateMessageFunction", "create-message-new-conversation"),
]


def without_claims(event: dict[str, Any]) -> dict[str, Any]:
    event["requestContext"].pop("authorizer", None)
    event["headers"].pop("authorization", None)
    return event


def test_no_claims_is_401_on_every_authenticated_route(aws, seeded, calls, subtests) -> None:
    before = snapshot(aws.table)
    for function, event_name in AUTHENTICATED:
        with subtests.test(event_name):
            calls.clear()
            assert_error(aws.invoke(function, without_claims(load_event(event_name))), 401, "unauthorized")
            assert calls.sql == [] and calls.dynamodb() == []
    event = load_event("list-groups")
    del event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"]
    assert_error(aws.invoke("ListGroupsFunction", event), 401, "unauthorized")
    assert snapshot(aws.table) == before


def test_caller_without_a_user_row_is_403_on_every_authenticated_route(aws, seeded, subtests) -> None:
    before = snapshot(aws.table)
    for function, event_name in AUTHENTICATED:
        with subtests.test(event_name):
            event = load_event(event_name)
            event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = UNKNOWN_COGNITO_USER_ID
            assert_error(aws.invoke(function, event), 403, "caller_not_registered")
    assert snapshot(aws.table) == before


# -- 404 ---------------------------------------------------------------------------------------------------------

def test_posting_into_an_unknown_group_is_404(aws) -> None:
    before = snapshot(aws.table)
    assert_error(Caller(aws, ANDREW).send("Anyone?", group=UNKNOWN_GROUP), 404, "message_group_not_found")
    assert snapshot(aws.table) == before


def test_a_foreign_group_looks_exactly_like_an_unknown_one(aws, seeded) -> None:
    foreign = Caller(aws, LONDO).list_messages(SEED_GROUP_UUID)
    unknown = Caller(aws, LONDO).list_messages(UNKNOWN_GROUP)
    assert (foreign["statusCode"], foreign["body"]) == (unknown["statusCode"], unknown["body"])
    foreign = Caller(aws, LONDO).send("Let me in", group=SEED_GROUP_UUID)
    unknown = Caller(aws, LONDO).send("Let me in", group=UNKNOWN_GROUP)
    assert (foreign["statusCode"], foreign["body"]) == (unknown["statusCode"], unknown["body"])


# -- 422 ---------------------------------------------------------------------------------------------------------

def test_messaging_yourself_is_422_whatever_the_spelling(aws, subtests) -> None:
    before = snapshot(aws.table)
    for handle in ["andrewbrown", "@andrewbrown", "AndrewBrown"]:
        with subtests.test(handle=handle):
            assert_error(Caller(aws, ANDREW).send("Me, myself", handle=handle), 422, "message_self")
    assert snapshot(aws.table) == before


def test_blank_and_too_long_are_refused_when_starting_a_conversation_too(aws) -> None:
    before = snapshot(aws.table)
    assert_error(Caller(aws, ANDREW).send(" \n ", handle="bayko"), 422, "message_blank")
    assert_error(Caller(aws, ANDREW).send("x" * 1025, handle="bayko"), 422, "message_exceed_max_chars")
    assert snapshot(aws.table) == before
    assert ok(Caller(aws, ANDREW).send("x" * 1024, handle="bayko"))["message"] == "x" * 1024


# -- never a 5xx -------------------------------------------------------------------------------------------------

def test_bad_input_never_yields_a_5xx(aws, seeded, subtests) -> None:
    """A sweep of odd requests over every route: any answer but a server error, and errors shaped as such."""
    events: list[tuple[str, dict[str, Any]]] = []
    for body in ["", "{", "[]", "0", "1e999", '{"message": null, "handle": null}', '{"message": {}, "handle": []}',
                 '{"message": "x", "message_group_uuid": 7}', '{"message": "x", "handle": "\\u0000"}',
                 '{"message": "\\udfff\\ud800", "message_group_uuid": "' + SEED_GROUP_UUID + '"}',
                 '{"message": "x", "message_group_uuid": "' + UNKNOWN_GROUP + '", "handle": null}']:
        events.append(("CreateMessageFunction", with_body(load_event("create-message-into-group"), body)))
    for query in [{"limit": "1e3"}, {"limit": "0x1"}, {"cursor": "%"}, {"cursor": "a.b.c"}, {"limit": "٣"},
                  {"cursor": "\ud800"}]:
        events.append(("ListGroupsFunction", with_query(load_event("list-groups"), **query)))
        events.append(("ListMessagesFunction", with_query(load_event("list-messages"), **query)))
    for group in ["..", "00000000-0000-0000-0000-000000000000", "5AE290ED-55D1-47A0-BC6D-FE2BC2700399x"]:
        events.append(("ListMessagesFunction", with_group(load_event("list-messages"), group)))
    for index, (function, event) in enumerate(events):
        with subtests.test(index=index, function=function, body=str(event.get("body"))[:40],
                           query=str(event.get("queryStringParameters"))[:40]):
            response = aws.invoke(function, event)
            assert response["statusCode"] < 500, response
            if response["statusCode"] != 200:
                assert set(json.loads(response["body"])) == {"code", "message"}
