"""Plays a DynamoDB event source mapping of ``template.yaml`` against moto's DynamoDB Streams.

What Lambda's poller does, and so what this one does: read the shard from ``StartingPosition``, drop records the
``FilterCriteria`` reject, gather up to ``BatchSize`` records for at most ``MaximumBatchingWindowInSeconds``,
invoke the function with ``{"Records": [...]}``, and on failure:

- a partial batch response (``ReportBatchItemFailures``) checkpoints before the lowest failed sequence number
  and retries from there;
- a function error splits the batch in two when ``BisectBatchOnFunctionError`` is set (splitting does not use
  up the retry quota) and otherwise retries the whole batch;
- after ``MaximumRetryAttempts`` retries, or once a record is older than ``MaximumRecordAgeInSeconds``, the batch's
  metadata goes to the ``OnFailure`` destination (an SQS queue) and the shard moves on.

The shard blocks while a batch is being retried, as it does in Lambda, so records stay in order. The shards
themselves are followed as Lambda follows them (``stream_shards``): new and closed shards, parents before
children, lost iterators, and moto swapping a table's shard when it rolls a transaction back.
"""
from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from devtools.local_stack.event_filter import EventPattern, matches_any
from devtools.local_stack.rounds import EveryInterval
from devtools.local_stack.stream_shards import ShardFollower, ShardRead, StreamPositions
from devtools.template import StreamEvent

log = logging.getLogger(__name__)

RETRY_DELAY_CAP_SECONDS = 30.0
_HANDLED_PROPERTIES = {
    "Stream", "StartingPosition", "BatchSize", "MaximumBatchingWindowInSeconds", "FilterCriteria",
    "FunctionResponseTypes", "BisectBatchOnFunctionError", "MaximumRetryAttempts", "MaximumRecordAgeInSeconds",
    "DestinationConfig", "Enabled",
}


@dataclass(frozen=True)
class StreamMapping:
    """The event source mapping's settings, with Lambda's defaults for what the template leaves out."""

    stream_arn: str
    starting_position: str
    batch_size: int = 100
    batching_window_seconds: float = 0.0
    filters: tuple[EventPattern, ...] = ()
    report_batch_item_failures: bool = False
    bisect_on_error: bool = False
    max_retry_attempts: int = -1
    max_record_age_seconds: int = -1
    on_failure_arn: str | None = None
    enabled: bool = True

    @classmethod
    def from_event(cls, event: StreamEvent) -> "StreamMapping":
        properties = event.properties
        ignored = set(properties) - _HANDLED_PROPERTIES
        if ignored:
            log.warning("%s: the local poller ignores %s", event.name, ", ".join(sorted(ignored)))
        filters = tuple(EventPattern.parse(item["Pattern"])
                        for item in properties.get("FilterCriteria", {}).get("Filters", []))
        return cls(
            stream_arn=properties["Stream"],
            starting_position=properties["StartingPosition"],
            batch_size=int(properties.get("BatchSize", 100)),
            batching_window_seconds=float(properties.get("MaximumBatchingWindowInSeconds", 0)),
            filters=filters,
            report_batch_item_failures="ReportBatchItemFailures" in properties.get("FunctionResponseTypes", []),
            bisect_on_error=bool(properties.get("BisectBatchOnFunctionError", False)),
            max_retry_attempts=int(properties.get("MaximumRetryAttempts", -1)),
            max_record_age_seconds=int(properties.get("MaximumRecordAgeInSeconds", -1)),
            on_failure_arn=properties.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination"),
            enabled=bool(properties.get("Enabled", True)),
        )

    def accepts(self, record: Mapping[str, Any]) -> bool:
        return not self.filters or matches_any(self.filters, record)


