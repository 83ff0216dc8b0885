"""The WebSocket API's management API (``apigatewaymanagementapi``): posting frames to connections, closing them.

Its endpoint is the API's own host under the stage (``config.LiveSettings``); locally ``make dev`` answers it.

**One connection's trouble stays that connection's.** ``PostToConnection`` answers 410 ``GoneException`` for a
connection that no longer exists and 429 ``LimitExceededException`` when "the client is sending more than the
allowed number of requests per unit of time or the WebSocket client side buffer is full" (the API reference's
words, ApiGatewayManagementApi ``PostToConnection``/``LimitExceededException``; it also lists
``ForbiddenException`` 403 and ``PayloadTooLargeException`` 413). Nothing here waits for such a connection: one
attempt per call (no SDK retries, which in ``standard`` mode would retry a 429 as throttling, with back-off) and
short connect and read timeouts, so a post costs at most ``CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS`` and a
stuck client cannot stall the frames of the others. What to do about a frame not taken is the caller's choice.
"""
from __future__ import annotations

import enum
import json
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from cruddur_messaging.observability import logger

CONNECT_TIMEOUT_SECONDS = 1
READ_TIMEOUT_SECONDS = 2
# Sized for a pool of parallel posts (domain.live_delivery.POST_CONCURRENCY).
CLIENT_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=CONNECT_TIMEOUT_SECONDS,
                       read_timeout=READ_TIMEOUT_SECONDS, max_pool_connections=16)
_PERMANENT_ERRORS = frozenset({"ForbiddenException", "PayloadTooLargeException", "BadRequestException"})


class Delivery(enum.Enum):
    DELIVERED = "delivered"
    GONE = "gone"
    """410: the connection no longer exists (or its handshake has not completed yet)."""
    REJECTED = "rejected"
    """A permanent refusal (an invalid connection id, a frame too large, no permission): retrying would not help."""
    FAILED = "failed"
    """Not taken now: throttled or the client's buffer full (429), a timeout, an unreachable endpoint, a 5xx."""


class Closing(enum.Enum):
    CLOSED = "closed"
    GONE = "gone"
    """410: it was closed already."""
    FAILED = "failed"
    """Any other answer (403, 429, a 5xx), a timeout or an unreachable endpoint: the connection may be open still."""


class ConnectionGateway:
    def __init__(self, client: Any) -> None:
        self._client = client

    @classmethod
    def at(cls, management_endpoint: str) -> "ConnectionGateway":
        """A gateway with a client of its own for the management API at ``management_endpoint``."""
        return cls(boto3.client("apigatewaymanagementapi", endpoint_url=management_endpoint, config=CLIENT_CONFIG))

    def post(self, connection_id: str, frame: dict[str, Any]) -> Delivery:
        data = json.dumps(frame, separators=(",", ":")).encode()
        try:
            self._client.post_to_connection(ConnectionId=connection_id, Data=data)
        except ClientError as error:
            code = _code_of(error)
            if code == "GoneException":
                return Delivery.GONE
            logger.warning("posting to a connection failed", extra={"error_code": code})
            return Delivery.REJECTED if code in _PERMANENT_ERRORS else Delivery.FAILED
        except BotoCoreError as error:
            logger.warning("the WebSocket management API did not answer", extra={"error": type(error).__name__})
            return Delivery.FAILED
        return Delivery.DELIVERED

    def close(self, connection_id: str) -> Closing:
        """Closes the connection (``DeleteConnection``: the close code is API Gateway's, the API takes none).
        Never raises: whatever the management API answers is returned and logged (its error code only)."""
        try:
            self._client.delete_connection(ConnectionId=connection_id)
        except ClientError as error:
            code = _code_of(error)
            if code == "GoneException":
                return Closing.GONE
            logger.warning("closing a connection failed", extra={"error_code": code})
            return Closing.FAILED
        except BotoCoreError as error:
            logger.warning("the WebSocket management API did not answer a close", extra={"error": type(error).__name__})
            return Closing.FAILED
        return Closing.CLOSED


def _code_of(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
