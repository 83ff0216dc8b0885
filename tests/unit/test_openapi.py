"""openapi.json is what the code says, and the error catalog it is built from is complete and true."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import fields

import pytest

from cruddur_messaging import errors
from cruddur_messaging.errors import ErrorCode
from cruddur_messaging.http.api import HttpRequest, respond
from cruddur_messaging.http.contract import (
    PRINTABLE_HEADER_PATTERN,
    WHITESPACE_CLASS,
    MessageInNewGroup,
    Operation,
)
from cruddur_messaging.models import CreatedMessage, Message, UserShort
from devtools.local_stack.swagger import serve
from devtools.openapi import DOCUMENT_PATH, Schemas, responses
from devtools.environment import LocalResources, template_context
from devtools.template import REPO_ROOT, function_specs, load_template

DOCUMENT = json.loads(DOCUMENT_PATH.read_text())


def test_the_committed_document_is_what_the_code_generates() -> None:
    # In a process of its own: the generator imports every function with its environment.
    result = subprocess.run([sys.executable, "-m", "devtools.openapi", "--check"], cwd=REPO_ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_every_route_of_the_template_is_documented_with_its_authorization() -> None:
    specs = function_specs(load_template(), template_context(LocalResources(table_name="t"), stream_arn="-"))
    routes = [(route, spec) for spec in specs.values() for route in spec.routes]
    assert routes
    documented = {(path, method.upper()) for path, item in DOCUMENT["paths"].items() for method in item}
    assert documented == {(route.path, route.method) for route, _ in routes}
    for route, spec in routes:
        operation = DOCUMENT["paths"][route.path][route.method.lower()]
        assert operation["x-lambda-function"] == spec.logical_id
        assert bool(operation["security"]) == route.authorized
        assert "200" in operation["responses"]


def test_every_documented_error_code_has_its_status_from_the_catalog() -> None:
    seen = set()
    for item in DOCUMENT["paths"].values():
        for operation in item.values():
            for status, response in operation["responses"].items():
                schema = response["content"]["application/json"]["schema"]
                for option in schema.get("oneOf", [schema]):
                    for code in option.get("properties", {}).get("code", {}).get("enum", []):
                        assert ErrorCode(code).status == int(status), code
                        seen.add(code)
    assert seen == set(ErrorCode)


# Every error class a code can be given to (WriteOutcomeUnknown is DependencyUnavailable's, with what is in doubt).
API_ERRORS = [error for error in vars(errors).values() if isinstance(error, type) and issubclass(error, errors.ApiError)
              and error not in (errors.ApiError, errors.WriteOutcomeUnknown)]


@pytest.mark.parametrize("error", API_ERRORS, ids=lambda error: error.__name__)
def test_an_error_answers_only_codes_of_the_catalog_with_its_own_status(error: type[errors.ApiError]) -> None:
    own = [code for code in ErrorCode if code.status == error.status]
    others = [code for code in ErrorCode if code.status != error.status]
    assert own and others
    fixed = getattr(error, "code", None)
    for code in own:
        if fixed is None or code == fixed:
            assert (error("m", code=code).code, error("m", code=code).status) == (code, code.status)
    for code in others:
        with pytest.raises(TypeError, match=error.__name__):
            error("m", code=code)
    with pytest.raises(ValueError):
        error("m", code="not_in_the_catalog")  # type: ignore[arg-type]


def test_an_error_is_answered_with_its_code_and_the_code_s_status() -> None:
    def refuse(_request: HttpRequest) -> dict:
        raise errors.NotFound("No user with the handle @nobody.", code=ErrorCode.USER_NOT_FOUND)

    def crash(_request: HttpRequest) -> dict:
        raise RuntimeError("a bug")

    refused = respond({"GET /x": refuse}, {"routeKey": "GET /x"})
    assert (refused["statusCode"], json.loads(refused["body"])["code"]) == (404, "user_not_found")
    crashed = respond({"GET /x": crash}, {"routeKey": "GET /x"})
    assert (crashed["statusCode"], json.loads(crashed["body"])["code"]) == (500, "internal_error")


def test_an_operation_declares_its_codes_from_the_catalog() -> None:
    with pytest.raises(ValueError, match="ErrorCode"):
        Operation(success=UserShort, errors=("user_not_found",))  # type: ignore[arg-type]


@pytest.mark.parametrize(("status", "success", "content"), [(200, UserShort, True), (201, UserShort, True),
                                                            (204, None, False)])
def test_the_document_states_the_success_status_an_operation_declares(status: int, success: object,
                                                                      content: bool) -> None:
    answers = responses(Operation(success=success, errors=(ErrorCode.USER_NOT_FOUND,), success_status=status),
                        Schemas(), authorized=False)
    assert [int(key) for key in answers if key.startswith("2")] == [status]
    assert ("content" in answers[str(status)]) is content
    assert answers["404"]["content"]["application/json"]["schema"]["properties"]["code"]["enum"] == [
        "user_not_found"]


@pytest.mark.parametrize(("status", "success"), [(204, UserShort), (200, None), (201, None), (302, UserShort),
                                                 (400, UserShort)])
def test_an_operation_refuses_a_success_status_at_odds_with_its_body(status: int, success: object) -> None:
    with pytest.raises(ValueError):
        Operation(success=success, errors=(), success_status=status)


def test_the_message_pattern_calls_blank_what_the_domain_calls_blank() -> None:
    whitespace = {chr(point) for point in range(sys.maxunicode + 1) if chr(point).isspace()}
    # JSON Schema patterns are ECMA-262 regular expressions; this class means the same in Python's re.
    spelled = {chr(point) for point in range(sys.maxunicode + 1) if re.fullmatch(f"[{WHITESPACE_CLASS}]", chr(point))}
    assert spelled == whitespace


def test_the_idempotency_key_pattern_is_what_the_domain_accepts_in_a_header() -> None:
    latin1 = [chr(point) for point in range(256)]
    assert [c for c in latin1 if re.fullmatch(PRINTABLE_HEADER_PATTERN, c)] == [c for c in latin1 if c.isprintable()]


def test_the_documented_message_bodies_are_what_create_message_answers() -> None:
    message = Message(uuid="m", display_name="d", handle="h", message="x", created_at="t")
    assert set(CreatedMessage(message).to_body()) == {field.name for field in fields(Message)}
    assert set(CreatedMessage(message, "g").to_body()) == {field.name for field in fields(MessageInNewGroup)}
    schemas = DOCUMENT["components"]["schemas"]
    assert set(schemas["MessageInNewGroup"]["required"]) == {field.name for field in fields(MessageInNewGroup)}
    assert schemas["Message"]["additionalProperties"] is False


def test_swagger_ui_and_the_document_are_served_offline() -> None:
    status, headers, page = serve("GET", "/swagger")
    assert status == 200 and ("content-type", "text/html; charset=utf-8") in headers
    assets = re.findall(r'(?:src|href)="(/swagger/[^"]+)"', page.decode())
    assert assets
    for asset in assets:
        found = serve("GET", asset)
        assert found is not None and found[0] == 200 and len(found[2]) > 1000, asset
    assert json.loads(serve("GET", "/openapi.json")[2]) == DOCUMENT
    assert serve("GET", "/swagger/../openapi.json") is None
    assert serve("POST", "/openapi.json") is None
    assert serve("GET", "/api/message_groups") is None
