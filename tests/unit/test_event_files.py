"""The files in ``events/`` are what AWS would send the functions whose routes or streams they name: API Gateway's
HTTP API payload 2.0 for a route of the template (path, query, authorizer context consistent with each other), a
WebSocket API event for a route of the template's WebSocket API, and DynamoDB Streams records from the template's
table that pass the consuming function's ``FilterCriteria``. A file that passes here and runs in
``tests/integration/test_events.py`` is a fixture ``sam local invoke -e`` and ``make invoke`` can trust."""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

import pytest

from devtools.environment import LOCAL_TABLE_NAME, LocalResources, local_function_specs, template_context
from devtools.local_stack.event_filter import EventPattern, matches_any
from devtools.template import HttpRoute, load_template, table_definition, websocket_api_spec
from cruddur_messaging.domain.live_callers import USER_UUID
from tests.support.events import EVENTS_DIR, SEED_COGNITO_IDS, SEED_USER_UUIDS

TABLE_NAME = LOCAL_TABLE_NAME
RESOURCES = LocalResources(table_name=TABLE_NAME)
SPECS = local_function_specs(RESOURCES, f"arn:aws:dynamodb:us-east-1:123456789012:table/{TABLE_NAME}/stream/x")
ROUTES = {route.route_key: (logical_id, route) for logical_id, spec in SPECS.items() for route in spec.routes}
WEBSOCKET = websocket_api_spec(load_template(), template_context(RESOURCES, load_template()))
EVENTS = {path.stem: json.loads(path.read_text()) for path in sorted(EVENTS_DIR.glob("*.json"))}
HTTP_EVENTS = sorted(name for name, event in EVENTS.items() if event.get("version") == "2.0")
WEBSOCKET_EVENTS = sorted(name for name, event in EVENTS.items()
                          if "version" not in event and event.get("requestContext", {}).get("eventType"))
STREAM_EVENTS = sorted(name for name, event in EVENTS.items() if "Records" in event)
# The one deliberate exception: API Gateway never invokes an authorized route without the JWT authorizer's
# context; the file checks that the handler refuses such an event rather than trusting it.
WITHOUT_AUTHORIZER = {"list-groups-no-claims"}
# The attributes a message item carries (docs/data-model.md), all of which the stream functions read.
MESSAGE_ATTRIBUTES = {"pk", "sk", "message_uuid", "message", "user_uuid", "user_handle", "user_display_name"}
STREAM_ARN = re.compile(r"^arn:aws:dynamodb:(?P<region>[a-z0-9-]+):\d{12}:table/(?P<table>[^/]+)/stream/.+$")


def test_every_event_file_is_of_a_known_kind() -> None:
    assert set(EVENTS) == {*HTTP_EVENTS, *WEBSOCKET_EVENTS, *STREAM_EVENTS}
    assert HTTP_EVENTS and WEBSOCKET_EVENTS and STREAM_EVENTS


def route_of(event: dict[str, Any]) -> HttpRoute:
    assert event["routeKey"] in ROUTES, f"{event['routeKey']} is not a route of template.yaml"
    return ROUTES[event["routeKey"]][1]


@pytest.mark.parametrize("name", HTTP_EVENTS)
def test_http_api_events_are_what_api_gateway_sends_for_their_route(name: str) -> None:
    event = EVENTS[name]
    route = route_of(event)
    context = event["requestContext"]
    assert {"version", "routeKey", "rawPath", "rawQueryString", "headers", "requestContext",
            "isBase64Encoded"} <= set(event)
    assert set(event) <= {"version", "routeKey", "rawPath", "rawQueryString", "cookies", "headers",
                          "queryStringParameters", "pathParameters", "stageVariables", "requestContext", "body",
                          "isBase64Encoded"}
    assert context["routeKey"] == event["routeKey"] and context["stage"] == "$default"
    assert context["http"]["method"] == route.method and context["http"]["path"] == event["rawPath"]
    assert datetime.fromtimestamp(context["timeEpoch"] / 1000, timezone.utc).strftime(
        "%d/%b/%Y:%H:%M:%S +0000") == context["time"]
    assert all(header == header.lower() for header in event["headers"]), "API Gateway lowercases header names"

    parameters = re.findall(r"\{(\w+)\}", route.path)
    assert set(event.get("pathParameters") or {}) == set(parameters)
    assert route.path.format(**(event.get("pathParameters") or {})) == event["rawPath"]
    assert event["rawQueryString"] == urlencode(event.get("queryStringParameters") or {}, safe="@")

    assert event["isBase64Encoded"] is False
    if "body" in event:
        assert isinstance(event["body"], str) and event["headers"]["content-type"] == "application/json"


