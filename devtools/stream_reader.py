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
from devtools.local_stack.stream_shards import ShardFollower

STREAM_FUNCTION = "MessageStreamFunction"
Record = dict[str, Any]


class StreamReader:
    """Reads the stream from where it last stopped, following its shards as the local poller does
    (``ShardFollower``: fresh iterators, shard changes, moto replacing the shard on a cancelled transaction)."""

    def __init__(self, stream_arn: str, resources: LocalResources) -> None:
        self._stream_arn = stream_arn
        self._region = resources.region
        self._follower = ShardFollower(boto3.client("dynamodbstreams", region_name=resources.region), stream_arn,
                                       "TRIM_HORIZON")
        specs = local_function_specs(resources, stream_arn)
        self.mapping = StreamMapping.from_event(specs[STREAM_FUNCTION].stream_events[0])
        """The stream function's event source mapping, as the template declares it (its filter, batch size...)."""

    def new_records(self) -> list[Record]:
        records: list[Record] = []
        while reads := self._follower.read():
            records.extend(record for read in reads for record in read.records)
        return [lambda_record(record, self._stream_arn, self._region) for record in records]

    def new_message_inserts(self) -> list[Record]:
        """What the stream function's mapping filter lets through (inserts of ``MSG#`` items, and their modifies:
        edits and deletes)."""
        return [record for record in self.new_records() if self.mapping.accepts(record)]
