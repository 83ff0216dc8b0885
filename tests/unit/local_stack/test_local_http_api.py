"""The local HTTP API without sockets: the template's routes, payload 2.0 events, API Gateway's response rules
and CORS."""
from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import quote

import pytest

from devtools.environment import LocalResources, template_context
from devtools.local_stack.api_server import HttpApi, build_event, function_response, match_route, routes_of
from devtools.local_stack.cors import CorsPolicy
from devtools.local_stack.jwt_authorizer import Authorization, Unauthorized
from devtools.template import function_specs, http_api_spec, load_template, parameter_defaults

CONTEXT = template_context(LocalResources(table_name="t", parameters={
    "CognitoUserPoolId": "us-east-1_pool", "CognitoUserPoolClientId": "client"}), stream_arn="arn:stream")
SPECS = function_specs(load_template(), CONTEXT)
ORIGIN, = parameter_defaults(load_template())["CorsAllowedOrigins"]
"""The frontend's origin the template allows by default."""
CORS = http_api_spec(load_template(), CONTEXT).cors
"""The HTTP API's ``CorsConfiguration``, resolved: what API Gateway answers preflights and responses with."""


def concrete(path: str) -> tuple[str, dict[str, str]]:
    """A raw path for a route's path, each ``{parameter}`` given a value that needs percent-encoding, and the
    path parameters API Gateway hands the function for it (decoded)."""
    parameters = {name: f"@{name} 1" for name in re.findall(r"\{([A-Za-z0-9_]+)\}", path)}
    raw_path = re.sub(r"\{([A-Za-z0-9_]+)\}", lambda found: quote(parameters[found.group(1)], safe=""), path)
    return raw_path, parameters


def test_every_route_of_the_template_is_served_by_its_function() -> None:
    routes = routes_of(SPECS)
    declared = [(logical_id, route) for logical_id, spec in SPECS.items() for route in spec.routes]
    assert len(routes) == len(declared) > 0
    for logical_id, declared_route in declared:
        raw_path, parameters = concrete(declared_route.path)
        route, matched = match_route(routes, declared_route.method, raw_path)
        assert (route.route_key, route.function, route.authorized, matched) == (
            declared_route.route_key, logical_id, declared_route.authorized, parameters)
        other_methods = {"GET", "POST", "PUT", "PATCH", "DELETE"} - {
            candidate.method for candidate in routes if candidate.path == declared_route.path}
        near_misses = [(declared_route.method, f"{raw_path}/"), (declared_route.method, f"{raw_path}/a/b"),
                       *((method, raw_path) for method in sorted(other_methods))]
        for method, path in near_misses:
            found = match_route(routes, method, path)
            assert found is None or found[0].path != declared_route.path, (method, path)


def test_the_event_is_payload_format_2() -> None:
    route, parameters = match_route(routes_of(SPECS), "GET", "/api/messages/g%201")
    event = build_event(route=route, path_parameters=parameters, method="GET", raw_path="/api/messages/g%201",
                        raw_query="limit=5&x=1&x=2&empty=", source_ip="127.0.0.1", protocol="HTTP/1.1",
                        headers=[("Host", "127.0.0.1:3000"), ("User-Agent", "curl/8"), ("X-Multi", "a"),
                                 ("x-multi", "b"), ("Cookie", "a=1; b=2")],
                        body=b"", authorizer={"jwt": {"claims": {"sub": "s"}, "scopes": None}})
    assert event["version"] == "2.0"
    assert event["routeKey"] == event["requestContext"]["routeKey"] == "GET /api/messages/{message_group_uuid}"
    assert event["rawPath"] == "/api/messages/g%201"
    assert event["rawQueryString"] == "limit=5&x=1&x=2&empty="
    assert event["queryStringParameters"] == {"limit": "5", "x": "1,2", "empty": ""}
    assert event["pathParameters"] == {"message_group_uuid": "g 1"}
    assert event["headers"] == {"host": "127.0.0.1:3000", "user-agent": "curl/8", "x-multi": "a,b"}
    assert event["cookies"] == ["a=1", "b=2"]
    assert event["isBase64Encoded"] is False and "body" not in event
    context = event["requestContext"]
    assert context["stage"] == "$default"
    assert context["http"] == {"method": "GET", "path": "/api/messages/g%201", "protocol": "HTTP/1.1",
                               "sourceIp": "127.0.0.1", "userAgent": "curl/8"}
    assert context["authorizer"] == {"jwt": {"claims": {"sub": "s"}, "scopes": None}}
    assert isinstance(context["timeEpoch"], int) and context["requestId"]


