"""Writes ``openapi.json``, the OpenAPI 3 document of the HTTP API, from the code (``make openapi``).

Everything in it comes from what runs: the routes, methods and authorizers of ``template.yaml``; each function's
route contract (``@operation`` in its ``app.py``: parameters, request body, success status and body, error
codes), whose summary and description are the route function's docstring; the error catalog
(``cruddur_messaging.errors.ErrorCode``: each code's status); the response bodies' dataclasses
(``cruddur_messaging.models``), turned into JSON schemas by pydantic here, at build time, so the functions never
import it. ``--check`` fails when the committed document is stale (tests/unit/test_openapi.py runs it).
"""
from __future__ import annotations

import inspect
import json
import os
import sys
from http import HTTPStatus
from typing import Any, Callable

from devtools.environment import LocalResources, function_environment, template_context
from devtools.functions import load_handler_module
from devtools.generated_files import write_or_check
from devtools.template import REPO_ROOT, FunctionSpec, HttpRoute, function_specs, http_api_spec, load_template

DOCUMENT_PATH = REPO_ROOT / "openapi.json"
SCHEMA_REF = "#/components/schemas/{model}"
SECURITY_SCHEME = "CognitoAccessToken"
# What API Gateway itself answers on a protected route (its authorizer): {"message": "Unauthorized"} and the like.
GATEWAY_STATUSES = (401, 403)
# What API Gateway answers itself on any route when a request is over its limits (10,240 bytes of request line or
# of headers, 10 MB of body): {"message": ...}, before any function runs.
GATEWAY_LIMIT_STATUSES = (413, 414, 431)
# API Gateway's own answer to a request over the stage's throttle (ApiThrottlingBurstLimit, ApiThrottlingRateLimit),
# {"message": "Too Many Requests"}: on a route whose function also answers 429 (a sender's limit), either body.
GATEWAY_THROTTLE_STATUS = 429
# The statuses that come with Retry-After: try again after that many seconds.
RETRY_AFTER_STATUSES = (409, 429, 503)
DESCRIPTION = """\
Direct messages between Cruddur users: your conversations, a conversation's messages, sending a message,
marking a conversation read (and the unread badge), catching up on what changed since a token (sync), and looking
a user up.

**Errors** are JSON objects `{"code", "message"}`: `code` is stable and machine-readable (each response lists
the codes it can carry), `message` is for people. 400 is a malformed request, 422 a well-formed one that breaks
a rule. API Gateway's own answers (a refused token, an unknown route) are `{"message"}`.

**Pagination**: list routes take `limit` and `cursor`; when there is more, a `Link: <...>; rel="next"` header
holds the URL of the next page.
"""


def route_contracts(specs: dict[str, FunctionSpec]) -> list[tuple[FunctionSpec, HttpRoute, Callable[..., Any]]]:
    """Each route of the template with its function and the route function that serves it (from the function's
    route table, ``ROUTES``, keyed as API Gateway keys routes), which carries an ``@operation`` contract."""
    found = []
    for spec in specs.values():
        if not spec.routes:
            continue
        os.environ.update(function_environment(LocalResources(table_name="cruddur-messages"), None, spec.logical_id))
        table = getattr(load_handler_module(spec), "ROUTES", {})
        declared = {route.route_key: route for route in spec.routes}
        if set(table) != set(declared):
            raise SystemExit(f"{spec.logical_id}: its ROUTES serve {sorted(table)}, the template routes "
                             f"{sorted(declared)} to it")
        for key, route in declared.items():
            if not hasattr(table[key], "operation"):
                raise SystemExit(f"{spec.logical_id}: {table[key].__name__} ({key}) has no @operation contract")
            found.append((spec, route, table[key]))
    return found


