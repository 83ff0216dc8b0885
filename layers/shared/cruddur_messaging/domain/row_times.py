"""Where group rows are in time: their ``sk`` as an instant (parsed by ``clock``), and a bound to read them again
from.

Pure time arithmetic (no Powertools stream data classes), so mark-read imports it without the stream's parsing.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from cruddur_messaging.clock import format_timestamp, instant_of

BEFORE_ANY_TIME = datetime.min.replace(tzinfo=timezone.utc)


def instant_of_row(row: dict[str, Any]) -> datetime:
    """A row whose ``sk`` is not a timestamp is older than any message: the next one puts it right."""
    return instant_of(row["sk"]) or BEFORE_ANY_TIME


def lower_bound(rows: list[dict[str, Any]]) -> str | None:
    """An ``sk`` at or below where the rows are now, as text (how DynamoDB compares it).

    The rows moved forward since they were read, always to canonical timestamps, which sort as text; a
    tutorial ``sk`` may not (another offset), so the bound is the lower of it and its canonical form.
    """
    bounds = []
    for row in rows:
        instant = instant_of(row["sk"])
        if instant is None:
            return None
        bounds.append(min(row["sk"], format_timestamp(instant)))
    return min(bounds, default=None)
