"""``bin/ddb/schema-load``, ``list-tables``, ``drop`` and ``scan``: the messages table itself.

The table is created from ``template.yaml`` (keys, index, billing mode, stream, time to live), the definition
``sam deploy`` uses, so a table loaded here cannot drift from the deployed one.
"""
from __future__ import annotations

import argparse
import sys
from contextlib import contextmanager
from typing import Any, Iterator

from botocore.exceptions import ClientError

from devtools.environment import LocalResources, template_context
from devtools.ops.cli import Command, confirm, positive_int
from devtools.ops.errors import OpsError
from devtools.ops.output import item_json
from devtools.ops.target import Target
from devtools.template import load_template, table_definition, time_to_live_attribute


def messages_table_definition(target: Target) -> dict[str, Any]:
    """``create_table`` arguments for the target's table, from the template."""
    template = load_template()
    resources = LocalResources(table_name=target.table_name, region=target.region,
                               parameters={"MessageGroupIndexName": target.group_index_name})
    return table_definition(template, template_context(resources, template))


@contextmanager
def existing_table(table_name: str) -> Iterator[None]:
    """Turns "table not found" into the operator's next step."""
    try:
        yield
    except ClientError as error:
        if error.response["Error"]["Code"] == "ResourceNotFoundException":
            raise OpsError(f"table {table_name} does not exist; create it with bin/ddb/schema-load") from None
        raise


def schema_load(args: argparse.Namespace, target: Target) -> None:
    dynamodb = target.client("dynamodb")
    definition = messages_table_definition(target)
    try:
        dynamodb.create_table(**definition)
    except dynamodb.exceptions.ResourceInUseException:
        print(f"table {target.table_name} already exists")
        return
    dynamodb.get_waiter("table_exists").wait(TableName=target.table_name)
    ttl_attribute = time_to_live_attribute(load_template())
    if ttl_attribute:
        dynamodb.update_time_to_live(TableName=target.table_name,
                                     TimeToLiveSpecification={"AttributeName": ttl_attribute, "Enabled": True})
    indexes = ", ".join(index["IndexName"] for index in definition.get("GlobalSecondaryIndexes", []))
    stream = definition.get("StreamSpecification", {}).get("StreamViewType", "no stream")
    print(f"created table {target.table_name} (index {indexes}; stream {stream})")


def list_tables(args: argparse.Namespace, target: Target) -> None:
    for page in target.client("dynamodb").get_paginator("list_tables").paginate():
        for name in page["TableNames"]:
            print(name)


def _drop_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("table", help="name of the table to delete, e.g. cruddur-messages")
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation in prod")


def drop(args: argparse.Namespace, target: Target) -> None:
    if target.is_prod and not args.yes:
        confirm(f"Delete DynamoDB table {args.table} in {target.region}?", args.table)
    dynamodb = target.client("dynamodb")
    try:
        dynamodb.delete_table(TableName=args.table)
    except dynamodb.exceptions.ResourceNotFoundException:
        raise OpsError(f"table {args.table} does not exist") from None
    dynamodb.get_waiter("table_not_exists").wait(TableName=args.table)
    print(f"deleted table {args.table}")


def page_size_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--page-size", type=positive_int, default=None,
                        help="items per Scan request (default: as many as fit in 1 MB)")


def scan_pages(table: Any, page_size: int | None = None, **request: Any) -> Iterator[dict[str, Any]]:
    """The responses of a scan of the table, one page (``LastEvaluatedKey``) at a time."""
    if page_size:
        request["Limit"] = page_size
    while True:
        response = table.scan(**request)
        yield response
        if "LastEvaluatedKey" not in response:
            return
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def scan(args: argparse.Namespace, target: Target) -> None:
    """Every item of the table, one JSON object per line; the count goes to stderr."""
    count = 0
    with existing_table(target.table_name):
        for response in scan_pages(target.table(), args.page_size):
            for item in response["Items"]:
                print(item_json(item))
            count += len(response["Items"])
    print(f"{count} items in {target.table_name}", file=sys.stderr)


SCHEMA_LOAD = Command("ddb/schema-load", "Creates the messages table as template.yaml defines it, unless it exists.",
                      schema_load)
LIST_TABLES = Command("ddb/list-tables", "Lists the DynamoDB tables.", list_tables)
DROP = Command("ddb/drop", "Deletes a DynamoDB table (asks first in prod).", drop, _drop_arguments)
SCAN = Command("ddb/scan", "Prints every item of the messages table as JSON lines.", scan, page_size_argument)