def test_bodies_are_text_when_they_are_text_and_base64_otherwise() -> None:
    route, _ = match_route(routes_of(SPECS), "POST", "/api/messages")

    def event_for(content_type: str, body: bytes) -> dict[str, Any]:
        return build_event(route=route, path_parameters={}, method="POST", raw_path="/api/messages", raw_query="",
                           headers=[("content-type", content_type)], body=body, source_ip="::1",
                           protocol="HTTP/1.1", authorizer=None)

    text = event_for("application/json; charset=utf-8", '{"message":"héllo"}'.encode())
    assert (text["body"], text["isBase64Encoded"]) == ('{"message":"héllo"}', False)
    assert "queryStringParameters" not in text and "pathParameters" not in text and "authorizer" not in text[
        "requestContext"]
    binary = event_for("application/octet-stream", b"\x00\xff")
    assert (binary["body"], binary["isBase64Encoded"]) == (base64.b64encode(b"\x00\xff").decode(), True)


def test_function_results_become_http_responses_as_api_gateway_makes_them() -> None:
    response = function_response({"statusCode": 201, "headers": {"Content-Type": "application/json", "Link": "<x>"},
                                  "cookies": ["a=1", "b=2"], "body": '{"ok":true}', "isBase64Encoded": False,
                                  "multiValueHeaders": {"x-ignored": ["1"]}})
    assert response.status == 201
    assert response.headers == [("content-type", "application/json"), ("link", "<x>"), ("set-cookie", "a=1"),
                                ("set-cookie", "b=2")]
    assert response.body == b'{"ok":true}'
    assert function_response({"statusCode": 200, "body": base64.b64encode(b"\x01").decode(),
                              "isBase64Encoded": True}).body == b"\x01"
    inferred = function_response({"message": "no status code"})
    assert (inferred.status, inferred.headers, json.loads(inferred.body)) == (
        200, [("content-type", "application/json")], {"message": "no status code"})
    assert function_response("plain").body == b"plain"
    assert function_response({"statusCode": 204}).body == b""


def allowed(key: str) -> str:
    """A list of the template's ``CorsConfiguration`` as API Gateway writes it in a header: comma-separated."""
    return ",".join(CORS[key])


def test_cors_follows_the_templates_configuration() -> None:
    policy = CorsPolicy.from_configuration(CORS)
    assert policy.allow_origins == (ORIGIN,)
    preflight = policy.preflight_headers(ORIGIN)
    assert preflight["access-control-allow-origin"] == ORIGIN
    assert preflight["access-control-allow-methods"] == allowed("AllowMethods")
    assert preflight["access-control-allow-headers"] == allowed("AllowHeaders")
    assert preflight["access-control-max-age"] == str(CORS["MaxAge"])
    assert policy.response_headers(ORIGIN)["access-control-expose-headers"] == allowed("ExposeHeaders")
    assert policy.preflight_headers("http://evil.example") == {} == policy.response_headers(None)
    anyone = CorsPolicy(allow_origins=("*",))
    assert anyone.response_headers("http://x") == {"access-control-allow-origin": "*"}


