"""PATCH and DELETE /api/messages/{message_group_uuid}/{message_uuid}: the sender edits or deletes a message
(docs/http-api.md, "Edit and delete")."""
from dataclasses import asdict

from cruddur_messaging.containers import ApiContainer
from cruddur_messaging.domain import edit_messages
from cruddur_messaging.domain.edit_messages import EditRequest
from cruddur_messaging.errors import ErrorCode
from cruddur_messaging.http.api import HttpRequest, HttpResponse, http_handler, json_response
from cruddur_messaging.http.contract import (
    CALLER_ERRORS, MESSAGE_SCHEMA, SERVICE_ERRORS, Operation, Parameter, operation,
)
from cruddur_messaging.models import DeletedMessage, Message

container = ApiContainer()

PATH_PARAMETERS = (
    Parameter("message_group_uuid", "path", {"type": "string", "format": "uuid"}, "The conversation.",
              required=True),
    Parameter("message_uuid", "path", {"type": "string", "format": "uuid"}, "The message (its `uuid`).",
              required=True),
)
LOOKUP_ERRORS = (ErrorCode.INVALID_MESSAGE_GROUP_UUID, ErrorCode.INVALID_MESSAGE_UUID, ErrorCode.NOT_SENDER,
                 ErrorCode.MESSAGE_NOT_FOUND)


@operation(Operation(
    success=Message, parameters=PATH_PARAMETERS,
    request_body={"type": "object", "required": ["message"], "properties": {"message": MESSAGE_SCHEMA}},
    request_example={"message": "Sorry, I meant Thursday."},
    errors=CALLER_ERRORS + (ErrorCode.INVALID_JSON, ErrorCode.INVALID_BODY, ErrorCode.INVALID_MESSAGE)
    + LOOKUP_ERRORS + (ErrorCode.MESSAGE_BLANK, ErrorCode.MESSAGE_EXCEED_MAX_CHARS) + SERVICE_ERRORS))
def patch_message(request: HttpRequest) -> HttpResponse:
    """Edit a message you sent.

    The message's text becomes `message` (the rules of a send: not blank, at most 1024 characters); the answer is
    the message as lists show it, with `edited_at`, the time of the last edit. The same text again changes nothing
    and answers the same. Only the sender may edit (another member gets 403 `not_sender`); a group you are not a
    member of, a message it does not hold, and a deleted message are a 404 `message_not_found`.
    """
    caller = container.callers.resolve(request.caller_sub)
    body = EditRequest.parse(request.json_body())
    message = edit_messages.edit_message(container.message_store, caller,
                                         request.path_parameter("message_group_uuid"),
                                         request.path_parameter("message_uuid"), body)
    return json_response(asdict(message))


@operation(Operation(success=DeletedMessage, parameters=PATH_PARAMETERS,
                     errors=CALLER_ERRORS + LOOKUP_ERRORS + SERVICE_ERRORS))
def delete_message(request: HttpRequest) -> HttpResponse:
    """Delete a message you sent.

    Its text is removed from storage; lists show a tombstone in its place (`message` "", `deleted_at` set). The
    answer names the message and its `deleted_at`, the same every time it is deleted again. Only the sender may
    delete (another member gets 403 `not_sender`); a group you are not a member of, or a message it does not
    hold, is a 404 `message_not_found`.
    """
    caller = container.callers.resolve(request.caller_sub)
    deleted = edit_messages.delete_message(container.message_store, caller,
                                           request.path_parameter("message_group_uuid"),
                                           request.path_parameter("message_uuid"))
    return json_response(deleted.to_body())


ROUTES = {
    "PATCH /api/messages/{message_group_uuid}/{message_uuid}": patch_message,
    "DELETE /api/messages/{message_group_uuid}/{message_uuid}": delete_message,
}


lambda_handler = http_handler(ROUTES)
