"""A DynamoDB write that succeeds but whose response never arrives, so the SDK sends it again.

This is what a read timeout (2 s in ``CLIENT_CONFIG``) does in AWS: DynamoDB applied the request, the response
was lost on the way, and botocore's standard retry mode resends the very same serialized request (same body,
same ``ClientRequestToken``). The fault is injected at moto's seam, ``BotocoreStubber.process_request``, which
is below botocore's retry logic: moto applies the request, then ``ReadTimeoutError`` replaces its answer, and
the SDK's own retry handler decides to retry, exactly as on the wire. Every client (the layer's table, the
idempotency layer's own client) passes there.

moto ignores ``ClientRequestToken`` (DynamoDB answers a resent TransactWriteItems with the first outcome for 10
minutes), so a retried transaction meets the items it wrote itself: the code must recognise its own write either
way.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError
from moto.core.botocore_stubber import BotocoreStubber

from tests.support.calls import Predicate

_DYNAMODB_TARGET_PREFIX = "DynamoDB_20120810."


@dataclass
class LostResponses:
    """What was sent, in order, as ``(operation, body)``, and which operations' responses were lost."""

    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)

    def sent_of(self, operation: str) -> list[dict[str, Any]]:
        return [body for name, body in self.sent if name == operation]


def lose_responses(monkeypatch: pytest.MonkeyPatch, when: Predicate, times: int = 1,
                   resent_still_in_progress: bool = False) -> LostResponses:
    """The next ``times`` DynamoDB requests that ``when(operation, body)`` selects are applied by moto and their
    responses lost (a read timeout); the SDK's retries of them, and everything else, get their answers.

    ``resent_still_in_progress``: the SDK's resend of a lost TransactWriteItems is answered as DynamoDB answers
    a token it is still applying (``TransactionInProgressException``) instead of being applied again.
    """
    log = LostResponses()
    process_request = BotocoreStubber.process_request

    def losing(stubber: BotocoreStubber, request: Any) -> Any:
        operation = _dynamodb_operation(request)
        if operation is None:
            return process_request(stubber, request)
        body = json.loads(request.body or b"{}")
        if resent_still_in_progress and operation == "TransactWriteItems" and (operation, body) in log.sent:
            log.sent.append((operation, body))
            return _error(400, "TransactionInProgressException", "The transaction is still in progress.")
        log.sent.append((operation, body))
        response = process_request(stubber, request)
        if len(log.lost) < times and when(operation, body):
            log.lost.append(operation)
            raise ReadTimeoutError(endpoint_url=request.url)
        return response

    monkeypatch.setattr(BotocoreStubber, "process_request", losing)
    return log


def _dynamodb_operation(request: Any) -> str | None:
    target = request.headers.get("X-Amz-Target") or b""
    target = target.decode() if isinstance(target, bytes) else target
    return target.removeprefix(_DYNAMODB_TARGET_PREFIX) if target.startswith(_DYNAMODB_TARGET_PREFIX) else None


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, str], str]:
    body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message})
    return status, {"Content-Type": "application/x-amz-json-1.0"}, body
