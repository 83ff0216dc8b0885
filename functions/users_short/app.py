"""GET /api/users/{handle}/short: a user's public card; no token needed (the frontend sends ``@handle``)."""
from dataclasses import asdict
from urllib.parse import unquote

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from cruddur_messaging.containers import ApiContainer
from cruddur_messaging.domain.users_short import CARD_MAX_AGE_SECONDS
from cruddur_messaging.http.api import HttpRequest, HttpResponse, json_response, respond
from cruddur_messaging.http.contract import (
    CACHE_CONTROL_HEADER, HANDLE_SCHEMA, SERVICE_ERRORS, Operation, Parameter, operation,
)
from cruddur_messaging.errors import ErrorCode
from cruddur_messaging.models import UserShort
from cruddur_messaging.observability import logger, metrics, tracer

container = ApiContainer()


@operation(Operation(
    success=UserShort, success_headers=(CACHE_CONTROL_HEADER,),
    parameters=(Parameter("handle", "path", HANDLE_SCHEMA, "The user's handle, with or without a leading `@`.",
                          required=True),),
    errors=(ErrorCode.INVALID_HANDLE, ErrorCode.USER_NOT_FOUND) + SERVICE_ERRORS))
def get_user_short(request: HttpRequest) -> HttpResponse:
    """A user's public card; no token needed.

    Cards change rarely: `Cache-Control` lets clients and caches keep one for a short while.
    """
    return json_response(asdict(container.user_cards.find(unquote(request.path_parameter("handle")))),
                         headers={"Cache-Control": f"public, max-age={CARD_MAX_AGE_SECONDS}"})


ROUTES = {"GET /api/users/{handle}/short": get_user_short}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return respond(ROUTES, event)
