"""GET /api/messages/{message_group_uuid}: a page of a conversation, for its members only (pattern A)."""
from cruddur_messaging.containers import ApiContainer
from cruddur_messaging.domain.list_messages import list_messages
from cruddur_messaging.http.api import HttpRequest, HttpResponse, http_handler, page_request, page_response
from cruddur_messaging.http.contract import (
    CALLER_ERRORS, LINK_HEADER, PAGE_ERRORS, PAGE_PARAMETERS, SERVICE_ERRORS, Link, Operation, Parameter,
    operation,
)
from cruddur_messaging.errors import ErrorCode
from cruddur_messaging.models import Message

container = ApiContainer()


@operation(Operation(
    success=list[Message], success_headers=(LINK_HEADER,),
    parameters=(Parameter("message_group_uuid", "path", {"type": "string", "format": "uuid"}, "The conversation.",
                          required=True), *PAGE_PARAMETERS),
    errors=CALLER_ERRORS + PAGE_ERRORS + (ErrorCode.INVALID_MESSAGE_GROUP_UUID, ErrorCode.MESSAGE_GROUP_NOT_FOUND)
    + SERVICE_ERRORS,
    links=(Link("LookUpTheSender", "get_user_short", {"handle": "$response.body#/0/handle"}),)))
def get_messages(request: HttpRequest) -> HttpResponse:
    """A page of a conversation, oldest first, for its members only.

    The first page holds the newest messages; `Link: <...>; rel="next"` leads to older ones. `uuid` is the
    message's; `display_name` and `handle` are the sender's. A group you are not a member of is a 404, as one
    that does not exist.
    """
    caller = container.callers.resolve(request.caller_sub)
    page = list_messages(container.message_store, container.cursor_codec, caller,
                         request.path_parameter("message_group_uuid"), page_request(request))
    return page_response(request, page)


ROUTES = {"GET /api/messages/{message_group_uuid}": get_messages}


lambda_handler = http_handler(ROUTES)
