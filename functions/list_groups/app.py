"""GET /api/message_groups: the caller's conversations, newest first (pattern B)."""
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from cruddur_messaging.config import get_settings
from cruddur_messaging.domain.identity import resolve_caller
from cruddur_messaging.domain.list_groups import list_groups
from cruddur_messaging.http.api import HttpRequest, HttpResponse, page_request, page_response, respond
from cruddur_messaging.http.contract import (
    CALLER_ERRORS, LINK_HEADER, PAGE_ERRORS, PAGE_PARAMETERS, SERVICE_ERRORS, Link, Operation, operation,
)
from cruddur_messaging.models import MessageGroupSummary
from cruddur_messaging.observability import logger, metrics, tracer

get_settings()


@operation(Operation(success=list[MessageGroupSummary], parameters=PAGE_PARAMETERS, success_headers=(LINK_HEADER,),
                     errors=CALLER_ERRORS + PAGE_ERRORS + SERVICE_ERRORS,
                     links=(Link("ReadTheNewestConversation", "get_messages",
                                 {"message_group_uuid": "$response.body#/0/uuid"}),
                            Link("LookUpTheOtherMember", "get_user_short", {"handle": "$response.body#/0/handle"}),
                            Link("ReplyInTheNewestConversation", "post_message",
                                 request_body={"message_group_uuid": "$response.body#/0/uuid"}))))
def get_message_groups(request: HttpRequest) -> HttpResponse:
    """The caller's conversations, newest first.

    `uuid` is the message group's; `display_name` and `handle` are the other member's; `message` and
    `created_at` are the conversation's last message. A `Link: <...>; rel="next"` header leads to the next page.
    """
    caller = resolve_caller(request.caller_sub)
    return page_response(request, list_groups(caller, page_request(request)))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return respond(get_message_groups, event)
