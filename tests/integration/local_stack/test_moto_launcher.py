"""The local stack's moto server (``moto_launcher``) as a process of its own: state that survives a ``kill -9``,
and transactions that stay atomic while other requests write concurrently."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Iterator

import boto3
import jwt
import pytest
import requests

from devtools.local_stack.launch import free_port
from devtools.local_stack.moto_server import MotoServer

TABLE = "t"
TABLE_DEFINITION = {
    "TableName": TABLE, "BillingMode": "PAY_PER_REQUEST",
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                             {"AttributeName": "sk", "AttributeType": "S"}],
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
}
PASSWORD = "Cruddur-local-1"


class Endpoint:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.server: MotoServer | None = None

    def start(self) -> "Endpoint":
        self.server = MotoServer("127.0.0.1", free_port(), self.tmp_path / "moto.log",
                                 state_dir=self.tmp_path / "state").start()
        return self

    def kill(self) -> None:
        assert self.server is not None and self.server.process is not None
        self.server.process.kill()
        self.server.process.wait(10)

    def client(self, service: str) -> Any:
        assert self.server is not None
        return boto3.client(service, endpoint_url=self.server.url, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[Endpoint]:
    running = Endpoint(tmp_path)
    try:
        yield running.start()
    finally:
        if running.server is not None:
            running.server.stop()


def put(dynamodb: Any, pk: str, sk: str = "1") -> None:
    dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": pk}, "sk": {"S": sk}})


def items(dynamodb: Any) -> list[str]:
    pages = dynamodb.get_paginator("scan").paginate(TableName=TABLE, ConsistentRead=True)
    return sorted(f'{item["pk"]["S"]}/{item["sk"]["S"]}' for page in pages for item in page["Items"])


def stream(dynamodb: Any, streams: Any) -> list[tuple[str, str, str]]:
    arn = dynamodb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard,
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    records = []
    while True:
        response = streams.get_records(ShardIterator=iterator)
        if not response["Records"]:
            return records
        records += [(record["dynamodb"]["SequenceNumber"], record["eventName"], record["dynamodb"]["Keys"]["pk"]["S"])
                    for record in response["Records"]]
        iterator = response["NextShardIterator"]


def cancel_a_transaction(dynamodb: Any, pk: str) -> None:
    with pytest.raises(dynamodb.exceptions.TransactionCanceledException):
        dynamodb.transact_write_items(TransactItems=[
            {"Put": {"TableName": TABLE, "Item": {"pk": {"S": f"{pk}-phantom"}, "sk": {"S": "1"}}}},
            {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "GUARD"}, "sk": {"S": "1"}},
                     "ConditionExpression": "attribute_not_exists(pk)"}}])


def sign_in(endpoint: Endpoint) -> tuple[str, str, str, str]:
    """A pool, a client and a user; returns the pool id, client id, the user's sub and an access token."""
    cognito = endpoint.client("cognito-idp")
    pool_id = cognito.create_user_pool(PoolName="p", UsernameAttributes=["email"])["UserPool"]["Id"]
    client_id = cognito.create_user_pool_client(UserPoolId=pool_id, ClientName="c", GenerateSecret=False,
                                                ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"])[
        "UserPoolClient"]["ClientId"]
    user = cognito.admin_create_user(UserPoolId=pool_id, Username="g@example.com", MessageAction="SUPPRESS",
                                     UserAttributes=[{"Name": "email", "Value": "g@example.com"}])["User"]
    cognito.admin_set_user_password(UserPoolId=pool_id, Username="g@example.com", Password=PASSWORD, Permanent=True)
    sub = next(attribute["Value"] for attribute in user["Attributes"] if attribute["Name"] == "sub")
    token = cognito.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH", AuthParameters={
        "USERNAME": "g@example.com", "PASSWORD": PASSWORD})["AuthenticationResult"]["AccessToken"]
    return pool_id, client_id, sub, token


def verified_claims(endpoint: Endpoint, pool_id: str, token: str) -> dict[str, Any]:
    """Checks the token as the local JWT authorizer does: against the pool's JWKS as the endpoint serves it now."""
    assert endpoint.server is not None
    keys = requests.get(f"{endpoint.server.url}/{pool_id}/.well-known/jwks.json", timeout=10).json()
    key = jwt.PyJWKSet.from_dict(keys)[jwt.get_unverified_header(token)["kid"]]
    return jwt.decode(token, key.key, algorithms=["RS256"], options={"verify_aud": False})


