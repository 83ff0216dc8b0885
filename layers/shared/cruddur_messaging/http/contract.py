"""What each route promises clients, declared next to its code: the source of the OpenAPI document.

A function's route is decorated with :func:`operation` (its parameters, body, success status and body, and the
codes of the catalog, ``errors.ErrorCode``, it can answer); ``devtools/openapi.py`` reads these declarations, the
routes and authorizers of ``template.yaml`` and the models' dataclasses, and writes ``openapi.json``. Nothing here
runs per request, and nothing imports pydantic: the document is generated at build time.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from cruddur_messaging.domain.validation import HANDLE_PATTERN
from cruddur_messaging.errors import ErrorCode
from cruddur_messaging.models import MESSAGE_MAX_CHARS, Message
from cruddur_messaging.pagination import DEFAULT_LIMIT, MAX_CURSOR_LENGTH, MAX_LIMIT

# Errors every route with a caller can answer: no verified caller, or one who is not a Cruddur user.
CALLER_ERRORS = (ErrorCode.UNAUTHORIZED, ErrorCode.CALLER_NOT_REGISTERED)
# Errors any route can answer: a bug, or PostgreSQL/DynamoDB down after bounded retries (with Retry-After).
SERVICE_ERRORS = (ErrorCode.INTERNAL_ERROR, ErrorCode.DEPENDENCY_UNAVAILABLE)


@dataclass(frozen=True)
class Parameter:
    name: str
    location: str  # "query", "path" or "header"
    schema: dict[str, Any]
    description: str
    required: bool = False


@dataclass(frozen=True)
class Operation:
    """One route's contract; its summary and description are the route function's docstring."""

    success: Any
    """The type of the success body: a models dataclass, ``list[...]`` of one, or a union of them; ``None`` for a
    204, which has no body."""
    errors: tuple[ErrorCode, ...]
    """Every code the route can answer, from the catalog (``errors.ErrorCode``)."""
    success_status: int = 200
    """The status of a success: 200, 201 for a route that creates something, 204 for one that answers nothing.
    The route answers it (``json_response(..., status=...)``); the OpenAPI document states it."""
    parameters: tuple[Parameter, ...] = ()
    request_body: dict[str, Any] | None = None
    """The JSON schema of the request body (validated by the domain, whose rules it states)."""
    request_body_required: bool = True
    request_example: dict[str, Any] | None = None
    """A request body as a client would send it (Swagger UI shows it; schemathesis sends it first)."""
    success_headers: tuple[str, ...] = ()
    links: tuple[Link, ...] = ()
    """Where a success leads: other routes whose parameters its body (or request) provides."""

    def __post_init__(self) -> None:
        if not 200 <= self.success_status < 300:
            raise ValueError(f"a success status is a 2xx, not {self.success_status}")
        if (self.success_status == 204) != (self.success is None):
            raise ValueError("a 204 and only a 204 has no success body (success=None)")
        unknown = [code for code in self.errors if not isinstance(code, ErrorCode)]
        if unknown:
            raise ValueError(f"error codes are errors.ErrorCode members, not {unknown}")


@dataclass(frozen=True)
class Link:
    """An OpenAPI link: ``operation_id``'s parameters (or request body fields) from runtime expressions
    (``$response.body#/0/uuid``)."""

    name: str
    operation_id: str
    parameters: dict[str, str] | None = None
    request_body: dict[str, str] | None = None


@dataclass(frozen=True, kw_only=True)
class MessageInNewGroup(Message):
    """A message that started (or resumed) a conversation by handle: also names the group."""

    message_group_uuid: str


PAGE_PARAMETERS = (
    Parameter("limit", "query", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
              "Items per page."),
    Parameter("cursor", "query", {"type": "string", "minLength": 1, "maxLength": MAX_CURSOR_LENGTH},
              "The next page: take it from the `Link` header of the previous page, never build one."),
)
PAGE_ERRORS = (ErrorCode.INVALID_LIMIT, ErrorCode.INVALID_CURSOR)
LINK_HEADER = "Link"
CACHE_CONTROL_HEADER = "Cache-Control"

HANDLE_SCHEMA = {"type": "string", "pattern": "^@?" + HANDLE_PATTERN.pattern.removeprefix("^")}
# What str.isspace() calls whitespace (the blank check strips it), spelled out: JSON Schema's \s differs from it.
WHITESPACE_CLASS = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
MESSAGE_SCHEMA = {"type": "string", "minLength": 1, "maxLength": MESSAGE_MAX_CHARS,
                  "pattern": f"[^{WHITESPACE_CLASS}]",
                  "description": f"Not blank, at most {MESSAGE_MAX_CHARS} characters."}
# str.isprintable() over the characters an HTTP header carries (ISO-8859-1): no controls, no soft hyphen, and
# no space but the ASCII one.
PRINTABLE_HEADER_PATTERN = r"^[\x20-\x7e\xa1-\xac\xae-\xff]+$"

Route = TypeVar("Route", bound=Callable[..., Any])


def operation(contract: Operation) -> Callable[[Route], Route]:
    """Attaches ``contract`` to a route function (read by the OpenAPI generator; no effect on requests)."""
    def attach(route: Route) -> Route:
        route.operation = contract  # type: ignore[attr-defined]
        return route
    return attach
