"""The local moto server's ``TransactWriteItems`` (``moto_transactions``): item-level rollback.

Speed is checked by counting what a transaction copies, not by timing: moto's own copies the whole table."""
from __future__ import annotations

from typing import Any, Iterator

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import Item

from devtools.local_stack import moto_transactions

TABLE = "t"


@pytest.fixture
def patched(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", moto_transactions.transact_write_items)


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "sk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
        yield client


def put(dynamodb: Any, pk: str, **attributes: str) -> None:
    dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": pk}, "sk": {"S": "1"},
                                             **{name: {"S": value} for name, value in attributes.items()}})


def everything(dynamodb: Any) -> list[dict[str, Any]]:
    return sorted(dynamodb.scan(TableName=TABLE, ConsistentRead=True)["Items"], key=lambda item: item["pk"]["S"])


def stream(dynamodb: Any) -> list[tuple[str, str]]:
    streams = boto3.client("dynamodbstreams", region_name="us-east-1")
    arn = dynamodb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard,
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    return [(record["eventName"], record["dynamodb"]["Keys"]["pk"]["S"])
            for record in streams.get_records(ShardIterator=iterator)["Records"]]


def cancelled_transaction(dynamodb: Any) -> None:
    """Puts a new item, updates and deletes existing ones, then fails its last condition."""
    with pytest.raises(dynamodb.exceptions.TransactionCanceledException) as raised:
        dynamodb.transact_write_items(TransactItems=[
            {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "new"}, "sk": {"S": "1"}}}},
            {"Update": {"TableName": TABLE, "Key": {"pk": {"S": "kept-1"}, "sk": {"S": "1"}},
                        "UpdateExpression": "SET v = :v", "ExpressionAttributeValues": {":v": {"S": "changed"}}}},
            {"Delete": {"TableName": TABLE, "Key": {"pk": {"S": "kept-2"}, "sk": {"S": "1"}}}},
            {"ConditionCheck": {"TableName": TABLE, "Key": {"pk": {"S": "kept-3"}, "sk": {"S": "1"}},
                                "ConditionExpression": "attribute_not_exists(pk)"}}])
    reasons = [reason["Code"] for reason in raised.value.response["CancellationReasons"]]
    assert reasons == ["None", "None", "None", "ConditionalCheckFailed"]


def count_item_copies(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    copies = [0]
    deepcopy = Item.__deepcopy__

    def counting(self: Item, memo: dict[int, Any]) -> Item:
        copies[0] += 1
        return deepcopy(self, memo)

    monkeypatch.setattr(Item, "__deepcopy__", counting)
    return copies


@pytest.mark.parametrize("stored", [10, 1000])
def test_a_transaction_copies_only_the_items_it_writes_whatever_the_table_holds(
        patched: None, dynamodb: Any, monkeypatch: pytest.MonkeyPatch, stored: int) -> None:
    for number in range(stored):
        put(dynamodb, f"MSG#{number:05d}")
    for pk in ("kept-1", "kept-2", "kept-3"):
        put(dynamodb, pk)
    copies = count_item_copies(monkeypatch)
    cancelled_transaction(dynamodb)
    # The put's absent item is remembered as absent; the update and the delete copy one item each (moto's update
    # copies its item once more to emit the old image, as any UpdateItem does).
    assert copies[0] <= 3


def test_a_cancelled_transaction_leaves_every_item_and_the_stream_as_they_were(patched: None, dynamodb: Any) -> None:
    for pk in ("kept-1", "kept-2", "kept-3"):
        put(dynamodb, pk, v="original")
    items, records = everything(dynamodb), stream(dynamodb)
    cancelled_transaction(dynamodb)
    assert everything(dynamodb) == items
    assert stream(dynamodb) == records

    put(dynamodb, "after")  # the stream goes on in place: same shard, next sequence number
    assert stream(dynamodb) == [*records, ("INSERT", "after")]


def test_a_committed_transaction_emits_exactly_its_writes(patched: None, dynamodb: Any) -> None:
    for pk in ("kept-1", "kept-2"):
        put(dynamodb, pk)
    dynamodb.transact_write_items(TransactItems=[
        {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "new"}, "sk": {"S": "1"}}}},
        {"Delete": {"TableName": TABLE, "Key": {"pk": {"S": "kept-1"}, "sk": {"S": "1"}}}},
        {"ConditionCheck": {"TableName": TABLE, "Key": {"pk": {"S": "kept-2"}, "sk": {"S": "1"}},
                            "ConditionExpression": "attribute_exists(pk)"}}])
    assert stream(dynamodb)[2:] == [("INSERT", "new"), ("REMOVE", "kept-1")]
    assert [item["pk"]["S"] for item in everything(dynamodb)] == ["kept-2", "new"]


def test_a_write_that_lands_while_a_transaction_runs_survives_its_cancellation(
        patched: None, dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another request's write between two of the transaction's steps (moto.server is threaded). The local
    server also serializes DynamoDB requests (``moto_launcher``), but the rollback must not depend on it."""
    for pk in ("kept-1", "kept-2", "kept-3"):
        put(dynamodb, pk)
    get_item = DynamoDBBackend.get_item
    interleaved: list[str] = []

    def read_then_a_concurrent_write(self: DynamoDBBackend, table_name: str, key: dict[str, Any],
                                     *args: Any, **kwargs: Any) -> Any:
        if key["pk"] == {"S": "kept-1"} and not interleaved:  # after the transaction's put, before its update
            interleaved.append("concurrent")
            self.put_item(table_name, {"pk": {"S": "concurrent"}, "sk": {"S": "1"}})
        return get_item(self, table_name, key, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "get_item", read_then_a_concurrent_write)
    cancelled_transaction(dynamodb)
    assert interleaved == ["concurrent"]
    assert [item["pk"]["S"] for item in everything(dynamodb)] == ["concurrent", "kept-1", "kept-2", "kept-3"]
    assert ("INSERT", "concurrent") in stream(dynamodb)
    assert ("INSERT", "new") not in stream(dynamodb)
