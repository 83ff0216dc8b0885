"""Errors the domain raises; the HTTP layer turns each into a JSON body with a stable code and a status."""
from __future__ import annotations


class ApiError(Exception):
    """An error a client can act on. ``code`` is stable and machine-readable; ``message`` is for humans."""

    status: int = 400
    code: str = "bad_request"
    retry_after_seconds: int | None = None
    """Sent as ``Retry-After`` when set: the request may succeed if retried after that many seconds."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class BadRequest(ApiError):
    status = 400
    code = "bad_request"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class RequestInProgress(Conflict):
    """Another request with the same ``Idempotency-Key`` is running; its answer is usually there within a second."""

    code = "request_in_progress"
    retry_after_seconds = 1


class RuleViolation(ApiError):
    """A well-formed request that breaks a business rule (blank message, messaging yourself, ...)."""

    status = 422
    code = "unprocessable"


class DependencyUnavailable(ApiError):
    """PostgreSQL or DynamoDB could not be reached after the bounded retries; the client may retry later."""

    status = 503
    code = "dependency_unavailable"
    retry_after_seconds = 2


class WriteOutcomeUnknown(DependencyUnavailable):
    """A 503 raised while a write was under way: it may have been applied. ``in_doubt`` names the write (the
    planned message, and for a new conversation its group) so that a retry with the same ``Idempotency-Key``
    can settle it: find that very write, or make it, never a second one."""

    def __init__(self, message: str, *, in_doubt: dict[str, str]) -> None:
        super().__init__(message)
        self.in_doubt = in_doubt
