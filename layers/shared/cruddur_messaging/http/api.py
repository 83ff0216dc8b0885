"""The HTTP side of every API function: the request as a route reads it, JSON responses, the error contract.

API Gateway has already matched the method and path and verified the token, and says which of the function's
routes it matched (the event's ``routeKey``), so :func:`respond` only looks that key up in the function's route
table, runs the route and shapes the payload 2.0 response. Every error leaves as ``{"code": ..., "message":
...}`` with its status: an ApiError as it says, a body that is not JSON as a 400, anything unexpected as a 500
without internals. (No Powertools resolver: matching paths is API Gateway's job, and the resolver's import, with
every event source's data class, was a tenth of each cold start.)
"""
from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any, Callable, Mapping
from urllib.parse import urlencode

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from cruddur_messaging.errors import ApiError, BadRequest, ErrorCode
from cruddur_messaging.models import Page, PageRequest
from cruddur_messaging.observability import logger, metrics, tracer
from cruddur_messaging.pagination import parse_page_request

HttpResponse = dict[str, Any]
"""A payload format 2.0 response: ``statusCode``, ``headers``, ``body``."""


@dataclass(frozen=True)
class HttpRequest:
    """A payload format 2.0 event, as the routes read it."""

    event: Mapping[str, Any]

    @cached_property
    def headers(self) -> dict[str, str]:
        """Header names in lower case (API Gateway sends them so; a test event may not)."""
        return {name.lower(): value for name, value in (self.event.get("headers") or {}).items()}

    @property
    def query(self) -> dict[str, str]:
        return dict(self.event.get("queryStringParameters") or {})

    @property
    def raw_path(self) -> str:
        return self.event.get("rawPath") or ""

    def path_parameter(self, name: str) -> str:
        return (self.event.get("pathParameters") or {}).get(name, "")

    @property
    def caller_sub(self) -> str | None:
        """The Cognito user id the HTTP API's JWT authorizer verified (absent on unauthenticated routes)."""
        authorizer = (self.event.get("requestContext") or {}).get("authorizer") or {}
        claims = (authorizer.get("jwt") or {}).get("claims") or {}
        return claims.get("sub")

    @property
    def has_body(self) -> bool:
        return bool(self.event.get("body"))

    def json_body(self) -> Any:
        body = self.event.get("body")
        if not body:
            raise BadRequest("A JSON body is required.", code=ErrorCode.INVALID_BODY)
        try:
            raw = base64.b64decode(body, validate=True) if self.event.get("isBase64Encoded") else body
            return json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
        except (ValueError, RecursionError) as error:
            # Not JSON, not UTF-8, a broken base64 body, or nested too deep to parse: the client's fault, never a 500.
            raise BadRequest("The body is not valid JSON.", code=ErrorCode.INVALID_JSON) from error


Route = Callable[[HttpRequest], HttpResponse]
Routes = Mapping[str, Route]
"""A function's route table: its route functions by API Gateway route key (``"GET /api/message_groups"``), the
routes ``template.yaml`` gives the function, no more and no fewer (``devtools/openapi.py`` checks)."""


LambdaHandler = Callable[[dict, LambdaContext], HttpResponse]


def http_handler(routes: Routes, before: Callable[[LambdaContext], None] | None = None) -> LambdaHandler:
    """An API function's ``lambda_handler``: Powertools' logging (correlated by the request id), tracing and
    metrics around :func:`respond`; ``before`` runs first with the invocation's context."""

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
    @tracer.capture_lambda_handler
    @metrics.log_metrics
    def lambda_handler(event: dict, context: LambdaContext) -> HttpResponse:
        if before is not None:
            before(context)
        return respond(routes, event)

    return lambda_handler


def respond(routes: Routes, event: Mapping[str, Any]) -> HttpResponse:
    """Runs the route API Gateway matched (the event's ``routeKey``); errors become the contract's JSON answers.

    API Gateway invokes a function only for the routes the template gives it, so a route key missing from the
    table is a wiring bug on our side (a 500), not a client's 404.
    """
    try:
        route = routes[event.get("routeKey")]
        return route(HttpRequest(event))
    except ApiError as error:
        return api_error_response(error)
    except Exception:
        logger.exception("unexpected error")
        metrics.add_metric(name=f"Error_{ErrorCode.INTERNAL_ERROR}", unit=MetricUnit.Count, value=1)
        return error_response(ErrorCode.INTERNAL_ERROR, "Something went wrong on our side.")


def api_error_response(error: ApiError) -> HttpResponse:
    metrics.add_metric(name=f"Error_{error.code}", unit=MetricUnit.Count, value=1)
    headers = {}
    if error.retry_after_seconds is not None:
        headers["Retry-After"] = str(error.retry_after_seconds)
    logger.info("request refused", extra={"status": error.status, "code": error.code})
    return error_response(error.code, error.message, headers)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> HttpResponse:
    return {"statusCode": status, "headers": {"Content-Type": "application/json", **(headers or {})},
            "body": json.dumps(body, separators=(",", ":")), "isBase64Encoded": False}


def error_response(code: ErrorCode, message: str, headers: dict[str, str] | None = None) -> HttpResponse:
    """The error contract: ``{"code", "message"}`` with the code's status (``errors.ErrorCode``)."""
    return json_response({"code": code, "message": message}, code.status, headers)


def page_request(request: HttpRequest) -> PageRequest:
    return parse_page_request(request.query)


def page_response(request: HttpRequest, page: Page[Any]) -> HttpResponse:
    """The plain array the frontend reads, and a ``Link: <...>; rel="next"`` header when there is more."""
    headers = {}
    if page.next_cursor:
        query = {key: value for key, value in request.query.items() if key != "cursor"}
        query["cursor"] = page.next_cursor
        headers["Link"] = f'<{request.raw_path}?{urlencode(query)}>; rel="next"'
    return json_response([asdict(item) for item in page.items], headers=headers)