@pytest.mark.parametrize("name", HTTP_EVENTS)
def test_http_api_events_carry_the_authorizer_context_their_route_gets(name: str) -> None:
    event = EVENTS[name]
    route = route_of(event)
    authorizer = event["requestContext"].get("authorizer")
    if not route.authorized or name in WITHOUT_AUTHORIZER:
        assert authorizer is None
        return
    claims = authorizer["jwt"]["claims"]
    assert event["headers"]["authorization"].startswith("Bearer ")
    assert claims["token_use"] == "access" and claims["client_id"]
    assert set(route.scopes) <= set(claims["scope"].split()), "the route's AuthorizationScopes would refuse it"
    assert SEED_COGNITO_IDS[claims["username"]] == claims["sub"], "a seed user, as the seed's users table has it"
    assert int(claims["iat"]) <= event["requestContext"]["timeEpoch"] // 1000 < int(claims["exp"])


def test_the_exception_is_an_authorized_route() -> None:
    for name in WITHOUT_AUTHORIZER:
        assert route_of(EVENTS[name]).authorized and "authorizer" not in EVENTS[name]["requestContext"]


@pytest.mark.parametrize("name", WEBSOCKET_EVENTS)
def test_websocket_events_are_for_a_route_of_the_websocket_api(name: str) -> None:
    assert WEBSOCKET is not None
    event = EVENTS[name]
    context = event["requestContext"]
    route = WEBSOCKET.routes[context["routeKey"]]
    assert context["stage"] == WEBSOCKET.stage
    assert context["eventType"] == {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}.get(route.route_key,
                                                                                            "MESSAGE")
    assert context["connectionId"] and context["connectedAt"] <= context["requestTimeEpoch"]
    if event.get("type") == "REQUEST":  # the $connect authorizer's own event
        assert route.authorizer_function and event["methodArn"].endswith(f"/{WEBSOCKET.stage}/{route.route_key}")
    elif context["eventType"] == "MESSAGE":
        assert isinstance(event["body"], str)


@pytest.mark.parametrize("name", [name for name in WEBSOCKET_EVENTS if EVENTS[name].get("type") != "REQUEST"])
def test_websocket_route_events_carry_the_authorizers_context_of_a_seed_user(name: str) -> None:
    """API Gateway passes the context the ``$connect`` authorizer returned to every route of the connection, as
    ``requestContext.authorizer`` with ``principalId`` and ``integrationLatency``: here a seed user's, whose uuid is
    the one PostgreSQL holds for the ``sub`` (the routes never look it up)."""
    authorizer = EVENTS[name]["requestContext"]["authorizer"]
    [handle] = [handle for handle, sub in SEED_COGNITO_IDS.items() if sub == authorizer["sub"]]
    assert authorizer["principalId"] == authorizer["sub"]
    assert authorizer[USER_UUID] == SEED_USER_UUIDS[handle]
    assert isinstance(authorizer["integrationLatency"], int)
    assert all(isinstance(value, str) for key, value in authorizer.items() if key != "integrationLatency")


def consumer_of(records: list[dict[str, Any]]) -> str:
    """The function whose stream event's filters let every record through (the files name no function)."""
    matching = [logical_id for logical_id, spec in SPECS.items() for stream_event in spec.stream_events
                if all(matches_any([EventPattern.parse(criterion["Pattern"]) for criterion in
                                    stream_event.properties["FilterCriteria"]["Filters"]], record)
                       for record in records)]
    assert matching, "no stream function's FilterCriteria let every record of the file through"
    return matching[0]


@pytest.mark.parametrize("name", STREAM_EVENTS)
def test_stream_events_are_records_of_the_tables_stream_that_reach_a_function(name: str) -> None:
    records = EVENTS[name]["Records"]
    consumer_of(records)
    table = table_definition(load_template(), template_context(RESOURCES, load_template()))
    keys = [key["AttributeName"] for key in table["KeySchema"]]
    view_type = table["StreamSpecification"]["StreamViewType"]
    assert len({record["eventID"] for record in records}) == len(records)
    for record in records:
        assert (record["eventSource"], record["eventVersion"]) == ("aws:dynamodb", "1.1")
        arn = STREAM_ARN.match(record["eventSourceARN"])
        assert arn and arn["table"] == TABLE_NAME and arn["region"] == record["awsRegion"]
        change = record["dynamodb"]
        assert change["StreamViewType"] == view_type and change["SequenceNumber"].isdigit()
        image = change["NewImage"] if record["eventName"] != "REMOVE" else change["OldImage"]
        assert change["Keys"] == {key: image[key] for key in keys}
        if record["eventName"] == "MODIFY":
            assert view_type == "NEW_AND_OLD_IMAGES" and change["OldImage"]["pk"] == image["pk"]
        if image["pk"]["S"].startswith("MSG#"):
            # A deleted message keeps everything but its text (docs/data-model.md).
            expected = MESSAGE_ATTRIBUTES - {"message"} if "deleted_at" in image else MESSAGE_ATTRIBUTES
            assert expected <= set(image), expected - set(image)
            assert "deleted_at" not in image or not {"message", "edited_at"} & set(image)
        assert all(len(value) == 1 for value in image.values()), "each attribute is one typed value"
