"""GET /api/message_groups: the caller's conversations, newest first (pattern B), with their read state;
GET /api/message_groups/unread: the badge of the Messages link (docs/http-api.md)."""
from dataclasses import asdict


from cruddur_messaging.containers import ApiContainer
from cruddur_messaging.domain.list_groups import list_groups
from cruddur_messaging.domain.unread_badge import unread_badge
from cruddur_messaging.http.api import (
    HttpRequest, HttpResponse, http_handler, json_response, page_request, page_response,
)
from cruddur_messaging.http.contract import (
    CALLER_ERRORS, LINK_HEADER, PAGE_ERRORS, PAGE_PARAMETERS, SERVICE_ERRORS, Link, Operation, operation,
)
from cruddur_messaging.models import MessageGroupSummary, UnreadBadge

container = ApiContainer()


@operation(Operation(success=list[MessageGroupSummary], parameters=PAGE_PARAMETERS, success_headers=(LINK_HEADER,),
                     errors=CALLER_ERRORS + PAGE_ERRORS + SERVICE_ERRORS,
                     links=(Link("ReadTheNewestConversation", "get_messages",
                                 {"message_group_uuid": "$response.body#/0/uuid"}),
                            Link("LookUpTheOtherMember", "get_user_short", {"handle": "$response.body#/0/handle"}),
                            Link("ReplyInTheNewestConversation", "post_message",
                                 request_body={"message_group_uuid": "$response.body#/0/uuid"}),
                            Link("MarkTheNewestConversationRead", "post_read",
                                 {"message_group_uuid": "$response.body#/0/uuid"}))))
def get_message_groups(request: HttpRequest) -> HttpResponse:
    """The caller's conversations, newest first, with their read state.

    `uuid` is the message group's; `display_name` and `handle` are the other member's; `message` and
    `created_at` are the conversation's last message; `unread_count` is how many of the other member's messages
    came after your read marker `last_read_at` (`null`: nothing read yet). A `Link: <...>; rel="next"` header
    leads to the next page.
    """
    caller = container.callers.resolve(request.caller_sub)
    return page_response(request, list_groups(container.message_store, container.cursor_codec, caller,
                                              page_request(request)))


@operation(Operation(success=UnreadBadge, errors=CALLER_ERRORS + SERVICE_ERRORS))
def get_unread_badge(request: HttpRequest) -> HttpResponse:
    """The Messages badge: how many conversations have unread messages, and how many messages in all.

    `conversations` counts your conversations whose `unread_count` is above 0, `messages` adds those counts up:
    the same figures the list of conversations shows.
    """
    caller = container.callers.resolve(request.caller_sub)
    return json_response(asdict(unread_badge(container.read_state_store, caller)))


ROUTES = {
    "GET /api/message_groups": get_message_groups,
    "GET /api/message_groups/unread": get_unread_badge,
}


lambda_handler = http_handler(ROUTES)
