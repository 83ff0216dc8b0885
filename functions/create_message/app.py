"""POST /api/messages: send into a group (pattern C) or start a conversation by handle (pattern D)."""
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from cruddur_messaging.config import get_settings
from cruddur_messaging.domain.create_message import NewMessageRequest, create_message, idempotency_config
from cruddur_messaging.domain.identity import resolve_caller
from cruddur_messaging.http.api import HttpRequest, HttpResponse, json_response, respond
from cruddur_messaging.observability import logger, metrics, tracer

get_settings()


def post_message(request: HttpRequest) -> HttpResponse:
    caller = resolve_caller(request.caller_sub)
    message = NewMessageRequest.parse(request.json_body())
    return json_response(create_message(caller, message, request.headers.get("idempotency-key")))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    idempotency_config().register_lambda_context(context)
    return respond(post_message, event)
