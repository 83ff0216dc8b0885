"""Reads a DynamoDB stream the way Lambda's event source mapping does: every record once, in order, whatever
happens to the shards.

- The stream is described again on every read, so new shards are found: a parent shard is read to its end
  before any of its children (a closed shard has no ``NextShardIterator`` once drained), children of a shard
  that is gone (trimmed) are read from their start, and the first shards from the mapping's
  ``StartingPosition``.
- Each shard's position is the last sequence number read, and every read takes a fresh iterator after it
  (``AFTER_SEQUENCE_NUMBER``), so an expired iterator or an endpoint that restarted costs nothing. That is also
  how it survives moto replacing a table's shard object under the same shard id (moto 5.2 does when it rolls a
  cancelled transaction back): an iterator handed out before reads the abandoned shard for ever, including
  the records of the transaction that was rolled back. (Only ``LATEST``, before the first record, has no
  position to come back to and follows the iterator chain.)
- A record at or before a shard's position is never returned again; a position the stream no longer holds
  (trimmed after 24 hours) restarts the shard at its oldest record, with an error logged, as Lambda does.

Positions can be handed in (a checkpoint from before a restart) and read back (:attr:`positions`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

log = logging.getLogger(__name__)

MAX_RECORDS_PER_READ = 1000
_LOST_ITERATOR_ERRORS = {"ExpiredIteratorException", "TrimmedDataAccessException"}


@dataclass(frozen=True)
class Shard:
    shard_id: str
    parent_id: str | None
    starting_sequence_number: int
    closed: bool

    @classmethod
    def from_description(cls, description: dict[str, Any]) -> "Shard":
        numbers = description.get("SequenceNumberRange", {})
        return cls(description["ShardId"], description.get("ParentShardId"),
                   int(numbers.get("StartingSequenceNumber", 0)), "EndingSequenceNumber" in numbers)


@dataclass
class ShardRead:
    shard_id: str
    records: list[dict[str, Any]]


@dataclass
class StreamPositions:
    """Where reading stands: the last sequence number read per shard, and the shards read to their end."""

    sequence_numbers: dict[str, str] = field(default_factory=dict)
    finished: set[str] = field(default_factory=set)

    def to_json(self) -> dict[str, Any]:
        return {"sequence_numbers": dict(self.sequence_numbers), "finished": sorted(self.finished)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "StreamPositions":
        return cls(dict(data.get("sequence_numbers", {})), set(data.get("finished", [])))


class ShardFollower:
    """Follows every shard of one stream (see the module's docstring). Not thread-safe: one reader."""

    def __init__(self, client: Any, stream_arn: str, starting_position: str,
                 positions: StreamPositions | None = None) -> None:
        self._client = client
        self._stream_arn = stream_arn
        self._starting_position = starting_position
        self.positions = positions or StreamPositions()
        self._origins: dict[str, str] = {}
        self._iterators: dict[str, str] = {}

    def read(self, limit: int = MAX_RECORDS_PER_READ) -> list[ShardRead]:
        """The records added since the last read, per shard, parents before children."""
        shards = self._describe()
        first_read = not self._origins
        by_id = {shard.shard_id: shard for shard in shards}
        for shard in shards:
            # The first shards start where the mapping says; shards that appear later from their oldest record.
            origin = self._starting_position if first_read and shard.parent_id not in by_id else "TRIM_HORIZON"
            self._origins.setdefault(shard.shard_id, origin)
        reads: list[ShardRead] = []
        for shard in shards:
            if shard.shard_id in self.positions.finished:
                continue
            parent = by_id.get(shard.parent_id) if shard.parent_id else None
            if parent is not None and parent.shard_id not in self.positions.finished:
                continue  # the parent's records come first
            records = self._read_shard(shard, self._origins[shard.shard_id], limit)
            if records:
                reads.append(ShardRead(shard.shard_id, records))
        return reads

    def _describe(self) -> list[Shard]:
        shards: list[Shard] = []
        arguments: dict[str, Any] = {"StreamArn": self._stream_arn}
        while True:
            description = self._client.describe_stream(**arguments)["StreamDescription"]
            shards.extend(Shard.from_description(shard) for shard in description.get("Shards", []))
            last = description.get("LastEvaluatedShardId")
            if not last:
                return shards
            arguments["ExclusiveStartShardId"] = last

    def _read_shard(self, shard: Shard, origin: str, limit: int) -> list[dict[str, Any]]:
        shard_id = shard.shard_id
        after = self.positions.sequence_numbers.get(shard_id)
        try:
            iterator = self._iterators.pop(shard_id, None) or self._iterator(shard, origin, after)
            response = self._client.get_records(ShardIterator=iterator, Limit=limit)
        except ClientError as error:
            if error.response["Error"]["Code"] == "TrimmedDataAccessException":
                self._lost(shard, after)
            elif error.response["Error"]["Code"] not in _LOST_ITERATOR_ERRORS:
                raise
            return []
        next_iterator = response.get("NextShardIterator")
        fresh = [record for record in response["Records"]
                 if after is None or int(record["dynamodb"]["SequenceNumber"]) > int(after)]
        if fresh:
            self.positions.sequence_numbers[shard_id] = fresh[-1]["dynamodb"]["SequenceNumber"]
        if next_iterator is None:
            log.info("shard %s is closed and read to its end", shard_id)
            self.positions.finished.add(shard_id)
        elif not fresh and after is None and origin == "LATEST":
            self._iterators[shard_id] = next_iterator
        return fresh

    def _iterator(self, shard: Shard, origin: str, after: str | None) -> str:
        arguments: dict[str, Any] = {"StreamArn": self._stream_arn, "ShardId": shard.shard_id}
        if after is not None and int(after) < shard.starting_sequence_number - 1:
            self._lost(shard, after)
            after = None
            origin = "TRIM_HORIZON"
        if after is None:
            arguments["ShardIteratorType"] = origin
        else:
            arguments.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=after)
        return self._client.get_shard_iterator(**arguments)["ShardIterator"]

    def _lost(self, shard: Shard, after: str | None) -> None:
        log.error("records of shard %s after %s are no longer in the stream (trimmed); reading on from its oldest "
                  "record", shard.shard_id, after)
        self.positions.sequence_numbers.pop(shard.shard_id, None)
