"""POST /api/messages: send into a group (pattern C) or start a conversation by handle (pattern D)."""
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from cruddur_messaging.config import get_settings
from cruddur_messaging.domain.create_message import NewMessageRequest, create_message, idempotency_config
from cruddur_messaging.domain.identity import resolve_caller
from cruddur_messaging.http.api import build_resolver, caller_sub, json_body, json_response
from cruddur_messaging.observability import logger, metrics, tracer

get_settings()
app = build_resolver()


@app.post("/api/messages")
def post_message():
    event = app.current_event
    caller = resolve_caller(caller_sub(event))
    request = NewMessageRequest.parse(json_body(event))
    return json_response(create_message(caller, request, event.headers.get("idempotency-key")))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    idempotency_config().register_lambda_context(context)
    return app.resolve(event, context)
