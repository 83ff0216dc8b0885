"""A table's stream read back as Lambda's event source mapping hands it to the stream function.

For tests and benchmarks that feed real stream records (moto's DynamoDB Streams) to the function: records come
in Lambda's shape (``lambda_record``), and ``new_message_inserts`` keeps only what the template's
``FilterCriteria`` lets through, so a test cannot use a filter other than the one deployed.
"""
from __future__ import annotations

from typing import Any

import boto3

from devtools.environment import LocalResources, local_function_specs
from devtools.local_stack.stream_poller import StreamMapping, lambda_record

STREAM_FUNCTION = "MessageStreamFunction"
Record = dict[str, Any]


class StreamReader:
    """Reads the stream from where it last stopped. A fresh shard iterator every time, because moto replaces
    the table (and its shard) when it rolls a cancelled transaction back."""

    def __init__(self, stream_arn: str, resources: LocalResources) -> None:
        self._stream_arn = stream_arn
        self._region = resources.region
        self._client = boto3.client("dynamodbstreams", region_name=resources.region)
        self._last_sequence_number: str | None = None
        specs = local_function_specs(resources, stream_arn)
        self._mapping = StreamMapping.from_event(specs[STREAM_FUNCTION].stream_events[0])

    def new_records(self) -> list[Record]:
        shard = self._client.describe_stream(StreamArn=self._stream_arn)["StreamDescription"]["Shards"][0]
        position: dict[str, Any] = {"ShardIteratorType": "TRIM_HORIZON"}
        if self._last_sequence_number is not None:
            position = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": self._last_sequence_number}
        iterator = self._client.get_shard_iterator(StreamArn=self._stream_arn, ShardId=shard["ShardId"],
                                                   **position)["ShardIterator"]
        records: list[Record] = []
        while True:
            response = self._client.get_records(ShardIterator=iterator)
            if not response["Records"]:
                break
            records.extend(response["Records"])
            iterator = response["NextShardIterator"]
        if records:
            self._last_sequence_number = records[-1]["dynamodb"]["SequenceNumber"]
        return [lambda_record(record, self._stream_arn, self._region) for record in records]

    def new_message_inserts(self) -> list[Record]:
        """What the event source mapping's filter lets through (inserts of ``MSG#`` items)."""
        return [record for record in self.new_records() if self._mapping.accepts(record)]
