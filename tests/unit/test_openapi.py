"""openapi.json is what the code says, and the error catalog it is built from is complete and true."""
from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from dataclasses import fields

from cruddur_messaging import errors
from cruddur_messaging.http.contract import (
    ERROR_STATUSES,
    PRINTABLE_HEADER_PATTERN,
    WHITESPACE_CLASS,
    MessageInNewGroup,
)
from cruddur_messaging.models import CreatedMessage, Message
from devtools.local_stack.swagger import serve
from devtools.openapi import DOCUMENT_PATH
from devtools.environment import LocalResources, template_context
from devtools.template import REPO_ROOT, function_specs, load_template

LAYER = REPO_ROOT / "layers" / "shared" / "cruddur_messaging"
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
                        assert ERROR_STATUSES[code] == int(status), code
                        seen.add(code)
    assert seen == set(ERROR_STATUSES)


def raised_codes() -> set[tuple[str, int]]:
    """(code, status) of every ApiError the layer raises or answers with, read from its source."""
    classes = {name: cls for name, cls in vars(errors).items()
               if isinstance(cls, type) and issubclass(cls, errors.ApiError)}
    found = set()
    for path in LAYER.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
                continue
            if node.func.id in classes:
                error = classes[node.func.id]
                code = next((keyword.value.value for keyword in node.keywords if keyword.arg == "code"), error.code)
                found.add((code, error.status))
            elif node.func.id == "error_response" and all(isinstance(arg, ast.Constant) for arg in node.args[:2]):
                found.add((node.args[1].value, node.args[0].value))
    return found


def test_the_catalog_is_every_error_the_code_answers_with() -> None:
    assert raised_codes() == set(ERROR_STATUSES.items())


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
