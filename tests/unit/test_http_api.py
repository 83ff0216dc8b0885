"""``respond``: the route API Gateway matched (``routeKey``) from the function's route table, and the error contract.

The route tables themselves are checked against the template by ``devtools/openapi.py`` (a table that is not
exactly the function's routes stops the generator, which test_openapi.py runs).
"""
from __future__ import annotations

import json
from typing import Any

from cruddur_messaging.errors import DependencyUnavailable, RequestInProgress
from cruddur_messaging.http.api import HttpRequest, HttpResponse, json_response, respond

LIST = "GET /api/message_groups"
BADGE = "GET /api/message_groups/unread"


def event(route_key: str | None) -> dict[str, Any]:
    return {"version": "2.0", "routeKey": route_key, "rawPath": "/api/message_groups/unread", "headers": {}}


def answering(name: str):
    def route(request: HttpRequest) -> HttpResponse:
        return json_response({"route": name, "path": request.raw_path})
    return route


ROUTES = {LIST: answering("list"), BADGE: answering("badge")}


def test_the_route_of_the_event_s_route_key_answers() -> None:
    assert json.loads(respond(ROUTES, event(BADGE))["body"])["route"] == "badge"
    assert json.loads(respond(ROUTES, event(LIST))["body"])["route"] == "list"


def test_a_route_key_outside_the_table_is_our_bug_not_a_client_404() -> None:
    for route_key in ("POST /api/message_groups", None):
        response = respond(ROUTES, event(route_key))
        assert response["statusCode"] == 500
        assert json.loads(response["body"])["code"] == "internal_error"


def test_errors_that_may_pass_say_when_to_retry() -> None:
    def raising(error: Exception):
        def route(request: HttpRequest) -> HttpResponse:
            raise error
        return {LIST: route}

    in_progress = respond(raising(RequestInProgress("Still running.")), event(LIST))
    assert (in_progress["statusCode"], in_progress["headers"]["Retry-After"]) == (409, "1")
    unavailable = respond(raising(DependencyUnavailable("Down.")), event(LIST))
    assert (unavailable["statusCode"], unavailable["headers"]["Retry-After"]) == (503, "2")
    assert json.loads(unavailable["body"]) == {"code": "dependency_unavailable", "message": "Down."}