class Runner:
    """Answers like a function that echoes the event, and records the calls."""

    def __init__(self, result: Any = None, error: Exception | None = None) -> None:
        self.specs = SPECS
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.result, self.error = result, error

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        self.calls.append((logical_id, event))
        if self.error:
            raise self.error
        return self.result if self.result is not None else {
            "statusCode": 200, "headers": {"access-control-allow-origin": "*"}, "body": json.dumps(event)}


class Authorizer:
    header_name = "authorization"

    def authorize(self, headers: dict[str, str], required_scopes: tuple[str, ...] = ()) -> Authorization:
        if headers.get("authorization") != "Bearer good":
            raise Unauthorized("bad token")
        return Authorization(claims={"sub": "s-1"}, scopes=list(required_scopes) or None)


def api(runner: Runner) -> HttpApi:
    return HttpApi(runner=runner, authorizer=Authorizer(),
                   cors=CorsPolicy.from_configuration(CORS))


def call(http_api: HttpApi, method: str, path: str, headers: list[tuple[str, str]] = (), body: bytes = b""):
    raw_path, _, raw_query = path.partition("?")
    return http_api.handle(method=method, raw_path=raw_path, raw_query=raw_query, headers=list(headers), body=body,
                           source_ip="127.0.0.1", protocol="HTTP/1.1")


def header(response: Any, name: str) -> str | None:
    return next((value for key, value in response.headers if key == name), None)


def test_a_protected_route_runs_its_function_with_the_authorizers_claims() -> None:
    runner = Runner()
    response = call(api(runner), "GET", "/api/message_groups?limit=2",
                    [("Authorization", "Bearer good"), ("Origin", ORIGIN)])
    assert response.status == 200
    (function, event), = runner.calls
    assert function == "ListGroupsFunction"
    assert event["requestContext"]["authorizer"] == {
        "jwt": {"claims": {"sub": "s-1"}, "scopes": ["aws.cognito.signin.user.admin"]}}
    # API Gateway replaces the function's CORS headers with its own.
    assert header(response, "access-control-allow-origin") == ORIGIN
    assert [name for name, _ in response.headers].count("access-control-allow-origin") == 1
    assert header(response, "apigw-requestid") == event["requestContext"]["requestId"]


@pytest.mark.parametrize("headers", [[], [("Authorization", "Bearer bad")]])
def test_a_rejected_token_is_a_401_and_the_function_never_runs(headers: list[tuple[str, str]]) -> None:
    runner = Runner()
    response = call(api(runner), "POST", "/api/messages", [*headers, ("Origin", ORIGIN)], b"{}")
    assert (response.status, json.loads(response.body)) == (401, {"message": "Unauthorized"})
    assert header(response, "access-control-allow-origin") == ORIGIN
    assert runner.calls == []


def test_a_public_route_needs_no_token() -> None:
    runner = Runner()
    assert call(api(runner), "GET", "/api/users/@bayko/short").status == 200
    assert "authorizer" not in runner.calls[0][1]["requestContext"]


def test_preflight_is_answered_for_any_path_without_a_token() -> None:
    runner = Runner()
    for path in ("/api/messages", "/api/messages/abc", "/not/a/route"):
        response = call(api(runner), "OPTIONS", path,
                        [("Origin", ORIGIN), ("Access-Control-Request-Method", "POST"),
                         ("Access-Control-Request-Headers", "authorization,content-type")])
        assert response.status == 204
        assert header(response, "access-control-allow-methods") == allowed("AllowMethods")
    assert runner.calls == []


def test_api_gateways_own_errors() -> None:
    assert json.loads(call(api(Runner()), "GET", "/nowhere").body) == {"message": "Not Found"}
    assert call(api(Runner()), "GET", "/api/messages").status == 404
    failing = call(api(Runner(error=RuntimeError("boom"))), "GET", "/api/users/x/short")
    assert (failing.status, json.loads(failing.body)) == (500, {"message": "Internal Server Error"})
