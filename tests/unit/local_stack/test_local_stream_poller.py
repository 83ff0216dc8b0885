"""The local stream poller: Lambda's batch, retry, bisect and failure-destination rules, then the polling itself
against moto's DynamoDB Streams."""
from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable

import boto3
import pytest
from moto import mock_aws

from devtools.local_stack.event_filter import EventPattern
from devtools.local_stack.stream_poller import (
    BatchDelivery,
    CheckpointFile,
    FailedBatch,
    StreamMapping,
    StreamPoller,
    destination_record,
    lambda_record,
)
from devtools.local_stack.stream_shards import ShardFollower
from tests.support.concurrency import serialize_moto

NOW = 1_800_000_000.0


def records(*sequence_numbers: int, created: float = NOW) -> list[dict[str, Any]]:
    return [{"eventID": str(n), "eventName": "INSERT",
             "dynamodb": {"SequenceNumber": str(n), "ApproximateCreationDateTime": created}}
            for n in sequence_numbers]


def mapping(**overrides: Any) -> StreamMapping:
    settings = {"stream_arn": "arn:stream", "starting_position": "TRIM_HORIZON", "report_batch_item_failures": True,
                "bisect_on_error": True, "max_retry_attempts": 2, "max_record_age_seconds": 60}
    return StreamMapping(**{**settings, **overrides})


class Function:
    """A stand-in for the stream function: records every batch it got, answers with ``behaviour``."""

    def __init__(self, behaviour: Callable[[list[str]], Any]) -> None:
        self.behaviour = behaviour
        self.batches: list[list[str]] = []

    def __call__(self, event: dict[str, Any]) -> Any:
        batch = [record["dynamodb"]["SequenceNumber"] for record in event["Records"]]
        self.batches.append(batch)
        return self.behaviour(batch)


def deliver(function: Function, batch: list[dict[str, Any]], **overrides: Any) -> tuple[list[FailedBatch], list]:
    sleeps: list[float] = []
    delivery = BatchDelivery(mapping(**overrides), function, sleep=lambda seconds: sleeps.append(seconds) or False,
                             now=lambda: NOW)
    return delivery.deliver(batch), sleeps


def sequence(failed: FailedBatch) -> list[str]:
    return [record["dynamodb"]["SequenceNumber"] for record in failed.records]


def test_a_successful_batch_is_delivered_once() -> None:
    for answer in (None, {}, {"batchItemFailures": []}, {"batchItemFailures": None}, "ignored"):
        function = Function(lambda batch, answer=answer: answer)
        assert deliver(function, records(1, 2, 3)) == ([], [])
        assert function.batches == [["1", "2", "3"]]


def test_a_partial_failure_resumes_from_the_lowest_failed_sequence_number() -> None:
    answers = iter([{"batchItemFailures": [{"itemIdentifier": "4"}, {"itemIdentifier": "3"}]}, None])
    function = Function(lambda batch: next(answers))
    failed, sleeps = deliver(function, records(1, 2, 3, 4, 5))
    assert failed == []
    assert function.batches == [["1", "2", "3", "4", "5"], ["3", "4", "5"]]
    assert sleeps == [1.0]


def test_an_unknown_item_identifier_fails_the_whole_batch() -> None:
    answers = iter([{"batchItemFailures": [{"itemIdentifier": "99"}]}, {"batchItemFailures": [{"itemIdentifier": ""}]},
                    None])
    function = Function(lambda batch: next(answers))
    assert deliver(function, records(1, 2))[0] == []
    assert function.batches == [["1", "2"], ["1", "2"], ["1", "2"]]


def test_partial_failures_are_ignored_without_report_batch_item_failures() -> None:
    function = Function(lambda batch: {"batchItemFailures": [{"itemIdentifier": "1"}]})
    assert deliver(function, records(1, 2), report_batch_item_failures=False)[0] == []
    assert function.batches == [["1", "2"]]


def test_a_function_error_bisects_without_using_up_retries_and_isolates_the_bad_record() -> None:
    def behaviour(batch: list[str]) -> None:
        if "3" in batch:
            raise RuntimeError("poison")

    function = Function(behaviour)
    failed, sleeps = deliver(function, records(1, 2, 3, 4))
    assert function.batches == [["1", "2", "3", "4"], ["1", "2"], ["3", "4"], ["3"], ["3"], ["3"], ["4"]]
    assert [(sequence(item), item.condition, item.function_error) for item in failed] == [
        (["3"], "RetryAttemptsExhausted", "Unhandled")]
    assert failed[0].invoke_count == 5  # the two splits on the way down, then three tries of the record alone
    assert sleeps == [1.0, 2.0]


def test_without_bisect_the_whole_batch_is_retried_then_given_up() -> None:
    function = Function(lambda batch: (_ for _ in ()).throw(ValueError("down")))
    failed, _ = deliver(function, records(1, 2), bisect_on_error=False, max_retry_attempts=1)
    assert function.batches == [["1", "2"], ["1", "2"]]
    assert [sequence(item) for item in failed] == [["1", "2"]]


