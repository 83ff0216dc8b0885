"""POST /api/message_groups/{message_group_uuid}/read: the caller's read marker moves forward (docs/http-api.md)."""
from cruddur_messaging.containers import ApiContainer
from cruddur_messaging.domain.mark_read import MAX_CLOCK_SKEW, READ_AT_MAX_LENGTH, MarkReadRequest, mark_read
from cruddur_messaging.http.api import HttpRequest, HttpResponse, http_handler, json_response
from cruddur_messaging.http.contract import CALLER_ERRORS, SERVICE_ERRORS, Link, Operation, Parameter, operation
from cruddur_messaging.errors import ErrorCode
from cruddur_messaging.models import ReadState

container = ApiContainer()

MARK_READ_BODY = {"type": "object", "properties": {"read_at": {
    "type": "string", "format": "date-time", "maxLength": READ_AT_MAX_LENGTH, "nullable": True,
    "description": "The `created_at` of a message, with any offset (answered in UTC; other ISO 8601 forms with an "
                   "offset are accepted too); at most "
                   f"{int(MAX_CLOCK_SKEW.total_seconds())} seconds ahead of the server's clock, since no message "
                   "has a later time. Absent or null: the newest message."}}}


@operation(Operation(
    success=ReadState,
    parameters=(Parameter("message_group_uuid", "path", {"type": "string", "format": "uuid"}, "The conversation.",
                          required=True),),
    request_body=MARK_READ_BODY, request_body_required=False,
    errors=CALLER_ERRORS + (ErrorCode.INVALID_JSON, ErrorCode.INVALID_BODY, ErrorCode.INVALID_READ_AT,
                            ErrorCode.INVALID_MESSAGE_GROUP_UUID, ErrorCode.MESSAGE_GROUP_NOT_FOUND) + SERVICE_ERRORS,
    links=(Link("ReadTheConversation", "get_messages",
                {"message_group_uuid": "$response.body#/message_group_uuid"}),)))
def post_read(request: HttpRequest) -> HttpResponse:
    """Mark a conversation read, up to a message or to the newest one.

    Your read marker moves to `read_at` (the `created_at` of a message; without a body or `read_at`, the newest
    message), forward only: an older `read_at` changes nothing and answers the current state. A `read_at` past the
    newest message (a clock ahead) moves it only to the newest message, so a later message is still unread. The
    answer is your read state of the conversation. A group you are not a member of is a 404, as one that does not
    exist.
    """
    caller = container.callers.resolve(request.caller_sub)
    body = MarkReadRequest.parse(request.json_body() if request.has_body else {})
    change = mark_read(container.group_row_store, container.read_state_store, caller,
                       request.path_parameter("message_group_uuid"), body)
    return json_response(change.state.to_body())


ROUTES = {"POST /api/message_groups/{message_group_uuid}/read": post_read}


lambda_handler = http_handler(ROUTES)
