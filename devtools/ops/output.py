"""How the commands print: aligned columns for people, one JSON object per line for items."""
from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any, Iterable, Sequence

from boto3.dynamodb.types import Binary

from cruddur_messaging.clock import instant_of

LOCAL_TIME_FORMAT = "%Y-%m-%d %I:%M %p %Z"
ELLIPSIS = "…"


def local_time(timestamp: str) -> str:
    """A stored timestamp in the operator's time zone (TZ). Items written the tutorial's way carry the writer's
    local offset and may lack microseconds; anything unparseable is shown as stored."""
    moment = instant_of(timestamp)
    return moment.astimezone().strftime(LOCAL_TIME_FORMAT) if moment else timestamp


def columns(rows: Iterable[Sequence[str]]) -> list[str]:
    """Rows as lines with every column but the last padded to its widest cell."""
    rows = [list(row) for row in rows]
    if not rows:
        return []
    widths = [max(len(row[index]) for row in rows) for index in range(len(rows[0]) - 1)]
    return ["  ".join([*(cell.ljust(width) for cell, width in zip(row, widths)), row[-1]]).rstrip()
            for row in rows]


def flat(text: str) -> str:
    """``text`` on one line (a message may hold line breaks)."""
    return " ".join(text.split())


def preview(text: str, width: int) -> str:
    """``text`` on one line, cut to ``width`` characters."""
    line = flat(text)
    return line if len(line) <= width else line[:width - 1] + ELLIPSIS


def item_json(item: dict[str, Any]) -> str:
    """One DynamoDB item (as the boto3 resource returns it) as a JSON line."""
    return json.dumps(item, sort_keys=True, ensure_ascii=False, default=_json_value)


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, Binary):
        return base64.b64encode(value.value).decode()
    raise TypeError(f"cannot print {type(value).__name__} as JSON")
