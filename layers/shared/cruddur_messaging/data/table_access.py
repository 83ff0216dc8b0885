"""The DynamoDB requests the stores share, each written once: the membership read, the query of a group's rows
through ``message-group-sk-index``, paging through a query, and the put that never overwrites; and the membership
and pair items, which a new group, a tutorial-era group and ``bin/ddb/migrate`` all write.

Plain functions over a boto3 ``Table``, so each store keeps only the calls its functions' roles allow: the
stores choose which of these they make (``template.yaml`` grants each function exactly those), and nothing here
is a store of its own.
"""
from __future__ import annotations

from typing import Any, Iterator

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from cruddur_messaging.data import keys
from cruddur_messaging.data.dynamodb import dynamodb_errors_as_unavailable

Item = dict[str, Any]


def recorded_members(table: Any, message_group_uuid: str) -> frozenset[str] | None:
    """The members the group's membership item records (None without one: a group written the tutorial's way,
    see ``data.tutorial_data``). Strongly consistent, so a group's creator can read it in the very next request."""
    with dynamodb_errors_as_unavailable():
        item = table.get_item(Key=keys.membership_key(message_group_uuid), ConsistentRead=True).get("Item")
    return frozenset(item["member_uuids"]) if item else None


def query_pages(table: Any, arguments: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The responses of a query, one page (``LastEvaluatedKey``) at a time; a caller may stop early."""
    while True:
        with dynamodb_errors_as_unavailable():
            response = table.query(**arguments)
        yield response
        if "LastEvaluatedKey" not in response:
            return
        arguments = {**arguments, "ExclusiveStartKey": response["LastEvaluatedKey"]}


def query_all(table: Any, arguments: dict[str, Any]) -> list[Item]:
    return [item for page in query_pages(table, arguments) for item in page["Items"]]


def first_of_query(table: Any, arguments: dict[str, Any]) -> Item | None:
    """The first item a (filtered) query finds: pages are read only until one holds it."""
    return next((page["Items"][0] for page in query_pages(table, arguments) if page["Items"]), None)


def group_rows_in_index(table: Any, group_index_name: str, message_group_uuid: str,
                        projection: str | None = None) -> list[Item]:
    """The group's rows, one per member, as ``message-group-sk-index`` has them: eventually consistent, so
    possibly rows that were moved since (their old key) or without a row written a moment ago."""
    arguments: dict[str, Any] = {
        "IndexName": group_index_name,
        "KeyConditionExpression": Key("message_group_uuid").eq(message_group_uuid),
    }
    if projection:
        arguments["ProjectionExpression"] = projection
    return query_all(table, arguments)


def membership_item(message_group_uuid: str, member_uuids: frozenset[str] | set[str], created_at: str) -> Item:
    return {**keys.membership_key(message_group_uuid), "member_uuids": sorted(member_uuids), "created_at": created_at}


def pair_item(user_uuid: str, other_user_uuid: str, message_group_uuid: str) -> Item:
    return {**keys.pair_key(user_uuid, other_user_uuid), "group_uuid": message_group_uuid}


def put_if_absent(table: Any, item: Item) -> bool:
    """Puts ``item`` unless its key holds one; False when it did (whoever wrote it first, it stays, the SDK's
    retry of our own put included)."""
    try:
        with dynamodb_errors_as_unavailable():
            table.put_item(Item=item, ConditionExpression=Attr("pk").not_exists())
    except ClientError as error:
        if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        return False
    return True
