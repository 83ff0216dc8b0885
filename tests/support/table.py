"""Looking at the table from outside the layer: what items of each kind exist, a group's messages, snapshots."""
from __future__ import annotations

from collections import Counter
from typing import Any

from boto3.dynamodb.conditions import Key

from cruddur_messaging.data import keys
from cruddur_messaging.data.table_access import query_all as query_pages_all
from devtools.ops.ddb import scan_pages

KINDS = ("GRP#", "MSG#", "GROUP#", "PAIR#", "IDEMPOTENCY#", "BLOCK#")
SPENT_ALLOWANCES = (keys.LIMIT_PREFIX,)
"""The senders' limit items (``data/send_limits.py``): what a sender has spent of a limit, not a message, a row or a
record of one. ``census`` and ``snapshot`` leave them out, so "nothing was written" means no data; the limits' own
tests read them (``limit_items``)."""


def scan_all(table: Any) -> list[dict[str, Any]]:
    return [item for page in scan_pages(table, ConsistentRead=True) for item in page["Items"]]


def kind_of(item: dict[str, Any]) -> str:
    for kind in KINDS:
        if item["pk"].startswith(kind):
            return kind
    raise AssertionError(f"item of an unknown kind: {item}")


def data_items(table: Any) -> list[dict[str, Any]]:
    """Every item but the senders' limit items."""
    return [item for item in scan_all(table) if not item["pk"].startswith(SPENT_ALLOWANCES)]


def limit_items(table: Any) -> list[dict[str, Any]]:
    return [item for item in scan_all(table) if item["pk"].startswith(SPENT_ALLOWANCES)]


def census(table: Any) -> Counter[str]:
    """How many items of each kind the table holds (limit items aside)."""
    return Counter(kind_of(item) for item in data_items(table))


def snapshot(table: Any) -> list[dict[str, Any]]:
    """Every item (limit items aside), in key order: compare two snapshots to prove nothing was written."""
    return sorted(data_items(table), key=lambda item: (item["pk"], item["sk"]))


def query_all(table: Any, pk: str) -> list[dict[str, Any]]:
    """Every item of a partition in ascending ``sk`` order."""
    return query_pages_all(table, {"KeyConditionExpression": Key("pk").eq(pk), "ConsistentRead": True})


def messages_in(table: Any, message_group_uuid: str) -> list[dict[str, Any]]:
    return query_all(table, f"MSG#{message_group_uuid}")


def group_rows_of(table: Any, user_uuid: str) -> list[dict[str, Any]]:
    return query_all(table, f"GRP#{user_uuid}")


def pair_items(table: Any) -> list[dict[str, Any]]:
    return [item for item in scan_all(table) if item["pk"].startswith("PAIR#")]