def test_records_past_the_maximum_age_go_to_the_destination_without_an_invocation() -> None:
    function = Function(lambda batch: None)
    failed, _ = deliver(function, records(1, 2, created=NOW - 61))
    assert function.batches == []
    assert [(sequence(item), item.condition, item.invoke_count) for item in failed] == [
        (["1", "2"], "RecordAgeExceeded", 0)]


def test_a_stopping_poller_abandons_the_retries() -> None:
    function = Function(lambda batch: (_ for _ in ()).throw(ValueError("down")))
    delivery = BatchDelivery(mapping(bisect_on_error=False, max_retry_attempts=-1), function, sleep=lambda _: True,
                             now=lambda: NOW)
    assert delivery.deliver(records(1)) == []
    assert function.batches == [["1"]]


def test_the_destination_record_carries_the_batchs_metadata_as_lambda_sends_it() -> None:
    failed = FailedBatch(records(7, 8, 9), "RetryAttemptsExhausted", invoke_count=6, function_error="Unhandled")
    message = destination_record(failed, function_arn="arn:aws:lambda:us-east-1:123456789012:function:F",
                                 stream_arn="arn:stream", shard_id="shardId-1")
    assert message["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert message["requestContext"]["approximateInvokeCount"] == 6
    assert message["requestContext"]["functionArn"].endswith(":function:F")
    assert message["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert message["version"] == "1.0"
    info = message["DDBStreamBatchInfo"]
    assert (info["shardId"], info["streamArn"], info["batchSize"]) == ("shardId-1", "arn:stream", 3)
    assert (info["startSequenceNumber"], info["endSequenceNumber"]) == ("7", "9")
    expected = datetime.fromtimestamp(NOW, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert info["approximateArrivalOfFirstRecord"] == info["approximateArrivalOfLastRecord"] == expected
    expired = destination_record(FailedBatch(records(1), "RecordAgeExceeded", 0), function_arn="f",
                                 stream_arn="s", shard_id="x")
    assert "responseContext" not in expired


def test_a_stream_record_becomes_the_record_lambda_hands_over() -> None:
    created = datetime(2026, 11, 21, 4, 0, 0, tzinfo=timezone.utc)
    raw = {"eventID": "e", "eventName": "INSERT", "eventVersion": "1.0", "eventSource": "aws:dynamodb",
           "awsRegion": "us-east-1", "dynamodb": {"ApproximateCreationDateTime": created, "Keys": {"pk": {"S": "a"}},
                                                  "NewImage": {"pk": {"S": "a"}}, "SequenceNumber": "5",
                                                  "SizeBytes": 10, "StreamViewType": "NEW_IMAGE"}}
    converted = lambda_record(raw, "arn:stream", "eu-west-1")
    assert converted["eventSourceARN"] == "arn:stream"
    assert converted["awsRegion"] == "eu-west-1"
    assert converted["dynamodb"]["ApproximateCreationDateTime"] == int(created.timestamp())
    assert converted["dynamodb"]["NewImage"] == {"pk": {"S": "a"}}
    json.dumps(converted)  # the function gets plain JSON


@pytest.fixture
def stream() -> Any:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(
            TableName="t", BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "sk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
        sqs = boto3.client("sqs", region_name="us-east-1")
        queue_url = sqs.create_queue(QueueName="failures")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        yield dynamodb, sqs, queue_url, queue_arn, dynamodb.describe_table(TableName="t")["Table"]["LatestStreamArn"]


def wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_poller_reads_filters_batches_and_reports_failures_to_the_queue(stream: Any) -> None:
    dynamodb, sqs, queue_url, queue_arn, stream_arn = stream
    for pk in ("MSG#a", "GRP#b", "MSG#poison", "MSG#c"):
        dynamodb.put_item(TableName="t", Item={"pk": {"S": pk}, "sk": {"S": "1"}})
    dynamodb.put_item(TableName="t", Item={"pk": {"S": "MSG#a"}, "sk": {"S": "1"}, "v": {"S": "changed"}})
    delivered: list[list[str]] = []

    def function(event: dict[str, Any]) -> Any:
        keys = [record["dynamodb"]["Keys"]["pk"]["S"] for record in event["Records"]]
        delivered.append(keys)
        poisoned = [record["dynamodb"]["SequenceNumber"] for record in event["Records"]
                    if record["dynamodb"]["NewImage"]["pk"]["S"] == "MSG#poison"]
        return {"batchItemFailures": [{"itemIdentifier": number} for number in poisoned]}

    poller = StreamPoller(
        function_arn="arn:aws:lambda:us-east-1:123456789012:function:F",
        mapping=mapping(stream_arn=stream_arn, batch_size=2, max_retry_attempts=1, on_failure_arn=queue_arn,
                        filters=(EventPattern.parse('{"eventName": ["INSERT"], '
                                                    '"dynamodb": {"Keys": {"pk": {"S": [{"prefix": "MSG#"}]}}}}'),)),
        invoke=function, streams_client=boto3.client("dynamodbstreams", region_name="us-east-1"),
        sqs_client=sqs, region="us-east-1", poll_interval_seconds=0.05, retry_delay_seconds=0.01)
    poller.start()
    try:
        wait_for(lambda: int(sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=[
            "ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"]) == 1)
    finally:
        poller.stop()
    # Only the three inserts of MSG# items, two to a batch; the poisoned record and those after it are retried.
    assert delivered == [["MSG#a", "MSG#poison"], ["MSG#poison"], ["MSG#c"]]
    message = json.loads(sqs.receive_message(QueueUrl=queue_url)["Messages"][0]["Body"])
    assert message["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert message["DDBStreamBatchInfo"]["batchSize"] == 1
    assert message["DDBStreamBatchInfo"]["streamArn"] == stream_arn


MESSAGES_ONLY = (EventPattern.parse('{"eventName": ["INSERT"], '
                                    '"dynamodb": {"Keys": {"pk": {"S": [{"prefix": "MSG#"}]}}}}'),)


def message_poller(stream_arn: str, sqs: Any, delivered: list[str], checkpoint: CheckpointFile | None = None) -> Any:
    def function(event: dict[str, Any]) -> Any:
        delivered.extend(record["dynamodb"]["Keys"]["pk"]["S"] for record in event["Records"])
        return {"batchItemFailures": []}

    return StreamPoller(function_arn="arn:aws:lambda:us-east-1:123456789012:function:F",
                        mapping=mapping(stream_arn=stream_arn, filters=MESSAGES_ONLY), invoke=function,
                        streams_client=boto3.client("dynamodbstreams", region_name="us-east-1"), sqs_client=sqs,
                        region="us-east-1", poll_interval_seconds=0.05, retry_delay_seconds=0.01,
                        checkpoint=checkpoint)


def cancel_a_transaction(dynamodb: Any) -> None:
    with pytest.raises(dynamodb.exceptions.TransactionCanceledException):
        dynamodb.transact_write_items(TransactItems=[
            {"Put": {"TableName": "t", "Item": {"pk": {"S": "MSG#never"}, "sk": {"S": "1"}}}},
            {"ConditionCheck": {"TableName": "t", "Key": {"pk": {"S": "MSG#1"}, "sk": {"S": "1"}},
                                "ConditionExpression": "attribute_not_exists(pk)"}}])


def test_the_poller_keeps_delivering_after_moto_swaps_the_table_on_a_cancelled_transaction(
        stream: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """moto (unpatched, as here) rolls a cancelled transaction back by replacing the table and its shard with a
    copy; the shard id stays, and an iterator of the old shard reads the abandoned shard for ever (with the
    rolled-back transaction's record in it). moto is made atomic per request, as DynamoDB is, and no read is in
    flight while the transaction runs: an iterator taken just before moto's swap and used just after it would read
    the abandoned shard once, which is moto's flaw, not the poller's (DynamoDB never swaps a shard, and
    ``moto_launcher`` rolls back in place under a lock that also covers the stream reads)."""
    serialize_moto(monkeypatch)
    reading = threading.Lock()
    read = ShardFollower.read

    def read_alone(self: ShardFollower, *args: Any, **kwargs: Any) -> Any:
        with reading:
            return read(self, *args, **kwargs)

    monkeypatch.setattr(ShardFollower, "read", read_alone)
    dynamodb, sqs, _, _, stream_arn = stream
    delivered: list[str] = []
    poller = message_poller(stream_arn, sqs, delivered)
    poller.start()
    try:
        dynamodb.put_item(TableName="t", Item={"pk": {"S": "MSG#1"}, "sk": {"S": "1"}})
        wait_for(lambda: delivered == ["MSG#1"])
        with reading:
            cancel_a_transaction(dynamodb)
        dynamodb.put_item(TableName="t", Item={"pk": {"S": "MSG#2"}, "sk": {"S": "1"}})
        dynamodb.put_item(TableName="t", Item={"pk": {"S": "MSG#3"}, "sk": {"S": "1"}})
        wait_for(lambda: len(delivered) >= 3)
        time.sleep(0.3)  # several more polls: nothing may come twice
    finally:
        poller.stop()
    assert delivered == ["MSG#1", "MSG#2", "MSG#3"]


def test_a_restarted_poller_resumes_after_the_last_record_it_delivered(stream: Any, tmp_path: Any) -> None:
    dynamodb, sqs, _, _, stream_arn = stream
    checkpoint = CheckpointFile(tmp_path / "checkpoint.json")
    before: list[str] = []
    poller = message_poller(stream_arn, sqs, before, checkpoint)
    poller.start()
    try:
        for pk in ("MSG#1", "GRP#x", "MSG#2"):
            dynamodb.put_item(TableName="t", Item={"pk": {"S": pk}, "sk": {"S": "1"}})
        wait_for(lambda: before == ["MSG#1", "MSG#2"])
    finally:
        poller.stop()
    dynamodb.put_item(TableName="t", Item={"pk": {"S": "MSG#3"}, "sk": {"S": "1"}})

    after: list[str] = []
    restarted = message_poller(stream_arn, sqs, after, checkpoint)
    restarted.start()
    try:
        wait_for(lambda: after == ["MSG#3"])
        time.sleep(0.3)
    finally:
        restarted.stop()
    assert after == ["MSG#3"]
