"""GET /api/message_groups: the caller's conversations, newest first (pattern B)."""
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from cruddur_messaging.config import get_settings
from cruddur_messaging.domain.identity import resolve_caller
from cruddur_messaging.domain.list_groups import list_groups
from cruddur_messaging.http.api import HttpRequest, HttpResponse, page_request, page_response, respond
from cruddur_messaging.observability import logger, metrics, tracer

get_settings()


def get_message_groups(request: HttpRequest) -> HttpResponse:
    caller = resolve_caller(request.caller_sub)
    return page_response(request, list_groups(caller, page_request(request)))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return respond(get_message_groups, event)
