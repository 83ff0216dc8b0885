"""GET /api/messages/{message_group_uuid}: a page of a conversation, for its members only (pattern A)."""
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from cruddur_messaging.config import get_settings
from cruddur_messaging.domain.identity import resolve_caller
from cruddur_messaging.domain.list_messages import list_messages
from cruddur_messaging.http.api import build_resolver, caller_sub, page_request, page_response
from cruddur_messaging.observability import logger, metrics, tracer

get_settings()
app = build_resolver()


@app.get("/api/messages/<message_group_uuid>")
def get_messages(message_group_uuid: str):
    caller = resolve_caller(caller_sub(app.current_event))
    page = list_messages(caller, message_group_uuid, page_request(app.current_event))
    return page_response(app.current_event, page)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
