"""Errors the domain raises; the HTTP layer turns each into a JSON body with a stable code and a status.

:class:`ErrorCode` is the catalog: every code a function answers with, its status and its meaning, stated once.
Each route's ``@operation`` contract (``http/contract.py``) lists the codes it can answer; ``make openapi``
writes ``openapi.json`` and the table of ``docs/errors.md`` from both, and the tests read the same declarations.
"""
from __future__ import annotations

from enum import StrEnum, unique

from cruddur_messaging.domain.group_row_timeline import SYNC_HORIZON
from cruddur_messaging.models import MESSAGE_MAX_CHARS


@unique
class ErrorCode(StrEnum):
    """A stable, machine-readable ``code`` (the member's value, a plain string in JSON), with its HTTP status and
    what it means to a client (the meaning is docs/errors.md's)."""

    status: int
    meaning: str

    def __new__(cls, code: str, status: int, meaning: str) -> ErrorCode:
        member = str.__new__(cls, code)
        member._value_ = code
        member.status = status
        member.meaning = meaning
        return member

    INVALID_JSON = "invalid_json", 400, "The body is not valid JSON (or not UTF-8, or broken base64)."
    INVALID_BODY = "invalid_body", 400, "The body is missing where one is required, or is not a JSON object."
    INVALID_MESSAGE = "invalid_message", 400, "`message` is not a string, or not valid Unicode text."
    INVALID_LIMIT = "invalid_limit", 400, "`limit` is not a whole number from 1 to 100."
    INVALID_CURSOR = ("invalid_cursor", 400,
                      "`cursor` was altered, belongs to another list, was signed with an older key, or is too long.")
    INVALID_MESSAGE_GROUP_UUID = ("invalid_message_group_uuid", 400,
                                  "The group uuid (path or body) is not a uuid.")
    INVALID_MESSAGE_UUID = "invalid_message_uuid", 400, "The message uuid in the path is not a uuid."
    INVALID_HANDLE = ("invalid_handle", 400,
                      "The handle is not 1 to 64 letters, digits, `.`, `_` or `-` (after an optional `@`).")
    MESSAGE_GROUP_UUID_OR_HANDLE_REQUIRED = ("message_group_uuid_or_handle_required", 400,
                                             "A send names neither `message_group_uuid` nor `handle`, or both.")
    INVALID_IDEMPOTENCY_KEY = ("invalid_idempotency_key", 400,
                               "`Idempotency-Key` is not 1 to 255 printable characters.")
    INVALID_READ_AT = ("invalid_read_at", 400,
                       "`read_at` is not an ISO-8601 timestamp with an offset, or is over a minute in the future.")
    INVALID_SINCE = ("invalid_since", 400,
                     "`since` is not a sync token this API issued to you: altered, another kind of token (a list "
                     "cursor), signed with an older key, or too long. Reload, then sync without `since`.")
    UNAUTHORIZED = ("unauthorized", 401,
                    "No verified caller: the event carries no token subject (API Gateway's authorizer normally "
                    "answers first, with its own 401).")
    CALLER_NOT_REGISTERED = ("caller_not_registered", 403,
                             "A valid token whose Cognito user has no row in the users table.")
    RECIPIENT_UNAVAILABLE = ("recipient_unavailable", 403,
                             "The recipient does not accept messages from the caller: nothing was stored or "
                             "delivered. It does not say why (docs/http-api.md, Blocks).")
    NOT_SENDER = ("not_sender", 403,
                  "The message is another member's: only its sender may edit or delete it.")
    USER_BLOCKED = ("user_blocked", 403,
                    "The caller blocks the recipient: unblock them (`DELETE /api/users/{handle}/block`) to send.")
    MESSAGE_GROUP_NOT_FOUND = ("message_group_not_found", 404,
                               "No such group, or the caller is not a member: the same answer, so a uuid reveals "
                               "nothing.")
    MESSAGE_NOT_FOUND = ("message_not_found", 404,
                         "No such message in that group, the caller is not a member of the group, or (for an edit) "
                         "the message was deleted: the same answer, so a uuid reveals nothing.")
    USER_NOT_FOUND = "user_not_found", 404, "No user has that handle."
    REQUEST_IN_PROGRESS = ("request_in_progress", 409,
                           "A request with the same `Idempotency-Key` is still running; `Retry-After: 1`.")
    RELOAD_REQUIRED = ("reload_required", 410,
                       f"The sync token is older than the {SYNC_HORIZON.days} days a sync serves: reload the "
                       "list and the open conversation, then sync without `since`.")
    MESSAGE_BLANK = "message_blank", 422, "The message is missing, empty or only whitespace."
    MESSAGE_EXCEED_MAX_CHARS = ("message_exceed_max_chars", 422,
                                f"The message is over {MESSAGE_MAX_CHARS} characters.")
    MESSAGE_SELF = "message_self", 422, "A conversation with yourself (`handle` is the caller's)."
    BLOCK_SELF = "block_self", 422, "Blocking or unblocking yourself."
    IDEMPOTENCY_KEY_REUSED = ("idempotency_key_reused", 422,
                              "The `Idempotency-Key` was used, within 24 hours, with another body.")
    RATE_LIMITED = ("rate_limited", 429,
                    "Over the sender's limit on messages (`SendBurst` at once, then `SendRatePerSecond`) or on new "
                    "conversations (`NewConversationBurst`, then `NewConversationRatePerMinute`); `Retry-After` says "
                    "when to send again. Nothing was stored.")
    INTERNAL_ERROR = ("internal_error", 500,
                      "A bug on our side; never caused by input. Reported as the `Error_internal_error` metric.")
    DEPENDENCY_UNAVAILABLE = ("dependency_unavailable", 503,
                              "PostgreSQL or DynamoDB unavailable after bounded retries; `Retry-After: 2`. Retry a "
                              "send with the same `Idempotency-Key`: it is never stored twice.")


