"""``make bench``: what keeping both members' group rows at the newest message costs in DynamoDB.

Bursts of 1, 10 and 100 messages go into one conversation (moto, in-process). Their real stream records are
handed, in batches of the event source mapping's ``BatchSize`` (a burst within the batching window is one
batch), to

- this project's stream function, one invocation per batch, then the same batches again (a replay: Lambda's
  retry of a batch, or records delivered twice);
- the tutorial's approach, one record at a time: an index query, then per group row a delete and a put.

Every DynamoDB request each makes is counted through botocore's event hooks and its capacity computed from item
sizes (see ``bench.capacity``). A measurement, not a timed test; it exits non-zero if either approach does not
end with exactly two rows at the newest message.
"""
from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import boto3
from boto3.dynamodb.conditions import Key
from moto import mock_aws

from bench.capacity import ItemLookup, Meter, current_item_reader, item_size
from devtools.environment import LocalResources, function_environment, local_function_specs, provision
from devtools.functions import ensure_layer_on_path, invoke, load_handler_module
from devtools.stream_reader import STREAM_FUNCTION, StreamReader
from devtools.template import FunctionSpec

BURSTS = (1, 10, 100)
START = datetime(2026, 11, 21, 4, 0, tzinfo=timezone.utc)
# The table stays the only output on stdout: Powertools logs warnings only, and metrics are not printed.
QUIET = {"POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"}

Record = dict[str, Any]


@dataclass(frozen=True)
class Result:
    burst: int
    approach: str
    meter: Meter

    def row(self) -> list[str]:
        per_message = lambda value: _number(value / self.burst)  # noqa: E731
        return [str(self.burst), self.approach, str(self.meter.requests), per_message(self.meter.requests),
                per_message(self.meter.rcu), per_message(self.meter.wcu)]


class Conversation:
    """A fresh group between two fresh users, its rows written as a new conversation writes them; ``read_state``:
    as the stream function leaves them once it has counted the first message (this project's steady state)."""

    def __init__(self, table: Any, start: datetime, read_state: bool = False) -> None:
        from cruddur_messaging.domain.group_row_timeline import version_at  # the layer: on the path by now

        self.table = table
        self.group_uuid = str(uuid.uuid4())
        self.members = [{"uuid": str(uuid.uuid4()), "handle": handle, "display_name": name}
                        for handle, name in (("andrewbrown", "Andrew Brown"), ("bayko", "Andrew Bayko"))]
        self.start = start
        first, second = self.members
        for owner, other in ((first, second), (second, first)):
            state = {"unread_count": 0, "last_read_at": _timestamp(start), "version": version_at(start)} \
                if read_state else {}
            table.put_item(Item={"pk": f"GRP#{owner['uuid']}", "sk": _timestamp(start), "message": "hello",
                                 "message_group_uuid": self.group_uuid, "user_uuid": other["uuid"],
                                 "user_display_name": other["display_name"], "user_handle": other["handle"],
                                 **state})

    def send_burst(self, count: int) -> tuple[str, str]:
        """``count`` messages a millisecond apart; returns the newest one's ``sk`` and text."""
        newest = ("", "")
        for index in range(count):
            sender = self.members[index % 2]
            sk, text = _timestamp(self.start + timedelta(seconds=1, milliseconds=index)), f"message {index + 1}"
            self.table.put_item(Item={"pk": f"MSG#{self.group_uuid}", "sk": sk, "message_uuid": str(uuid.uuid4()),
                                      "message": text, "user_uuid": sender["uuid"],
                                      "user_display_name": sender["display_name"], "user_handle": sender["handle"]})
            newest = (sk, text)
        return newest

    def check_rows_at(self, newest: tuple[str, str], approach: str) -> None:
        rows = [item for item in self.table.scan(ConsistentRead=True)["Items"]
                if item["pk"].startswith("GRP#") and item.get("message_group_uuid") == self.group_uuid]
        if len(rows) != 2 or any((row["sk"], row["message"]) != newest for row in rows):
            raise SystemExit(f"{approach}: the group's rows ended wrong: {rows}")


