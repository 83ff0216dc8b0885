"""What a WebSocket handshake carries: the subprotocols it offers and the access token.

Browsers cannot set headers on a WebSocket, so they send the token as a second subprotocol
(``Sec-WebSocket-Protocol: cruddur.v1, <token>``) and the server selects ``cruddur.v1``; other clients may use
``?access_token=`` instead (which, unlike a header, can end up in access logs).
"""
from __future__ import annotations

from typing import Mapping

from cruddur_messaging.models import LIVE_SUBPROTOCOL


def offered_subprotocols(headers: Mapping[str, str] | None) -> list[str]:
    """``Sec-WebSocket-Protocol``'s comma-separated values, whatever the header's case."""
    for name, value in (headers or {}).items():
        if name.lower() == "sec-websocket-protocol" and value:
            return [part.strip() for part in value.split(",") if part.strip()]
    return []


def token_of_handshake(headers: Mapping[str, str] | None, query: Mapping[str, str] | None) -> str | None:
    """The subprotocol offered next to ``cruddur.v1``, else ``?access_token=``; None when there is neither."""
    subprotocols = offered_subprotocols(headers)
    if LIVE_SUBPROTOCOL in subprotocols:
        others = [value for value in subprotocols if value != LIVE_SUBPROTOCOL]
        if others:
            return others[0]
    token = (query or {}).get("access_token", "").strip()
    return token or None
