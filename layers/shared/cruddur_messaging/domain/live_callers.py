"""Who is on a WebSocket connection: resolved once, by the ``$connect`` authorizer, and handed to every route of
the connection in the authorizer's context, so that ``$connect``, ``$disconnect`` and ``$default``
(``LiveConnectionFunction``) never touch PostgreSQL and run outside the VPC and the reserved pool.

API Gateway keeps the context an authorizer returns at ``$connect`` for the whole connection and passes it, as
``requestContext.authorizer`` (with ``principalId`` and ``integrationLatency``), to the integration of every route:
"Control access to WebSocket APIs with AWS Lambda REQUEST authorizers" and the ``$context.authorizer.<key>``
variable ("the stringified value of the specified key-value pair of the context map returned from an API Gateway
Lambda authorizer function") in the API Gateway developer guide. Its values must be strings, numbers or booleans
(no objects or arrays), so everything here is a string.

Why the authorizer and not a copy of the mapping elsewhere: the ``sub`` -> user uuid mapping lives in PostgreSQL
only (the Cruddur sign-up writes the row), and it must work for a user who never called the HTTP API; a copy in
DynamoDB or in a Cognito attribute would need a writer this stack does not own, and a fallback to PostgreSQL
anyway. The authorizer already runs once per connection, before anything else, and a warm one answers from its
callers' cache (``domain.identity.CallerDirectory``) without a query.

An authorizer can only answer 401 (``Unauthorized``), 403 (a Deny) or 500 (anything else); a valid token whose user
has no row (403 ``caller_not_registered``) or a database that is down (503 ``dependency_unavailable``, reconnect
later) would lose their meaning. So the authorizer admits every valid token and tells ``$connect`` in the context
why the caller cannot connect; ``$connect`` then refuses the handshake with that status and message.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from cruddur_messaging.errors import ApiError, ErrorCode

if TYPE_CHECKING:  # the connection function imports this module and must not import PostgreSQL's client
    from cruddur_messaging.domain.identity import CallerDirectory

USER_UUID = "user_uuid"
REFUSAL_STATUS = "refusal_status"
REFUSAL_CODE = "refusal_code"
REFUSAL_MESSAGE = "refusal_message"


class ConnectionRefused(Exception):
    """What ``$connect`` answers for a caller the authorizer admitted but could not resolve."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def caller_context(callers: CallerDirectory, sub: str) -> dict[str, str]:
    """The authorizer's context entries for an admitted token: the caller's user uuid, or why there is none."""
    try:
        return {USER_UUID: callers.resolve(sub).uuid}
    except ApiError as error:
        return {REFUSAL_STATUS: str(error.status), REFUSAL_CODE: error.code, REFUSAL_MESSAGE: error.message}


def caller_of(authorizer: Mapping[str, Any] | None) -> str:
    """The user uuid of the connection from ``requestContext.authorizer``; raises ``ConnectionRefused`` with what the
    authorizer found, or a 401 when there is no caller at all (an event API Gateway would never send)."""
    context = authorizer or {}
    if context.get(REFUSAL_CODE):
        raise ConnectionRefused(int(context.get(REFUSAL_STATUS) or 500), str(context[REFUSAL_CODE]),
                                str(context.get(REFUSAL_MESSAGE) or ""))
    user_uuid = str(context.get(USER_UUID) or "")
    if not user_uuid:
        raise ConnectionRefused(ErrorCode.UNAUTHORIZED.status, ErrorCode.UNAUTHORIZED,
                                "A valid access token is required.")
    return user_uuid
