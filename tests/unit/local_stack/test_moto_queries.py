"""The local stack's moto answers queries from the partition asked for (``moto_queries``): the same pages as
moto's own query, which sorts the whole table each time, for table and index queries alike."""
from __future__ import annotations

from typing import Any, Callable, Iterator

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.models.table import Table

from devtools.local_stack import moto_queries

Query = dict[str, Any]
QUERIES: list[Query] = [
    {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "MSG#g1"}}},
    {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "MSG#g1"}},
     "ScanIndexForward": False, "Limit": 3},
    {"KeyConditionExpression": "pk = :p AND sk BETWEEN :a AND :b",
     "ExpressionAttributeValues": {":p": {"S": "MSG#g2"}, ":a": {"S": "2026-01-03"}, ":b": {"S": "2026-01-07"}}},
    {"KeyConditionExpression": "pk = :p AND begins_with(sk, :y)",
     "ExpressionAttributeValues": {":p": {"S": "GRP#u1"}, ":y": {"S": "2026-01-0"}}},
    {"KeyConditionExpression": "pk = :p", "FilterExpression": "user_handle = :h",
     "ExpressionAttributeValues": {":p": {"S": "MSG#g1"}, ":h": {"S": "bayko"}}, "Select": "COUNT"},
    {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "MSG#none"}}},
    {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "MSG#g1"}},
     "ExclusiveStartKey": {"pk": {"S": "MSG#g1"}, "sk": {"S": "2026-01-04T00:00:00.000000+00:00"}}, "Limit": 2},
    {"IndexName": "by-group", "KeyConditionExpression": "message_group_uuid = :g",
     "ExpressionAttributeValues": {":g": {"S": "g1"}}},
    {"IndexName": "by-group", "KeyConditionExpression": "message_group_uuid = :g",
     "ExpressionAttributeValues": {":g": {"S": "g2"}}, "ScanIndexForward": False, "Limit": 1},
]


def _table(client: Any) -> None:
    client.create_table(
        TableName="t", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"}
                              for name in ("pk", "sk", "message_group_uuid")],
        GlobalSecondaryIndexes=[{"IndexName": "by-group", "Projection": {"ProjectionType": "ALL"},
                                 "KeySchema": [{"AttributeName": "message_group_uuid", "KeyType": "HASH"},
                                               {"AttributeName": "sk", "KeyType": "RANGE"}]}])
    for day in range(1, 10):
        at = f"2026-01-0{day}T00:00:00.000000+00:00"
        for group in ("g1", "g2", "g3"):
            client.put_item(TableName="t", Item={"pk": {"S": f"MSG#{group}"}, "sk": {"S": at},
                                                 "user_handle": {"S": "bayko" if day % 2 else "andrewbrown"}})
        for owner, group in (("u1", "g1"), ("u2", "g2")):
            client.put_item(TableName="t", Item={"pk": {"S": f"GRP#{owner}"}, "sk": {"S": at},
                                                 "message_group_uuid": {"S": group}})


def _answers(install: Callable[[], None] | None) -> list[dict[str, Any]]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        _table(client)
        if install is not None:
            install()
        answers = []
        for query in QUERIES:
            answer = client.query(TableName="t", **query)
            answers.append({key: answer.get(key) for key in ("Items", "Count", "ScannedCount", "LastEvaluatedKey")})
        return answers


@pytest.fixture
def restore_query() -> Iterator[None]:
    moto_query = Table.query
    yield
    Table.query = moto_query  # type: ignore[method-assign]


def test_queries_answer_as_moto_does(restore_query: None) -> None:
    assert _answers(moto_queries.install) == _answers(None)


def test_a_table_query_never_gathers_the_whole_table(restore_query: None, monkeypatch: pytest.MonkeyPatch) -> None:
    gathered: list[str] = []
    whole_table = Table.all_items
    monkeypatch.setattr(Table, "all_items", lambda self: gathered.append(self.name) or whole_table(self))
    _answers(moto_queries.install)
    assert gathered == []
