"""GET /api/message_groups: the caller's conversations, newest first (pattern B), with their read state;
GET /api/message_groups/unread: the badge of the Messages link (CONTRACT.md section 7)."""
from dataclasses import asdict

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from cruddur_messaging.config import get_settings
from cruddur_messaging.domain.identity import resolve_caller
from cruddur_messaging.domain.list_groups import list_groups
from cruddur_messaging.domain.unread_badge import unread_badge
from cruddur_messaging.http.api import build_resolver, caller_sub, json_response, page_request, page_response
from cruddur_messaging.observability import logger, metrics, tracer

get_settings()
app = build_resolver()


@app.get("/api/message_groups")
def get_message_groups():
    caller = resolve_caller(caller_sub(app.current_event))
    return page_response(app.current_event, list_groups(caller, page_request(app.current_event)))


@app.get("/api/message_groups/unread")
def get_unread_badge():
    caller = resolve_caller(caller_sub(app.current_event))
    return json_response(asdict(unread_badge(caller)))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
