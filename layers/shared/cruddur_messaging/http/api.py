"""The Powertools HTTP API resolver every handler uses, with the error contract built in.

Every error leaves as ``{"code": ..., "message": ...}`` with its status: an ApiError as it says, a body
that is not JSON as a 400, an unknown route as a 404, anything unexpected as a 500 without internals.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any
from urllib.parse import urlencode

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from cruddur_messaging.errors import ApiError, BadRequest
from cruddur_messaging.models import Page, PageRequest
from cruddur_messaging.observability import logger, metrics
from cruddur_messaging.pagination import parse_page_request


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON,
                    body=json.dumps(body, separators=(",", ":")), headers=headers or {})


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response({"code": code, "message": message}, status, headers)


def build_resolver() -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver()

    @app.exception_handler(ApiError)
    def api_error(error: ApiError) -> Response:
        metrics.add_metric(name=f"Error_{error.code}", unit=MetricUnit.Count, value=1)
        headers = {}
        if error.retry_after_seconds is not None:
            headers["Retry-After"] = str(error.retry_after_seconds)
        logger.info("request refused", extra={"status": error.status, "code": error.code})
        return error_response(error.status, error.code, error.message, headers)

    @app.not_found
    def route_not_found(_: Exception) -> Response:
        return error_response(404, "route_not_found", "No such route.")

    @app.exception_handler(Exception)
    def unexpected(error: Exception) -> Response:
        logger.exception("unexpected error")
        metrics.add_metric(name="Error_internal_error", unit=MetricUnit.Count, value=1)
        return error_response(500, "internal_error", "Something went wrong on our side.")

    return app


def caller_sub(event: APIGatewayProxyEventV2) -> str | None:
    """The Cognito user id the HTTP API's JWT authorizer verified (absent on unauthenticated routes)."""
    authorizer = event.request_context.authorizer
    claims = authorizer.jwt_claim if authorizer else None
    return (claims or {}).get("sub")


def page_request(event: APIGatewayProxyEventV2) -> PageRequest:
    return parse_page_request(event.query_string_parameters)


def json_body(event: APIGatewayProxyEventV2) -> Any:
    if not event.body:
        raise BadRequest("A JSON body is required.", code="invalid_body")
    try:
        return event.json_body
    except (ValueError, RecursionError) as error:
        # Not JSON, not UTF-8, a broken base64 body, or nested too deep to parse: the client's fault, never a 500.
        raise BadRequest("The body is not valid JSON.", code="invalid_json") from error


def page_response(event: APIGatewayProxyEventV2, page: Page[Any]) -> Response:
    """The plain array the frontend reads, and a ``Link: <...>; rel="next"`` header when there is more."""
    headers = {}
    if page.next_cursor:
        query = {key: value for key, value in (event.query_string_parameters or {}).items() if key != "cursor"}
        query["cursor"] = page.next_cursor
        headers["Link"] = f'<{event.raw_path}?{urlencode(query)}>; rel="next"'
    return json_response([asdict(item) for item in page.items], headers=headers)