class Schemas:
    """JSON schemas of the models, collected as components and referred to by ``$ref``."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def of(self, model: Any) -> dict[str, Any]:
        from pydantic import TypeAdapter  # build time only

        schema = TypeAdapter(model).json_schema(ref_template=SCHEMA_REF)
        for name, definition in schema.pop("$defs", {}).items():
            self._add(name, definition)
        if schema.get("type") == "object" and "title" in schema:
            name = schema["title"]
            self._add(name, schema)
            return {"$ref": SCHEMA_REF.format(model=name)}
        return schema

    def _add(self, name: str, schema: dict[str, Any]) -> None:
        schema = {key: value for key, value in schema.items() if key != "title"}
        properties = schema.get("properties", {})
        for field_name, field in properties.items():
            properties[field_name] = as_openapi_30(field)
        # The bodies are exactly these fields, every one always present (a dataclass's asdict, defaults included):
        # a missing or an extra one would be a change of contract.
        self.components[name] = {**schema, "required": list(properties), "additionalProperties": False}


def as_openapi_30(field: dict[str, Any]) -> dict[str, Any]:
    """A response field's JSON schema as OpenAPI 3.0 writes it: ``T | None`` is ``nullable``, not a ``null``
    type; no title; no default (an answer always carries the field)."""
    field = {key: value for key, value in field.items() if key not in ("title", "default")}
    options = field.get("anyOf", [])
    if {"type": "null"} in options and len(options) == 2:
        (other,) = [option for option in options if option != {"type": "null"}]
        field = {**{key: value for key, value in field.items() if key != "anyOf"}, **other, "nullable": True}
    return field


def error_schema(codes: list[str]) -> dict[str, Any]:
    return {"type": "object", "required": ["code", "message"], "additionalProperties": False,
            "properties": {"code": {"type": "string", "enum": codes},
                           "message": {"type": "string", "description": "For people; may change."}}}


def responses(contract: Any, schemas: Schemas, authorized: bool) -> dict[str, Any]:
    """The operation's answers: its declared success status (with its body, unless a 204), each status of its
    declared error codes (the codes' statuses are the catalog's), and what API Gateway answers itself."""
    success: dict[str, Any] = {"description": HTTPStatus(contract.success_status).phrase}
    if contract.success is not None:
        success["content"] = {"application/json": {"schema": schemas.of(contract.success)}}
    if contract.success_headers:
        success["headers"] = {name: {"$ref": f"#/components/headers/{name}"} for name in contract.success_headers}
    if contract.links:
        success["links"] = {link.name: {"operationId": link.operation_id,
                                        **({"parameters": link.parameters} if link.parameters else {}),
                                        **({"requestBody": link.request_body} if link.request_body else {})}
                            for link in contract.links}
    answers: dict[str, Any] = {str(contract.success_status): success}
    by_status: dict[int, list[str]] = {}
    for code in contract.errors:
        by_status.setdefault(code.status, []).append(code.value)
    if authorized:
        for status in GATEWAY_STATUSES:
            by_status.setdefault(status, [])
    for status in GATEWAY_LIMIT_STATUSES:
        by_status.setdefault(status, [])
    for status in sorted(by_status):
        schema = error_schema(by_status[status]) if by_status[status] else None
        if status in GATEWAY_LIMIT_STATUSES or (authorized and status in GATEWAY_STATUSES) or \
                status == GATEWAY_THROTTLE_STATUS:
            gateway = {"$ref": SCHEMA_REF.format(model="GatewayError")}
            schema = {"oneOf": [schema, gateway]} if schema else gateway
        answer: dict[str, Any] = {"description": STATUS_DESCRIPTIONS[status],
                                  "content": {"application/json": {"schema": schema}}}
        if status in RETRY_AFTER_STATUSES:
            answer["headers"] = {"Retry-After": {"$ref": "#/components/headers/Retry-After"}}
        answers[str(status)] = answer
    return answers


STATUS_DESCRIPTIONS = {
    400: "A malformed request.",
    401: "No valid access token (from API Gateway's authorizer), or no verified caller.",
    403: "A token without the API's scope (from API Gateway), or a caller who is not a Cruddur user.",
    404: "No such resource, or one you may not see (a group you are not a member of).",
    409: "A request with this Idempotency-Key is still being processed: retry later.",
    410: "No longer served (a sync token too old): reload, then start again.",
    413: "The body is over API Gateway's 10 MB (from API Gateway).",
    414: "The request line is over API Gateway's 10,240 bytes (from API Gateway).",
    431: "The headers are over API Gateway's 10,240 bytes (from API Gateway).",
    422: "A well-formed request that breaks a rule.",
    429: "Over the sender's limit (with Retry-After), or over the API's throttle (from API Gateway).",
    500: "A bug on our side.",
    503: "A dependency is unavailable: retry later (with the same Idempotency-Key, a write is not repeated).",
}


def build_document() -> dict[str, Any]:
    template = load_template()
    # The authorizer's pool and client ids do not show in the document; any value resolves the template.
    resources = LocalResources(table_name="cruddur-messages",
                               parameters={"CognitoUserPoolId": "-", "CognitoUserPoolClientId": "-"})
    context = template_context(resources, template, stream_arn="-")
    api = http_api_spec(template, context)
    scopes = sorted({scope for spec in function_specs(template, context).values()
                     for route in spec.routes for scope in route.scopes})
    schemas = Schemas()
    paths: dict[str, Any] = {}
    for spec, route, route_function in route_contracts(function_specs(template, context)):
        contract = route_function.operation
        summary, _, description = inspect.getdoc(route_function).partition("\n")
        operation: dict[str, Any] = {
            "operationId": route_function.__name__,
            "summary": summary.strip(),
            "description": " ".join(description.split()),
            "x-lambda-function": spec.logical_id,
            "security": [{SECURITY_SCHEME: list(route.scopes)}] if route.authorized else [],
        }
        if contract.parameters:
            operation["parameters"] = [
                {"name": parameter.name, "in": parameter.location, "required": parameter.required,
                 "description": parameter.description, "schema": parameter.schema}
                for parameter in contract.parameters]
        if contract.request_body is not None:
            media_type: dict[str, Any] = {"schema": contract.request_body}
            if contract.request_example is not None:
                media_type["example"] = contract.request_example
            operation["requestBody"] = {"required": contract.request_body_required,
                                        "content": {"application/json": media_type}}
        operation["responses"] = responses(contract, schemas, route.authorized)
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    authorizer = api.default_authorizer
    schemas.components["GatewayError"] = {
        "type": "object", "required": ["message"], "properties": {"message": {"type": "string"}},
        # Exactly API Gateway's shape: our own errors carry a `code` too, so an answer is one of the two, never both.
        "additionalProperties": False,
        "description": "An answer of API Gateway itself, e.g. {\"message\": \"Unauthorized\"}."}
    return {
        "openapi": "3.0.3",
        "info": {"title": "Cruddur Messaging API", "version": "1.0.0", "description": DESCRIPTION},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.components.items())),
            "headers": {
                "Link": {"description": 'The next page: `<url>; rel="next"` (RFC 8288).',
                         "schema": {"type": "string"}},
                "Cache-Control": {"description": "How long the answer may be kept (`public, max-age=<seconds>`).",
                                  "schema": {"type": "string"}},
                "Retry-After": {"description": "Seconds to wait before retrying.",
                                "schema": {"type": "integer", "minimum": 0}},
            },
            "securitySchemes": {SECURITY_SCHEME: {
                "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                "description": ("A Cognito access token of the user pool (ID tokens are refused), sent as "
                                f"`{authorizer.identity_source.rsplit('.', 1)[-1]}: Bearer <token>`, with the "
                                f"scope {', '.join(scopes)}." if authorizer else "A Cognito access token."),
            }},
        },
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    return write_or_check(DOCUMENT_PATH, lambda _current: render(build_document()), __doc__.split("\n\n")[0], argv)


if __name__ == "__main__":
    sys.exit(main())
