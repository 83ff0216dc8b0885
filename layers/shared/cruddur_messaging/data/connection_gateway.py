"""The WebSocket API's management API (``apigatewaymanagementapi``): posting frames to connections, closing them.

Its endpoint is the API's own host under the stage (``config.LiveSettings``); locally ``make dev`` answers it.
"""
from __future__ import annotations

import enum
import json
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from cruddur_messaging.observability import logger

# Two attempts, short timeouts: a connection that does not take a frame within a few seconds is retried with
# its record (the event source mapping redelivers), not waited for. Sized for a pool of parallel posts.
CLIENT_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 2}, connect_timeout=1, read_timeout=2,
                       max_pool_connections=16)
_PERMANENT_ERRORS = frozenset({"ForbiddenException", "PayloadTooLargeException", "BadRequestException"})


class Delivery(enum.Enum):
    DELIVERED = "delivered"
    GONE = "gone"
    """410: the connection no longer exists (or its handshake has not completed yet)."""
    REJECTED = "rejected"
    """A permanent refusal (an invalid connection id, a frame too large): retrying would not help."""
    FAILED = "failed"
    """Throttled, unreachable or a server error: worth retrying."""


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
            code = error.response.get("Error", {}).get("Code", "")
            if code == "GoneException":
                return Delivery.GONE
            logger.warning("posting to a connection failed", extra={"error_code": code})
            return Delivery.REJECTED if code in _PERMANENT_ERRORS else Delivery.FAILED
        except BotoCoreError as error:
            logger.warning("the WebSocket management API is unreachable", extra={"error": type(error).__name__})
            return Delivery.FAILED
        return Delivery.DELIVERED

    def close(self, connection_id: str) -> None:
        """Closes the connection; one that is already gone is fine."""
        try:
            self._client.delete_connection(ConnectionId=connection_id)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "GoneException":
                raise
