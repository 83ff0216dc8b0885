"""The local stack's moto answers DynamoDB's data operations with plain JSON (``moto_responses``): the same
documents moto's shape serializer writes, for every attribute type and every operation it takes over."""
from __future__ import annotations

import json
from typing import Any, Iterator

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.responses import DynamoResult

from devtools.local_stack import moto_responses

EVERY_TYPE = {
    "pk": {"S": "MSG#group"},
    "sk": {"S": "2026-11-29T20:00:00.000001+00:00"},
    "text": {"S": "héllo \u2603 \"quoted\" \\ back"},
    "number": {"N": "-12.50"},
    "binary": {"B": b"\x00\xffbinary"},
    "strings": {"SS": ["a", "b"]},
    "numbers": {"NS": ["1", "2.5"]},
    "binaries": {"BS": [b"\x01", b"\x02"]},
    "map": {"M": {"nested": {"L": [{"S": "x"}, {"N": "1"}, {"B": b"\x03"}, {"NULL": True}]}, "flag": {"BOOL": False}}},
    "list": {"L": [{"M": {"deep": {"SS": ["z"]}}}]},
    "nothing": {"NULL": True},
    "yes": {"BOOL": True},
}
KEY = {"pk": EVERY_TYPE["pk"], "sk": EVERY_TYPE["sk"]}


@pytest.fixture
def compared(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Runs both serializers on every DynamoDB result; answers with the plain one, records what it took over."""
    taken_over: list[str] = []

    def both(self: DynamoResult, context: Any) -> Any:
        status, headers, body = moto_responses._shape_serialized(self, context)
        if context.operation_model.name in moto_responses.FAST_OPERATIONS:
            plain = moto_responses._execute_result(self, context)
            assert plain[0] == status
            assert plain[1]["Content-Type"] == headers["Content-Type"]
            assert json.loads(plain[2]) == json.loads(body), context.operation_model.name
            taken_over.append(context.operation_model.name)
            return plain
        return status, headers, body

    monkeypatch.setattr(DynamoResult, "execute_result", both)
    yield taken_over


def test_every_operation_taken_over_answers_as_moto_would(compared: list[str]) -> None:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                       {"AttributeName": "sk", "KeyType": "RANGE"}],
                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                  {"AttributeName": "sk", "AttributeType": "S"}])
        client.put_item(TableName="t", Item=EVERY_TYPE, ReturnConsumedCapacity="TOTAL")
        client.put_item(TableName="t", Item={**EVERY_TYPE, "sk": {"S": "2026-11-29T20:00:00.000002+00:00"}},
                        ReturnValues="ALL_OLD")
        item = client.get_item(TableName="t", Key=KEY, ConsistentRead=True)["Item"]
        assert item["binary"] == {"B": b"\x00\xffbinary"}
        page = client.query(TableName="t", KeyConditionExpression="pk = :p", Limit=1,
                            ExpressionAttributeValues={":p": EVERY_TYPE["pk"]}, ReturnConsumedCapacity="TOTAL")
        assert "LastEvaluatedKey" in page
        client.query(TableName="t", KeyConditionExpression="pk = :p", Select="COUNT",
                     ExpressionAttributeValues={":p": EVERY_TYPE["pk"]})
        client.scan(TableName="t")
        client.update_item(TableName="t", Key=KEY, UpdateExpression="SET #n = #n + :one",
                           ExpressionAttributeNames={"#n": "number"}, ExpressionAttributeValues={":one": {"N": "1"}},
                           ReturnValues="ALL_NEW")
        with pytest.raises(client.exceptions.ConditionalCheckFailedException) as refused:
            client.put_item(TableName="t", Item=EVERY_TYPE, ConditionExpression="attribute_not_exists(pk)",
                            ReturnValuesOnConditionCheckFailure="ALL_OLD")
        assert refused.value.response["Item"]["binaries"] == {"BS": [b"\x01", b"\x02"]}
        client.batch_get_item(RequestItems={"t": {"Keys": [KEY]}})
        client.transact_get_items(TransactItems=[{"Get": {"TableName": "t", "Key": KEY}}])
        client.transact_write_items(TransactItems=[{"Update": {
            "TableName": "t", "Key": KEY, "UpdateExpression": "SET yes = :no",
            "ExpressionAttributeValues": {":no": {"BOOL": False}}}}])
        client.batch_write_item(RequestItems={"t": [{"PutRequest": {"Item": {**EVERY_TYPE, "sk": {"S": "x"}}}}]})
        client.delete_item(TableName="t", Key=KEY, ReturnValues="ALL_OLD")
        client.describe_table(TableName="t")
    assert set(compared) == moto_responses.FAST_OPERATIONS