class FrameErrorCode(StrEnum):
    """The ``code`` of an error frame: the answer, on an open WebSocket connection, to a client frame the API does
    not understand (``models.error_frame``; docs/errors.md, "The WebSocket API")."""

    INVALID_FRAME = "invalid_frame"
    INVALID_JSON = "invalid_json"
    UNKNOWN_ACTION = "unknown_action"


class ApiError(Exception):
    """An error a client can act on. ``code`` is stable and machine-readable; ``message`` is for humans.

    Each subclass answers one status and takes a code of the catalog with that status (a code of another status
    is a bug, refused at once), so a status is never at odds with its code.
    """

    status: int = 400
    code: ErrorCode
    retry_after_seconds: int | None = None
    """Sent as ``Retry-After`` when set: the request may succeed if retried after that many seconds."""

    def __init__(self, message: str, *, code: ErrorCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = ErrorCode(code)
        if getattr(self, "code", None) is None or self.code.status != self.status:
            raise TypeError(f"{type(self).__name__} answers {self.status}; "
                            f"{getattr(self, 'code', None)!r} is not one of its codes")


class BadRequest(ApiError):
    status = 400


class Unauthorized(ApiError):
    status = 401


class Forbidden(ApiError):
    status = 403


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409


class RequestInProgress(Conflict):
    """Another request with the same ``Idempotency-Key`` is running; its answer is usually there within a second."""

    code = ErrorCode.REQUEST_IN_PROGRESS
    retry_after_seconds = 1


class Gone(ApiError):
    """What the request asks for is no longer served (a sync token past its horizon)."""

    status = 410


class RuleViolation(ApiError):
    """A well-formed request that breaks a business rule (blank message, messaging yourself, ...)."""

    status = 422


class RateLimited(ApiError):
    """Over one of the sender's limits (``domain.send_limits``): the same request is accepted after
    ``retry_after_seconds`` (whole seconds, at least 1)."""

    status = 429
    code = ErrorCode.RATE_LIMITED

    def __init__(self, message: str, *, code: ErrorCode | None = None, retry_after_seconds: int = 1) -> None:
        super().__init__(message, code=code)
        self.retry_after_seconds = max(1, retry_after_seconds)


class DependencyUnavailable(ApiError):
    """PostgreSQL or DynamoDB could not be reached after the bounded retries; the client may retry later."""

    status = 503
    code = ErrorCode.DEPENDENCY_UNAVAILABLE
    retry_after_seconds = 2


class WriteOutcomeUnknown(DependencyUnavailable):
    """A 503 raised while a write was under way: it may have been applied. ``in_doubt`` names the write (the
    planned message, and for a new conversation its group) so that a retry with the same ``Idempotency-Key``
    can settle it: find that very write, or make it, never a second one."""

    def __init__(self, message: str, *, in_doubt: dict[str, str]) -> None:
        super().__init__(message)
        self.in_doubt = in_doubt