def lambda_record(stream_record: Mapping[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """A GetRecords record as Lambda hands it to the function: creation time in epoch seconds and the
    ``eventSourceARN`` added."""
    dynamodb = dict(stream_record["dynamodb"])
    created = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        dynamodb["ApproximateCreationDateTime"] = int(created.timestamp())
    return {
        "eventID": stream_record["eventID"],
        "eventName": stream_record["eventName"],
        "eventVersion": stream_record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    }


@dataclass
class FailedBatch:
    """Records the mapping gave up on, and why (``condition`` as Lambda names it in the destination record)."""

    records: list[dict[str, Any]]
    condition: str
    invoke_count: int
    function_error: str | None = None


@dataclass
class _Attempt:
    records: list[dict[str, Any]]
    retries: int = 0
    invocations: int = 0


Invoke = Callable[[dict[str, Any]], Any]


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return False


@dataclass
class BatchDelivery:
    """Delivers one batch to the function until every record succeeded or was given up on."""

    mapping: StreamMapping
    invoke: Invoke
    sleep: Callable[[float], bool] = _sleep
    retry_delay_seconds: float = 1.0
    now: Callable[[], float] = time.time

    def deliver(self, records: Sequence[dict[str, Any]]) -> list[FailedBatch]:
        """Returns the failed parts. ``sleep`` waits between retries and returns True to abandon the delivery
        (the poller is stopping); the records left are then neither processed nor reported."""
        failed: list[FailedBatch] = []
        pending = deque([_Attempt(list(records))])
        while pending:
            attempt = pending.popleft()
            if self._too_old(attempt.records):
                failed.append(FailedBatch(attempt.records, "RecordAgeExceeded", attempt.invocations))
                continue
            attempt.invocations += 1
            function_error: str | None = None
            try:
                response = self.invoke({"Records": attempt.records})
            except Exception as error:  # noqa: BLE001 - any handler error is a function error, as in Lambda
                log.warning("stream function failed on %d record(s): %s: %s", len(attempt.records),
                            type(error).__name__, error, exc_info=True)
                function_error = "Unhandled"
                if self.mapping.bisect_on_error and len(attempt.records) > 1:
                    middle = len(attempt.records) // 2
                    # Splitting does not use up the retry quota; the first half goes first to keep the order.
                    pending.appendleft(_Attempt(attempt.records[middle:], attempt.retries, attempt.invocations))
                    pending.appendleft(_Attempt(attempt.records[:middle], attempt.retries, attempt.invocations))
                    continue
                remaining = attempt.records
            else:
                remaining = self._unprocessed(attempt.records, response)
                if not remaining:
                    continue
                log.warning("stream function reported %d of %d record(s) failed", len(remaining),
                            len(attempt.records))
            attempt.records = remaining
            attempt.retries += 1
            if 0 <= self.mapping.max_retry_attempts < attempt.retries:
                failed.append(FailedBatch(remaining, "RetryAttemptsExhausted", attempt.invocations, function_error))
                continue
            delay = min(self.retry_delay_seconds * 2 ** (attempt.retries - 1), RETRY_DELAY_CAP_SECONDS)
            if self.sleep(delay):
                return failed
            pending.appendleft(attempt)
        return failed

    def _too_old(self, records: list[dict[str, Any]]) -> bool:
        limit = self.mapping.max_record_age_seconds
        if limit < 0:
            return False
        oldest = min(record["dynamodb"].get("ApproximateCreationDateTime", self.now()) for record in records)
        return self.now() - oldest > limit

    def _unprocessed(self, records: list[dict[str, Any]], response: Any) -> list[dict[str, Any]]:
        """The records to retry after a successful invocation: none, unless a partial batch response names
        failures, in which case everything from the lowest failed sequence number on (an identifier that is not
        in the batch fails the whole batch, as in Lambda)."""
        if not self.mapping.report_batch_item_failures or not isinstance(response, Mapping):
            return []
        failures = response.get("batchItemFailures") or []
        if not failures:
            return []
        known = {record["dynamodb"]["SequenceNumber"]: index for index, record in enumerate(records)}
        indexes = []
        for failure in failures:
            identifier = failure.get("itemIdentifier") if isinstance(failure, Mapping) else None
            if identifier not in known:
                return records
            indexes.append(known[identifier])
        return records[min(indexes):]


def destination_record(failed: FailedBatch, *, function_arn: str, stream_arn: str, shard_id: str) -> dict[str, Any]:
    """The JSON Lambda sends to an ``OnFailure`` destination for a DynamoDB stream batch (metadata only)."""

    def iso(epoch_seconds: float) -> str:
        return datetime.fromtimestamp(epoch_seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    created = [record["dynamodb"].get("ApproximateCreationDateTime", time.time()) for record in failed.records]
    message: dict[str, Any] = {
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": function_arn,
            "condition": failed.condition,
            "approximateInvokeCount": failed.invoke_count,
        },
        "version": "1.0",
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "DDBStreamBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": failed.records[0]["dynamodb"]["SequenceNumber"],
            "endSequenceNumber": failed.records[-1]["dynamodb"]["SequenceNumber"],
            "approximateArrivalOfFirstRecord": iso(min(created)),
            "approximateArrivalOfLastRecord": iso(max(created)),
            "batchSize": len(failed.records),
            "streamArn": stream_arn,
        },
    }
    if failed.invoke_count:
        message["responseContext"] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if failed.function_error:
            message["responseContext"]["functionError"] = failed.function_error
    return message


class CheckpointFile:
    """The mapping's stream positions on disk (JSON, written whole), so that a restarted stack resumes after the
    last record it delivered: nothing delivered again, nothing skipped."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> StreamPositions | None:
        if not self.path.exists():
            return None
        return StreamPositions.from_json(json.loads(self.path.read_text()))

    def save(self, positions: StreamPositions) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".tmp")
        partial.write_text(json.dumps(positions.to_json()))
        os.replace(partial, self.path)


@dataclass
class _ShardBuffer:
    """Records read from one shard and not delivered yet, and the sequence number of the last record read."""

    records: list[dict[str, Any]] = field(default_factory=list)
    first_buffered_at: float = 0.0
    last_read: str | None = None


class StreamPoller:
    """Polls the mapping's stream in a thread of its own, following its shards (``ShardFollower``), and
    delivers the batches, shard by shard in the order the shards were read (a parent's before its children's).

    The positions it checkpoints are those delivered (or filtered out, or given up on), not merely read."""

    def __init__(self, *, function_arn: str, mapping: StreamMapping, invoke: Invoke, streams_client: Any,
                 sqs_client: Any, region: str, poll_interval_seconds: float = 0.5,
                 retry_delay_seconds: float = 1.0, checkpoint: CheckpointFile | None = None) -> None:
        self.function_arn = function_arn
        self.mapping = mapping
        self.streams = streams_client
        self.sqs = sqs_client
        self.region = region
        self._rounds = EveryInterval("stream-poller", poll_interval_seconds, self._poll)
        self._stopping = self._rounds.stopping
        self._delivery = BatchDelivery(mapping, invoke, sleep=self._stopping.wait,
                                       retry_delay_seconds=retry_delay_seconds)
        self._failure_queue_url: str | None = None
        self._checkpoint = checkpoint
        self._delivered = (checkpoint.load() if checkpoint else None) or StreamPositions()
        self._follower = ShardFollower(streams_client, mapping.stream_arn, mapping.starting_position,
                                       StreamPositions(dict(self._delivered.sequence_numbers),
                                                       set(self._delivered.finished)))
        self._buffers: dict[str, _ShardBuffer] = {}

    def start(self) -> None:
        self._rounds.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Stops polling; a batch being delivered finishes its current invocation first."""
        self._rounds.stop(timeout)

    def _poll(self) -> None:
        try:
            reads = self._follower.read()
        except Exception as error:  # noqa: BLE001 - the endpoint may be restarting; poll again
            log.warning("reading %s failed, will retry: %s", self.mapping.stream_arn, error)
            return
        for read in reads:
            self._buffer(read)
        self._deliver_ready()

    def _buffer(self, read: ShardRead) -> None:
        buffer = self._buffers.setdefault(read.shard_id, _ShardBuffer())
        for stream_record in read.records:
            buffer.last_read = stream_record["dynamodb"]["SequenceNumber"]
            record = lambda_record(stream_record, self.mapping.stream_arn, self.region)
            if self.mapping.accepts(record):
                if not buffer.records:
                    buffer.first_buffered_at = time.monotonic()
                buffer.records.append(record)
        if not buffer.records:
            self._checkpoint_at(read.shard_id, buffer.last_read)

    def _deliver_ready(self) -> None:
        """Delivers full batches and those whose window closed, shard after shard; a shard waits while one read
        before it still holds records (so a parent's records always go before its children's)."""
        for shard_id, buffer in list(self._buffers.items()):
            window_closed = time.monotonic() - buffer.first_buffered_at >= self.mapping.batching_window_seconds
            while buffer.records and (len(buffer.records) >= self.mapping.batch_size or window_closed):
                batch = buffer.records[:self.mapping.batch_size]
                buffer.records = buffer.records[self.mapping.batch_size:]
                buffer.first_buffered_at = time.monotonic()
                for failed in self._delivery.deliver(batch):
                    self._send_to_destination(failed, shard_id)
                if self._stopping.is_set():
                    return
                self._checkpoint_at(shard_id, buffer.last_read if not buffer.records
                                    else batch[-1]["dynamodb"]["SequenceNumber"])
            if buffer.records:
                return
            if shard_id in self._follower.positions.finished:
                self._delivered.finished.add(shard_id)
                del self._buffers[shard_id]
                self._save_checkpoint()

    def _checkpoint_at(self, shard_id: str, sequence_number: str | None) -> None:
        if sequence_number is None or self._delivered.sequence_numbers.get(shard_id) == sequence_number:
            return
        self._delivered.sequence_numbers[shard_id] = sequence_number
        self._save_checkpoint()

    def _save_checkpoint(self) -> None:
        if self._checkpoint is None:
            return
        try:
            self._checkpoint.save(self._delivered)
        except OSError:
            log.exception("could not write the stream checkpoint %s", self._checkpoint.path)

    def _send_to_destination(self, failed: FailedBatch, shard_id: str) -> None:
        first, last = failed.records[0], failed.records[-1]
        log.error("stream batch %s..%s given up (%s)", first["dynamodb"]["SequenceNumber"],
                  last["dynamodb"]["SequenceNumber"], failed.condition)
        if self.mapping.on_failure_arn is None:
            return
        message = destination_record(failed, function_arn=self.function_arn, stream_arn=self.mapping.stream_arn,
                                     shard_id=shard_id)
        try:
            self.sqs.send_message(QueueUrl=self._queue_url(), MessageBody=json.dumps(message))
        except Exception:  # noqa: BLE001 - losing the failure record must not stop the shard
            log.exception("could not send the failed batch's record to %s", self.mapping.on_failure_arn)

    def _queue_url(self) -> str:
        if self._failure_queue_url is None:
            name = self.mapping.on_failure_arn.rsplit(":", 1)[-1]
            self._failure_queue_url = self.sqs.get_queue_url(QueueName=name)["QueueUrl"]
        return self._failure_queue_url
