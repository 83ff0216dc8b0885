"""``bin/ddb/patterns/get-conversation`` (pattern A) and ``list-conversations`` (pattern B), for people.

Both read newest first, follow pages until ``--limit`` rows, and filter nothing by date: a conversation from
any year is shown. ``get-conversation`` prints the consumed read capacity summed over its queries, as the
tutorial's script did.
"""
from __future__ import annotations

import argparse
import json
import sys
import uuid
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import Key

from cruddur_messaging.data import keys
from cruddur_messaging.data.messages import MessageStore
from devtools.ops.cli import Command, positive_int
from devtools.ops.database import find_users
from devtools.ops.ddb import existing_table
from devtools.ops.errors import OpsError
from devtools.ops.output import columns, flat, local_time, preview
from devtools.ops.target import Target

DEFAULT_LIMIT = 20
DEFAULT_PAGE_SIZE = 100
PREVIEW_CHARS = 60


def _limit_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=positive_int, default=DEFAULT_LIMIT,
                        help=f"how many of the newest to show (default {DEFAULT_LIMIT})")
    parser.add_argument("--page-size", type=positive_int, default=DEFAULT_PAGE_SIZE,
                        help=f"items per DynamoDB query (default {DEFAULT_PAGE_SIZE})")


@dataclass(frozen=True)
class NewestItems:
    items: list[dict[str, Any]]
    """Newest first."""
    has_more: bool
    capacity_units: float
    queries: int


def query_newest(table: Any, pk: str, limit: int, page_size: int) -> NewestItems:
    """Up to ``limit`` items of a partition, newest first, page after page, with the capacity they cost.

    One item more than asked tells whether older ones exist without a trailing empty query.
    """
    items: list[dict[str, Any]] = []
    arguments: dict[str, Any] = {"KeyConditionExpression": Key("pk").eq(pk), "ScanIndexForward": False,
                                 "ReturnConsumedCapacity": "TOTAL"}
    units, queries = 0.0, 0
    while True:
        response = table.query(Limit=min(page_size, limit + 1 - len(items)), **arguments)
        queries += 1
        units += float(response.get("ConsumedCapacity", {}).get("CapacityUnits", 0))
        items.extend(response["Items"])
        if len(items) > limit or "LastEvaluatedKey" not in response:
            return NewestItems(items[:limit], len(items) > limit, units, queries)
        arguments["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def _message_group_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("message_group_uuid", help="the conversation, e.g. 5ae290ed-55d1-47a0-bc6d-fe2bc2700399")
    _limit_arguments(parser)


def get_conversation(args: argparse.Namespace, target: Target) -> None:
    try:
        group = str(uuid.UUID(args.message_group_uuid))
    except ValueError:
        raise OpsError(f"not a message group uuid: {args.message_group_uuid!r}") from None
    with existing_table(target.table_name):
        newest = query_newest(target.table(), keys.messages_pk(group), args.limit, args.page_size)
    if not newest.items:
        raise OpsError(f"no messages in message group {group}")
    rows = [(item.get("user_handle", "?"), local_time(item["sk"]), flat(item.get("message", "")))
            for item in reversed(newest.items)]
    for line in columns(rows):
        print(line)
    if newest.has_more:
        print(f"(older messages not shown; raise --limit above {args.limit})")
    capacity = {"CapacityUnits": newest.capacity_units, "TableName": target.table_name}
    queries = f"{newest.queries} {'query' if newest.queries == 1 else 'queries'}"
    print(f"consumed capacity over {queries}: {json.dumps(capacity, sort_keys=True)}")


def _handle_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("handle", help="whose conversations, e.g. andrewbrown (or @andrewbrown)")
    _limit_arguments(parser)


def list_conversations(args: argparse.Namespace, target: Target) -> None:
    handle = args.handle.removeprefix("@")
    user = find_users(target.database_url(), [handle])[handle]
    if user is None:
        raise OpsError(f"unknown handle: {handle}")
    store = MessageStore(target.table(), target.group_index_name)
    rows: list[dict[str, Any]] = []
    start_key = None
    with existing_table(target.table_name):
        while True:
            page = store.list_group_rows(user.uuid, min(args.page_size, args.limit - len(rows)), start_key)
            rows.extend(page.items)
            if not page.has_more or len(rows) >= args.limit:
                break
            start_key = {"pk": rows[-1]["pk"], "sk": rows[-1]["sk"]}
    if not rows:
        print(f"{user.handle} has no conversations", file=sys.stderr)
        return
    for line in columns((row.get("user_handle", "?"), row.get("user_display_name", ""), local_time(row["sk"]),
                         row.get("message_group_uuid", "?"), preview(row.get("message", ""), PREVIEW_CHARS))
                        for row in rows):
        print(line)
    if page.has_more:
        print(f"(older conversations not shown; raise --limit above {args.limit})")


GET_CONVERSATION = Command("ddb/patterns/get-conversation",
                           "Prints a conversation, oldest of the newest --limit messages first: sender, local time, "
                           "text; then the consumed read capacity.", get_conversation, _message_group_argument)
LIST_CONVERSATIONS = Command("ddb/patterns/list-conversations",
                             "Prints a user's conversations, newest first: the other member, the local time and "
                             "text of the last message, the group uuid.", list_conversations, _handle_argument)