def tutorial_move(table: Any, index_name: str, record: Record) -> None:
    """The tutorial's stream function on one record: query the index, then delete and re-put every row."""
    image = record["dynamodb"]["NewImage"]
    group_uuid = image["pk"]["S"].removeprefix("MSG#")
    rows = table.query(IndexName=index_name, KeyConditionExpression=Key("message_group_uuid").eq(group_uuid))["Items"]
    for row in rows:
        table.delete_item(Key={"pk": row["pk"], "sk": row["sk"]})
        table.put_item(Item={**row, "sk": image["sk"]["S"], "message": image["message"]["S"]})


def metered(client: Any, work: Callable[[], None], current_item: ItemLookup) -> Meter:
    meter = Meter(current_item=current_item)
    meter.attach(client)
    try:
        work()
    finally:
        meter.detach(client)
    return meter


def main() -> None:
    resources = LocalResources(table_name="cruddur-messages")
    os.environ.update({**function_environment(resources, function_logical_id=STREAM_FUNCTION), **QUIET})
    ensure_layer_on_path()
    with mock_aws():
        stream_arn = provision(resources, database_url="postgresql://bench@127.0.0.1:5432/unused")["stream_arn"]
        spec = _stream_function(resources, stream_arn)
        batch_size = int(spec.stream_events[0].properties["BatchSize"])
        index_name = spec.environment["MESSAGE_GROUP_INDEX_NAME"]
        # The client of the function's container (imported once its environment is set, as Lambda imports it).
        function_client = load_handler_module(spec).container.dynamodb.meta.client
        setup_table = boto3.resource("dynamodb", region_name=resources.region).Table(resources.table_name)
        tutorial_table = boto3.resource("dynamodb", region_name=resources.region).Table(resources.table_name)
        stream = StreamReader(stream_arn, resources)
        current_item = current_item_reader(boto3.client("dynamodb", region_name=resources.region),
                                           resources.table_name)
        results: list[Result] = []
        for position, burst in enumerate(BURSTS):
            start = START + timedelta(hours=position)

            ours = Conversation(setup_table, start, read_state=True)
            newest = ours.send_burst(burst)
            records = stream.new_message_inserts()
            batches = [records[index:index + batch_size] for index in range(0, len(records), batch_size)]

            def deliver_batches(batches: list[list[Record]] = batches) -> None:
                for batch in batches:
                    _deliver(spec, batch)

            results.append(Result(burst, "this project (per batch)", metered(function_client, deliver_batches,
                                                                             current_item)))
            ours.check_rows_at(newest, "this project")
            results.append(Result(burst, "this project, the batches replayed", metered(
                function_client, deliver_batches, current_item)))
            ours.check_rows_at(newest, "this project, replayed")

            tutorial = Conversation(setup_table, start)
            newest = tutorial.send_burst(burst)
            records = stream.new_message_inserts()

            def move_each_message(records: list[Record] = records) -> None:
                for record in records:
                    tutorial_move(tutorial_table, index_name, record)

            results.append(Result(burst, "tutorial (per message)", metered(tutorial_table.meta.client,
                                                                           move_each_message, current_item)))
            tutorial.check_rows_at(newest, "tutorial")
        results += _edits_and_deletes(setup_table, spec, stream, function_client, current_item,
                                      START + timedelta(hours=len(BURSTS)))
        row_size = _largest_group_row(boto3.client("dynamodb", region_name=resources.region), resources.table_name)
    print(_markdown(results, batch_size, row_size))


