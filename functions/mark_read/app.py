"""POST /api/message_groups/{message_group_uuid}/read: the caller's read marker moves forward (CONTRACT.md 7)."""
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from cruddur_messaging.config import get_settings
from cruddur_messaging.domain.identity import resolve_caller
from cruddur_messaging.domain.mark_read import MarkReadRequest, mark_read
from cruddur_messaging.http.api import build_resolver, caller_sub, json_body, json_response
from cruddur_messaging.observability import logger, metrics, tracer

get_settings()
app = build_resolver()


@app.post("/api/message_groups/<message_group_uuid>/read")
def post_read(message_group_uuid: str):
    event = app.current_event
    caller = resolve_caller(caller_sub(event))
    request = MarkReadRequest.parse(json_body(event) if event.body else {})
    return json_response(mark_read(caller, message_group_uuid, request).state.to_body())


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
