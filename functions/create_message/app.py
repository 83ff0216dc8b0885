"""POST /api/messages: send into a group (pattern C) or start a conversation by handle (pattern D)."""
from aws_lambda_powertools.utilities.typing import LambdaContext

from cruddur_messaging.containers import CreateMessageContainer
from cruddur_messaging.domain.create_message import (
    IDEMPOTENCY_KEY_MAX_LENGTH, NewMessageRequest, create_message,
)
from cruddur_messaging.http.api import HttpRequest, HttpResponse, http_handler, json_response
from cruddur_messaging.http.contract import (
    CALLER_ERRORS, HANDLE_SCHEMA, MESSAGE_SCHEMA, PRINTABLE_HEADER_PATTERN, SERVICE_ERRORS, Link, MessageInNewGroup,
    Operation, Parameter, operation,
)
from cruddur_messaging.errors import ErrorCode
from cruddur_messaging.models import Message

container = CreateMessageContainer()


NEW_MESSAGE_BODY = {"oneOf": [
    {"title": "Into a group", "type": "object", "required": ["message", "message_group_uuid"],
     "properties": {"message": MESSAGE_SCHEMA, "message_group_uuid": {"type": "string", "format": "uuid"}},
     "not": {"required": ["handle"]}},
    {"title": "To a user", "type": "object", "required": ["message", "handle"],
     "properties": {"message": MESSAGE_SCHEMA, "handle": HANDLE_SCHEMA},
     "not": {"required": ["message_group_uuid"]}},
]}


@operation(Operation(
    success=Message | MessageInNewGroup, request_body=NEW_MESSAGE_BODY,
    request_example={"message": "Hello! Are you coming to the meetup?", "handle": "@bayko"},
    parameters=(Parameter("Idempotency-Key", "header", {"type": "string", "maxLength": IDEMPOTENCY_KEY_MAX_LENGTH,
                                                        "pattern": PRINTABLE_HEADER_PATTERN},
                          "Any unique printable string: a retry with the same key and body within 24 hours returns "
                          "the first response and writes nothing."),),
    errors=CALLER_ERRORS + (
        ErrorCode.INVALID_JSON, ErrorCode.INVALID_BODY, ErrorCode.INVALID_MESSAGE,
        ErrorCode.MESSAGE_GROUP_UUID_OR_HANDLE_REQUIRED, ErrorCode.INVALID_MESSAGE_GROUP_UUID, ErrorCode.INVALID_HANDLE,
        ErrorCode.INVALID_IDEMPOTENCY_KEY, ErrorCode.MESSAGE_GROUP_NOT_FOUND, ErrorCode.USER_NOT_FOUND,
        ErrorCode.REQUEST_IN_PROGRESS, ErrorCode.MESSAGE_BLANK, ErrorCode.MESSAGE_EXCEED_MAX_CHARS,
        ErrorCode.MESSAGE_SELF, ErrorCode.IDEMPOTENCY_KEY_REUSED, ErrorCode.RECIPIENT_UNAVAILABLE,
        ErrorCode.USER_BLOCKED, ErrorCode.RATE_LIMITED) + SERVICE_ERRORS,
    links=(Link("ReadTheConversation", "get_messages", {"message_group_uuid": "$response.body#/message_group_uuid"}),
           Link("ReadTheGroup", "get_messages", {"message_group_uuid": "$request.body#/message_group_uuid"}))))
def post_message(request: HttpRequest) -> HttpResponse:
    """Send a message into a group, or to a user by handle.

    With `message_group_uuid`, into a group you are a member of (the answer is the message). With `handle`, to
    that user: into the conversation you already share with them, or a new one (the answer also names the
    group, `message_group_uuid`).

    Each user may send a burst of messages, then a few a second, and start a few new conversations, then a few a
    minute (the deployment's limits): past one, the answer is 429 `rate_limited` with `Retry-After`, and nothing is
    stored. A retry with the `Idempotency-Key` of a send that was accepted is never counted again nor refused.
    """
    caller = container.callers.resolve(request.caller_sub)
    message = NewMessageRequest.parse(request.json_body())
    return json_response(create_message(container.message_sending, caller, message,
                                        request.headers.get("idempotency-key")))


ROUTES = {"POST /api/messages": post_message}


def register_context(context: LambdaContext) -> None:
    """The idempotency utility reads the remaining time from the context (an in-progress record expires with it)."""
    container.message_sending.idempotency_config.register_lambda_context(context)


lambda_handler = http_handler(ROUTES, before=register_context)