def _edits_and_deletes(table: Any, spec: FunctionSpec, stream: StreamReader, client: Any, current_item: ItemLookup,
                       start: datetime) -> list[Result]:
    """A conversation of three messages (bayko's, then two of andrewbrown's, both unread by bayko), then, each
    delivered on its own: an edit of the newest, the same record again, a delete of the older unread one, a delete
    of the newest (the rows fall back to bayko's message)."""
    conversation = Conversation(table, start, read_state=True)
    andrew, bayko = conversation.members
    times = [_timestamp(start + timedelta(seconds=index + 1)) for index in range(3)]
    for sk, sender, text in zip(times, (bayko, andrew, andrew), ("one", "two", "three")):
        table.put_item(Item={"pk": f"MSG#{conversation.group_uuid}", "sk": sk, "message_uuid": str(uuid.uuid4()),
                             "message": text, "user_uuid": sender["uuid"], "user_display_name": sender["display_name"],
                             "user_handle": sender["handle"]})
    _deliver(spec, stream.new_message_inserts())
    results = []

    def change(sk: str, update: str, values: dict[str, Any]) -> list[Record]:
        table.update_item(Key={"pk": f"MSG#{conversation.group_uuid}", "sk": sk}, UpdateExpression=update,
                          ExpressionAttributeValues=values)
        return stream.new_message_inserts()  # the mapping's filter passes the modify too

    def measured(approach: str, records: list[Record]) -> None:
        results.append(Result(1, approach, metered(client, lambda: _deliver(spec, records), current_item)))

    edit = change(times[2], "SET message = :text, edited_at = :now", {":text": "three!", ":now": _timestamp(start)})
    measured("an edit of the newest message", edit)
    conversation.check_rows_at((times[2], "three!"), "an edit")
    measured("the same edit again (a replay)", edit)
    measured("a delete of an older unread message", change(
        times[1], "REMOVE message SET deleted_at = :now", {":now": _timestamp(start)}))
    measured("a delete of the newest message (rows fall back)", change(
        times[2], "REMOVE message, edited_at SET deleted_at = :now", {":now": _timestamp(start)}))
    conversation.check_rows_at((times[0], "one"), "a delete")
    unread = [int(row["unread_count"]) for row in table.scan(ConsistentRead=True)["Items"]
              if row["pk"] == f"GRP#{bayko['uuid']}"]
    if unread != [0]:
        raise SystemExit(f"a delete: bayko's unread count ended {unread}, not [0]")
    return results


def _stream_function(resources: LocalResources, stream_arn: str) -> FunctionSpec:
    return local_function_specs(resources, stream_arn)[STREAM_FUNCTION]


def _deliver(spec: FunctionSpec, records: list[Record]) -> None:
    response = invoke(spec, {"Records": records})
    if response != {"batchItemFailures": []}:
        raise SystemExit(f"the stream function reported failures: {response}")


def _largest_group_row(client: Any, table_name: str) -> int:
    items = client.scan(TableName=table_name, ConsistentRead=True)["Items"]
    return max(item_size(item) for item in items if item["pk"]["S"].startswith("GRP#"))


def _markdown(results: list[Result], batch_size: int, row_size: int) -> str:
    header = ["burst (messages)", "stream function", "DynamoDB requests", "requests / message", "RCU / message",
              "WCU / message (table + index)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if index != 1 else "---"
                                                             for index in range(len(header))) + "|"]
    lines += ["| " + " | ".join(result.row()) + " |" for result in results]
    lines.append("")
    lines.append(f"Stream records delivered in batches of up to {batch_size} (the mapping's BatchSize); the "
                 "tutorial's function is credited with every record, although it read only `Records[0]` of a "
                 f"batch. Group rows of up to {row_size} bytes: 1 write unit each, one 4 KB read unit per query "
                 "(half: eventually consistent). Capacity computed from item sizes (moto reports a constant): "
                 "transactional writes count twice, and every group row added or removed is also written once "
                  "to each index: message-group-sk-index and group-row-version-index (this project's rows carry a "
                  "version; the tutorial's do not). The last four rows: one record each, an edit or a delete of a "
                  "message in a conversation of three.")
    return "\n".join(lines)


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def _number(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


if __name__ == "__main__":
    main()