def test_items_stream_and_users_survive_a_kill_9_without_replaying_the_stream(endpoint: Endpoint) -> None:
    dynamodb, streams = endpoint.client("dynamodb"), endpoint.client("dynamodbstreams")
    dynamodb.create_table(**TABLE_DEFINITION)
    for pk in ("MSG#1", "MSG#2", "GUARD"):
        put(dynamodb, pk)
    cancel_a_transaction(dynamodb, "MSG#3")
    dynamodb.update_item(TableName=TABLE, Key={"pk": {"S": "MSG#1"}, "sk": {"S": "1"}},
                         UpdateExpression="SET v = :v", ExpressionAttributeValues={":v": {"S": "edited"}})
    dynamodb.delete_item(TableName=TABLE, Key={"pk": {"S": "MSG#2"}, "sk": {"S": "1"}})
    pool_id, client_id, sub, token = sign_in(endpoint)
    before_items, before_stream = items(dynamodb), stream(dynamodb, streams)

    endpoint.kill()  # no chance to save anything on the way out
    endpoint.start()
    dynamodb, streams = endpoint.client("dynamodb"), endpoint.client("dynamodbstreams")
    assert dynamodb.list_tables()["TableNames"] == []  # tables come back when the stack provisions them
    dynamodb.create_table(**TABLE_DEFINITION)
    assert items(dynamodb) == before_items == ["GUARD/1", "MSG#1/1"]
    edited = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "MSG#1"}, "sk": {"S": "1"}})["Item"]
    assert edited["v"] == {"S": "edited"}
    # The retained records, as they were: restoring emitted nothing, and numbering goes on after them.
    assert stream(dynamodb, streams) == before_stream
    put(dynamodb, "MSG#4")
    after = stream(dynamodb, streams)
    assert after[:-1] == before_stream
    assert after[-1][1:] == ("INSERT", "MSG#4") and int(after[-1][0]) == int(before_stream[-1][0]) + 1

    cognito = endpoint.client("cognito-idp")
    (user,) = cognito.list_users(UserPoolId=pool_id)["Users"]
    assert next(attribute["Value"] for attribute in user["Attributes"] if attribute["Name"] == "sub") == sub
    assert [client["ClientId"] for client in cognito.list_user_pool_clients(UserPoolId=pool_id)[
        "UserPoolClients"]] == [client_id]
    claims = verified_claims(endpoint, pool_id, token)  # issued before the restart
    assert (claims["sub"], claims["client_id"], claims["token_use"]) == (sub, client_id, "access")
    assert cognito.get_user(AccessToken=token)["Username"]


def test_a_deleted_table_comes_back_empty_and_its_stream_numbering_goes_on(endpoint: Endpoint) -> None:
    dynamodb, streams = endpoint.client("dynamodb"), endpoint.client("dynamodbstreams")
    dynamodb.create_table(**TABLE_DEFINITION)
    put(dynamodb, "old")
    last = int(stream(dynamodb, streams)[-1][0])
    dynamodb.delete_table(TableName=TABLE)
    endpoint.kill()
    endpoint.start()
    dynamodb, streams = endpoint.client("dynamodb"), endpoint.client("dynamodbstreams")
    dynamodb.create_table(**TABLE_DEFINITION)
    assert items(dynamodb) == []
    put(dynamodb, "new")
    assert [(int(number), name) for number, _, name in stream(dynamodb, streams)] == [(last + 1, "new")]


def test_cancelled_transactions_never_undo_nor_show_in_the_stream_next_to_concurrent_writes(
        endpoint: Endpoint) -> None:
    """Real concurrency over HTTP: writers and cancelled transactions at the same time, then every write is
    there and the stream holds exactly the writes, none of the transactions'."""
    dynamodb = endpoint.client("dynamodb")
    dynamodb.create_table(**TABLE_DEFINITION)
    put(dynamodb, "GUARD")
    errors: list[BaseException] = []

    def writer(number: int) -> None:
        client = endpoint.client("dynamodb")
        try:
            for index in range(30):
                put(client, f"W{number}", f"{index:03d}")
        except BaseException as error:  # noqa: BLE001 - reported by the test
            errors.append(error)

    def canceller() -> None:
        client = endpoint.client("dynamodb")
        try:
            for index in range(30):
                cancel_a_transaction(client, f"T{index}")
        except BaseException as error:  # noqa: BLE001 - reported by the test
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(number,)) for number in range(3)]
    threads += [threading.Thread(target=canceller) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    expected = sorted(["GUARD/1"] + [f"W{number}/{index:03d}" for number in range(3) for index in range(30)])
    assert items(dynamodb) == expected
    records = stream(dynamodb, endpoint.client("dynamodbstreams"))
    assert sorted(f"{name}" for _, _, name in records) == sorted(item.split("/")[0] for item in expected)
    numbers = [int(number) for number, _, _ in records]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))

