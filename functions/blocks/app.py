"""POST and DELETE /api/users/{handle}/block: block and unblock a user; GET /api/blocks: whom the caller blocks
(docs/http-api.md, "Blocks")."""
from dataclasses import asdict
from urllib.parse import unquote

from cruddur_messaging.containers import ApiContainer
from cruddur_messaging.domain.blocks import block_user, blocked_users, unblock_user
from cruddur_messaging.errors import ErrorCode
from cruddur_messaging.http.api import HttpRequest, HttpResponse, http_handler, json_response
from cruddur_messaging.http.contract import (
    CALLER_ERRORS, HANDLE_SCHEMA, SERVICE_ERRORS, Operation, Parameter, operation,
)
from cruddur_messaging.models import BlockedUser, BlockState

container = ApiContainer()

HANDLE_PARAMETER = Parameter("handle", "path", HANDLE_SCHEMA, "The user's handle, with or without a leading `@`.",
                             required=True)
BLOCK_ERRORS = (CALLER_ERRORS + (ErrorCode.INVALID_HANDLE, ErrorCode.USER_NOT_FOUND, ErrorCode.BLOCK_SELF)
                + SERVICE_ERRORS)


@operation(Operation(success=BlockState, parameters=(HANDLE_PARAMETER,), errors=BLOCK_ERRORS))
def post_block(request: HttpRequest) -> HttpResponse:
    """Block a user: from now on neither of you can send to the other.

    Idempotent: blocking again answers the same. Your conversation stays readable to both of you; a send from the
    user you block is refused with `recipient_unavailable` (which does not say why), a send from you with
    `user_blocked`, until you unblock them.
    """
    caller = container.callers.resolve(request.caller_sub)
    return json_response(asdict(block_user(container.block_store, container.users, caller,
                                           unquote(request.path_parameter("handle")))))


@operation(Operation(success=BlockState, parameters=(HANDLE_PARAMETER,), errors=BLOCK_ERRORS))
def delete_block(request: HttpRequest) -> HttpResponse:
    """Unblock a user: sending works again both ways, and nothing was lost.

    Idempotent: unblocking someone you do not block answers the same as unblocking them.
    """
    caller = container.callers.resolve(request.caller_sub)
    return json_response(asdict(unblock_user(container.block_store, container.users, caller,
                                             unquote(request.path_parameter("handle")))))


@operation(Operation(success=list[BlockedUser], errors=CALLER_ERRORS + SERVICE_ERRORS))
def get_blocks(request: HttpRequest) -> HttpResponse:
    """The users you block, by handle, with their current display names.

    The whole list in one answer, sorted by handle.
    """
    caller = container.callers.resolve(request.caller_sub)
    return json_response([asdict(user) for user in blocked_users(container.block_store, container.users, caller)])


ROUTES = {
    "POST /api/users/{handle}/block": post_block,
    "DELETE /api/users/{handle}/block": delete_block,
    "GET /api/blocks": get_blocks,
}


lambda_handler = http_handler(ROUTES)
