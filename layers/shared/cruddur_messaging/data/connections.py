"""Open WebSocket connections, one item each in the user's own partition: ``CONN#<user uuid>`` / connection id.

An item lives from ``$connect`` until ``$disconnect``, the first delivery that finds the connection gone (410),
an eviction past the per-user bound, or its TTL (``expiration``: API Gateway closes every connection after two
hours, so nothing outlives that by more than the margin).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from cruddur_messaging.clock import format_timestamp, parse_timestamp
from cruddur_messaging.data import keys
from cruddur_messaging.data.dynamodb import dynamodb_errors_as_unavailable
from cruddur_messaging.data.table_access import query_all
from cruddur_messaging.models import LiveConnection

# API Gateway's maximum connection duration, plus a margin for clock skew and TTL's own delay.
CONNECTION_LIFETIME = timedelta(hours=2, minutes=5)
TIME_TO_LIVE_ATTRIBUTE = "expiration"


class ConnectionStore:
    def __init__(self, table: Any) -> None:
        self._table = table

    def add(self, connection: LiveConnection) -> None:
        connected_at = parse_timestamp(connection.connected_at)
        item = {
            "pk": keys.connections_pk(connection.user_uuid),
            "sk": connection.connection_id,
            "connection_id": connection.connection_id,
            "user_uuid": connection.user_uuid,
            "connected_at": connection.connected_at,
            TIME_TO_LIVE_ATTRIBUTE: int((connected_at + CONNECTION_LIFETIME).timestamp()),
        }
        with dynamodb_errors_as_unavailable():
            self._table.put_item(Item=item)

    def of_user(self, user_uuid: str, now: datetime | None = None) -> list[LiveConnection]:
        """The user's connections, oldest first; strongly consistent, so a connection opened a moment ago gets
        the next frame. Items past their TTL that DynamoDB has not removed yet are left out."""
        now_epoch = int((now or datetime.now(timezone.utc)).timestamp())
        arguments: dict[str, Any] = {"KeyConditionExpression": Key("pk").eq(keys.connections_pk(user_uuid)),
                                     "ConsistentRead": True}
        items = query_all(self._table, arguments)
        live = [item for item in items if int(item.get(TIME_TO_LIVE_ATTRIBUTE, now_epoch + 1)) > now_epoch]
        connections = [LiveConnection(user_uuid=user_uuid, connection_id=item["sk"],
                                      connected_at=item.get("connected_at", "")) for item in live]
        return sorted(connections, key=lambda connection: connection.connected_at)

    def remove(self, user_uuid: str, connection_id: str) -> None:
        with dynamodb_errors_as_unavailable():
            self._table.delete_item(Key={"pk": keys.connections_pk(user_uuid), "sk": connection_id})

    def remove_gone(self, connection: LiveConnection, connected_before: datetime) -> bool:
        """Deletes a connection the management API called gone, unless it was recorded after
        ``connected_before``: ``$connect`` records a connection before its handshake completes, and until then
        the API answers 410 for it too. Returns whether it was deleted."""
        try:
            with dynamodb_errors_as_unavailable():
                self._table.delete_item(
                    Key={"pk": keys.connections_pk(connection.user_uuid), "sk": connection.connection_id},
                    ConditionExpression=Attr("connected_at").lt(format_timestamp(connected_before)))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True
