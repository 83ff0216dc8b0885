"""The WebSocket API's routes: ``$connect`` records the connection, ``$disconnect`` forgets it, ``$default``
answers client frames. The caller is the user uuid the ``$connect`` authorizer put in the connection's context
(``domain.live_callers``): none of them reads PostgreSQL.

A user keeps at most ``LIVE_CONNECTIONS_PER_USER`` connections (tabs, devices). Past the bound the *oldest* are
closed and forgotten, rather than the new one refused: the oldest is the likeliest to be a tab left open
elsewhere or a connection whose ``$disconnect`` never came, and refusing would lock a user out of live updates
until their stale connections expire. Two connects racing at the bound may briefly leave one more. Closing is best
effort: whatever the management API answers, the oldest is forgotten and the new one admitted.

**A calm eviction.** ``DeleteConnection`` takes no close code: API Gateway closes with 1000, the code of any normal
close (aws/chalice#2060 shows it in API Gateway's logs; the management API's ``DeleteConnection`` has only a
connection id), so a client that reconnects on close, as it should after a drop, would evict the next oldest tab,
and tabs past the bound would evict each other forever. So an evicted connection is first posted the ``evicted``
frame (``models.evicted_frame``, code 4001), and closed only once that post is answered: its client knows not to
reconnect. A connection gone already (410) is not closed again. A client that misses the frame (its post not
taken) reconnects once, which evicts the next oldest, which does get it: one more round, not a loop.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Sequence

from aws_lambda_powertools.metrics import MetricUnit

from cruddur_messaging.clock import format_timestamp
from cruddur_messaging.data.connection_gateway import Closing, ConnectionGateway, Delivery
from cruddur_messaging.data.connections import ConnectionStore
from cruddur_messaging.errors import FrameErrorCode
from cruddur_messaging.models import LIVE_SUBPROTOCOL, PONG_FRAME, LiveConnection, error_frame, evicted_frame
from cruddur_messaging.observability import logger, metrics

MAX_CLIENT_FRAME_CHARS = 4096


@dataclass(frozen=True)
class Connected:
    connection: LiveConnection
    subprotocol: str | None
    """The subprotocol to select in the handshake: ``cruddur.v1`` when the client offered it."""
    evicted: int


def connect(store: ConnectionStore, gateway: ConnectionGateway, user_uuid: str, connection_id: str,
            offered_subprotocols: Sequence[str], limit: int, now: datetime | None = None) -> Connected:
    moment = now or datetime.now(timezone.utc)
    existing = store.of_user(user_uuid, moment)
    evicted = existing[:max(0, len(existing) - limit + 1)]
    not_closed = 0
    for old in evicted:
        # Best effort: whatever the management API answers (403, throttled, unreachable, a timeout), the item is
        # forgotten and the new connection admitted. One left open gets no more frames; API Gateway closes it
        # when it idles or reaches its two hours.
        if not _evict(gateway, old.connection_id):
            not_closed += 1
        store.remove(user_uuid, old.connection_id)
    if evicted:
        metrics.add_metric(name="LiveConnectionsEvicted", unit=MetricUnit.Count, value=len(evicted))
        logger.info("oldest connections closed past the bound", extra={"evicted": len(evicted), "limit": limit})
    if not_closed:
        metrics.add_metric(name="LiveEvictionsNotClosed", unit=MetricUnit.Count, value=not_closed)
        logger.warning("evicted connections forgotten without being closed", extra={"not_closed": not_closed})
    connection = LiveConnection(user_uuid=user_uuid, connection_id=connection_id,
                                connected_at=format_timestamp(moment))
    store.add(connection)
    subprotocol = LIVE_SUBPROTOCOL if LIVE_SUBPROTOCOL in offered_subprotocols else None
    return Connected(connection, subprotocol, len(evicted))


def _evict(gateway: ConnectionGateway, connection_id: str) -> bool:
    """Tells the connection why it is closed, then closes it (two calls of at most a few seconds each,
    ``data.connection_gateway``): False when it may be open still."""
    if gateway.post(connection_id, evicted_frame()) is Delivery.GONE:
        return True
    return gateway.close(connection_id) is not Closing.FAILED


def disconnect(store: ConnectionStore, user_uuid: str, connection_id: str) -> None:
    store.remove(user_uuid, connection_id)


def answer_client_frame(body: str | None) -> dict[str, Any]:
    """``{"action": "ping"}`` -> pong; anything else -> an error frame (the connection stays open)."""
    if body is None or len(body) > MAX_CLIENT_FRAME_CHARS:
        return error_frame(FrameErrorCode.INVALID_FRAME,
                           f"Frames are JSON objects of at most {MAX_CLIENT_FRAME_CHARS} characters.")
    try:
        frame = json.loads(body)
    except ValueError:
        return error_frame(FrameErrorCode.INVALID_JSON, "The frame is not valid JSON.")
    if not isinstance(frame, dict):
        return error_frame(FrameErrorCode.INVALID_FRAME, "A frame is a JSON object with an \"action\".")
    if frame.get("action") == "ping":
        return dict(PONG_FRAME)
    return error_frame(FrameErrorCode.UNKNOWN_ACTION,
                       "The only client action is \"ping\"; messages are sent over the HTTP API.")

