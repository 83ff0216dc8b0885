"""Following a stream across shard changes: DynamoDB closes shards and opens children (every few hours, and on
partition splits), iterators expire after 15 minutes, records are trimmed after 24 hours.

moto never closes a shard or opens a child, so these tests run against ``FakeStreams``, a small model of the
DynamoDB Streams API calls the follower makes (DescribeStream with paging, GetShardIterator, GetRecords) with
those behaviours. The moto cases (a table swapped on a cancelled transaction, a restart) are in
``test_local_stream_poller.py`` and ``tests/integration/local_stack``."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ClientError

from devtools.local_stack.stream_shards import ShardFollower, StreamPositions

STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/label"


@dataclass
class FakeShard:
    shard_id: str
    first_sequence_number: int
    parent_id: str | None = None
    records: list[dict[str, Any]] = field(default_factory=list)
    closed: bool = False
    trimmed: int = 0  # records before this index are gone

    def description(self) -> dict[str, Any]:
        numbers = {"StartingSequenceNumber": str(self.first_sequence_number + self.trimmed)}
        if self.closed:
            numbers["EndingSequenceNumber"] = str(self.first_sequence_number + len(self.records) - 1)
        return {"ShardId": self.shard_id, "SequenceNumberRange": numbers,
                **({"ParentShardId": self.parent_id} if self.parent_id else {})}


class FakeStreams:
    def __init__(self, page_size: int = 2) -> None:
        self.shards: list[FakeShard] = []
        self.page_size = page_size
        self.iterators: dict[str, tuple[str, int]] = {}
        self.expire_next_iterator = False

    def shard(self, shard_id: str, first: int, parent: str | None = None) -> FakeShard:
        shard = FakeShard(shard_id, first, parent)
        self.shards.append(shard)
        return shard

    def write(self, shard: FakeShard, *names: str) -> None:
        for name in names:
            number = shard.first_sequence_number + len(shard.records)
            shard.records.append({"eventName": "INSERT", "dynamodb": {"SequenceNumber": str(number),
                                                                      "Keys": {"pk": {"S": name}}}})

    def describe_stream(self, StreamArn: str, ExclusiveStartShardId: str | None = None) -> dict[str, Any]:
        ids = [shard.shard_id for shard in self.shards]
        start = ids.index(ExclusiveStartShardId) + 1 if ExclusiveStartShardId else 0
        page = self.shards[start:start + self.page_size]
        description: dict[str, Any] = {"Shards": [shard.description() for shard in page]}
        if start + self.page_size < len(self.shards):
            description["LastEvaluatedShardId"] = page[-1].shard_id
        return {"StreamDescription": description}

    def get_shard_iterator(self, StreamArn: str, ShardId: str, ShardIteratorType: str,
                           SequenceNumber: str | None = None) -> dict[str, Any]:
        shard = next(shard for shard in self.shards if shard.shard_id == ShardId)
        if ShardIteratorType == "TRIM_HORIZON":
            index = shard.trimmed
        elif ShardIteratorType == "LATEST":
            index = len(shard.records)
        else:
            index = int(SequenceNumber) - shard.first_sequence_number + 1
            if index - 1 < shard.trimmed:
                raise ClientError({"Error": {"Code": "TrimmedDataAccessException", "Message": "trimmed"}},
                                  "GetShardIterator")
        token = f"it-{len(self.iterators)}"
        self.iterators[token] = (ShardId, index)
        return {"ShardIterator": token}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        if self.expire_next_iterator:
            self.expire_next_iterator = False
            raise ClientError({"Error": {"Code": "ExpiredIteratorException", "Message": "expired"}}, "GetRecords")
        shard_id, index = self.iterators[ShardIterator]
        shard = next(shard for shard in self.shards if shard.shard_id == shard_id)
        records = shard.records[index:index + Limit]
        response: dict[str, Any] = {"Records": records}
        if not (shard.closed and index + len(records) >= len(shard.records)):
            token = f"it-{len(self.iterators)}"
            self.iterators[token] = (shard_id, index + len(records))
            response["NextShardIterator"] = token
        return response


def names(follower: ShardFollower) -> list[str]:
    return [record["dynamodb"]["Keys"]["pk"]["S"] for read in follower.read() for record in read.records]


def test_a_parent_is_read_to_its_end_before_its_children_and_nothing_twice() -> None:
    streams = FakeStreams()
    parent = streams.shard("shard-1", 100)
    streams.write(parent, "a", "b")
    follower = ShardFollower(streams, STREAM_ARN, "TRIM_HORIZON")
    assert names(follower) == ["a", "b"]

    streams.write(parent, "c")
    parent.closed = True
    child = streams.shard("shard-2", 200, parent="shard-1")
    sibling = streams.shard("shard-3", 300, parent="shard-1")
    streams.write(child, "d")
    streams.write(sibling, "e")
    assert names(follower) == ["c", "d", "e"]
    assert "shard-1" in follower.positions.finished
    streams.write(child, "f")
    assert names(follower) == ["f"]
    assert names(follower) == []


def test_a_child_listed_before_its_parent_still_waits_for_it() -> None:
    streams = FakeStreams(page_size=1)
    parent = streams.shard("shard-1", 100)
    follower = ShardFollower(streams, STREAM_ARN, "TRIM_HORIZON")
    assert names(follower) == []
    streams.write(parent, "a")
    parent.closed = True
    child = FakeShard("shard-0", 200, parent_id="shard-1")
    streams.shards.insert(0, child)
    streams.write(child, "b")
    assert names(follower) == ["a"]
    assert names(follower) == ["b"]


def test_latest_skips_what_was_there_and_later_shards_start_at_their_oldest_record() -> None:
    streams = FakeStreams()
    first = streams.shard("shard-1", 100)
    streams.write(first, "old")
    follower = ShardFollower(streams, STREAM_ARN, "LATEST")
    assert names(follower) == []
    streams.write(first, "new")
    first.closed = True
    child = streams.shard("shard-2", 200, parent="shard-1")
    streams.write(child, "child")
    assert names(follower) == ["new", "child"]


def test_an_expired_iterator_is_replaced_without_losing_or_repeating_a_record() -> None:
    streams = FakeStreams()
    shard = streams.shard("shard-1", 100)
    streams.write(shard, "a")
    follower = ShardFollower(streams, STREAM_ARN, "TRIM_HORIZON")
    assert names(follower) == ["a"]
    streams.write(shard, "b")
    streams.expire_next_iterator = True
    assert names(follower) == []
    assert names(follower) == ["b"]


def test_positions_from_before_a_restart_resume_after_the_last_record(caplog: pytest.LogCaptureFixture) -> None:
    streams = FakeStreams()
    shard = streams.shard("shard-1", 100)
    streams.write(shard, "a", "b", "c")
    resumed = ShardFollower(streams, STREAM_ARN, "TRIM_HORIZON",
                            StreamPositions.from_json({"sequence_numbers": {"shard-1": "101"}}))
    assert names(resumed) == ["c"]

    shard.trimmed = 2  # "a" and "b" are older than 24 hours
    behind = ShardFollower(streams, STREAM_ARN, "TRIM_HORIZON",
                           StreamPositions.from_json({"sequence_numbers": {"shard-1": "100"}}))
    assert names(behind) == ["c"]
    assert "no longer in the stream" in caplog.text
