"""``make bench``: what one direct message costs, measured end to end; ``make cost`` prices the figures.

In-process, as the tests run the functions (moto for AWS, an embedded PostgreSQL, the local WebSocket management
API accepting every connection): two seed users, andrewbrown and bayko, in one conversation, each with a live
connection. Every round is one direct message and what a recipient typically does about it, in steps:

- ``send``: andrew sends it (``POST /api/messages``, with an ``Idempotency-Key``); then the table's stream goes to
  every function with a stream event, filtered and batched as its mapping says, until the stream is quiet: the
  stream function moves both group rows, the delivery function posts ``message.created`` and, in a second batch
  (the rows the stream function wrote), ``conversation.updated``;
- ``read``: bayko lists the conversation's messages; ``mark read``: bayko marks them read, and the ``read`` frame is
  delivered; ``list``: bayko lists his conversations;
- ``connect``, ``ping``, ``disconnect``: a third connection of bayko's opens, pings once and closes.

Each step is metered per function, on a warm container (a first round warms them and is not counted):
invocations, the handler's wall time, and its own wall and CPU time (the invoking thread's, without what moto's
DynamoDB took), DynamoDB requests and capacity (``bench.capacity``: every client's calls,
updates sized from the table), ``PostToConnection`` calls, HTTP API requests (invocations of a function with
routes), WebSocket frames from and to clients, and the bytes the function logs (stdout, at the template's
``LogLevel``, with Powertools' metrics: the names of the custom metrics are kept too). The means per round and
the median durations go to ``bench.cost.RESULTS_FILE`` for ``make cost``; the table printed here is the same
figures.

Not measured: ``LiveAuthorizerFunction`` (it verifies a Cognito token against the pool's JWKS, which this run
has not got), and the time DynamoDB takes over the network in AWS (``bench.cost`` adds an assumed round trip per
DynamoDB call to the function's own time). A benchmark: it exits non-zero if a request fails or a frame is
missing.
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import boto3
import botocore.client
from moto import mock_aws

from bench.capacity import Meter, current_item_reader, item_size, items_read_reader
from bench.cost import RESULTS_FILE
from bench.delivery import AcceptingConnections
from devtools.environment import LocalResources, function_environment, local_function_specs, provision
from devtools.functions import context_for, ensure_layer_on_path, handler_of
from devtools.local_stack.stream_poller import StreamMapping
from devtools.local_stack.websocket_api import ManagementServer, new_connection_id
from devtools.postgres import EmbeddedPostgres
from devtools.stream_reader import StreamReader
from devtools.template import FunctionSpec

ROUNDS = 20
STEPS = ("send", "read", "mark read", "list", "connect", "ping", "disconnect")
POST_TO_CONNECTION = ("apigatewaymanagementapi", "PostToConnection")


@dataclass
class Usage:
    """One function's work in one step, summed over the rounds."""

    invocations: int = 0
    durations_ms: list[float] = field(default_factory=list)
    own_ms: list[float] = field(default_factory=list)
    own_cpu_ms: list[float] = field(default_factory=list)
    dynamodb_requests: int = 0
    rcu: float = 0.0
    wcu: float = 0.0
    index_wcu: Counter[str] = field(default_factory=Counter)
    posts: int = 0
    http_requests: int = 0
    frames_in: int = 0
    frames_out: int = 0
    log_bytes: int = 0
    other_calls: Counter[str] = field(default_factory=Counter)

    def per_round(self, rounds: int) -> dict[str, Any]:
        return {
            "invocations": self.invocations / rounds,
            "duration_ms_median": statistics.median(self.durations_ms),
            "own_ms_median": statistics.median(self.own_ms),
            "own_cpu_ms_median": statistics.median(self.own_cpu_ms),
            "dynamodb_requests": self.dynamodb_requests / rounds,
            "rcu": self.rcu / rounds,
            "wcu": self.wcu / rounds,
            "index_wcu": {name: units / rounds for name, units in sorted(self.index_wcu.items())},
            "websocket_posts": self.posts / rounds,
            "http_requests": self.http_requests / rounds,
            "websocket_frames_in": self.frames_in / rounds,
            "websocket_frames_out": (self.frames_out + self.posts) / rounds,
            "log_bytes": self.log_bytes / rounds,
            "other_aws_calls": {name: count / rounds for name, count in sorted(self.other_calls.items())},
        }


class MeteredCalls:
    """Every AWS call of every client passes ``BaseClient._make_api_call`` once (before the SDK's retries): DynamoDB
    calls go to the meter of the invocation under way, and the time the invoking thread spends in them is summed
    (moto's, in-process: in AWS a network round trip takes its place); other calls are counted by service and
    operation. The meter's own reads (``unmetered``) are not counted."""

    def __init__(self) -> None:
        self.meter: Meter | None = None
        self.calls: Counter[tuple[str, str]] = Counter()
        self.dynamodb_seconds = 0.0
        self.dynamodb_cpu_seconds = 0.0
        self.unmetered: set[int] = set()
        self._invoking_thread = 0
        self._lock = threading.Lock()

    @contextmanager
    def installed(self) -> Iterator[None]:
        original = botocore.client.BaseClient._make_api_call

        def make_api_call(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
            service = client.meta.service_model.service_name
            meter = self.meter
            if meter is None or id(client) in self.unmetered:
                return original(client, operation_name, api_params)
            if service != "dynamodb":
                with self._lock:
                    self.calls[(service, operation_name)] += 1
                return original(client, operation_name, api_params)
            meter.attach(client)
            started, started_cpu = time.perf_counter(), time.thread_time()
            try:
                return original(client, operation_name, api_params)
            finally:
                meter.detach(client)
                if threading.get_ident() == self._invoking_thread:
                    self.dynamodb_seconds += time.perf_counter() - started
                    self.dynamodb_cpu_seconds += time.thread_time() - started_cpu

        botocore.client.BaseClient._make_api_call = make_api_call  # type: ignore[method-assign]
        try:
            yield
        finally:
            botocore.client.BaseClient._make_api_call = original  # type: ignore[method-assign]

    @contextmanager
    def metering(self, meter: Meter) -> Iterator[Counter[tuple[str, str]]]:
        self.meter, self.calls, self.dynamodb_seconds, self.dynamodb_cpu_seconds = meter, Counter(), 0.0, 0.0
        self._invoking_thread = threading.get_ident()
        try:
            yield self.calls
        finally:
            self.meter = None


class MeteredFunctions:
    """``invoke(logical_id, event)`` as Lambda runs a warm function (what ``tests.support.client.Caller`` calls),
    its usage added to the step under way; ``pump()`` hands the stream to the stream-invoked functions."""

    def __init__(self, specs: dict[str, FunctionSpec], calls: MeteredCalls, meter_reads: Any, table_name: str,
                 reader: StreamReader) -> None:
        self.specs = specs
        self.calls = calls
        self.current_item = current_item_reader(meter_reads, table_name)
        self.items_read = items_read_reader(meter_reads)
        calls.unmetered.add(id(meter_reads))
        self.reader = reader
        self.mappings = {logical_id: StreamMapping.from_event(spec.stream_events[0])
                         for logical_id, spec in specs.items() if spec.stream_events}
        self.step = "warm-up"
        self.usage: dict[str, dict[str, Usage]] = defaultdict(lambda: defaultdict(Usage))
        self.metric_names: set[str] = set()

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        spec = self.specs[logical_id]
        handler = handler_of(spec)
        meter = Meter(current_item=self.current_item, items_read=self.items_read)
        with captured_stdout() as logged, self.calls.metering(meter) as calls:
            started, started_cpu = time.perf_counter(), time.thread_time()
            response = handler(event, context_for(spec))
            elapsed_ms = (time.perf_counter() - started) * 1000
            cpu_ms = (time.thread_time() - started_cpu) * 1000
        output = logged[0]
        usage = self.usage[self.step][logical_id]
        usage.log_bytes += len(output)
        self.metric_names.update(emf_metric_names(output))
        usage.invocations += 1
        usage.durations_ms.append(elapsed_ms)
        usage.own_ms.append(elapsed_ms - self.calls.dynamodb_seconds * 1000)
        usage.own_cpu_ms.append(cpu_ms - self.calls.dynamodb_cpu_seconds * 1000)
        usage.dynamodb_requests += meter.requests
        usage.rcu += meter.rcu
        usage.wcu += meter.wcu
        usage.index_wcu.update(meter.index_wcu)
        usage.posts += calls.pop(POST_TO_CONNECTION, 0)
        usage.other_calls.update({f"{service}:{operation}": count for (service, operation), count in calls.items()})
        usage.http_requests += 1 if spec.routes else 0
        if event.get("requestContext", {}).get("eventType") == "MESSAGE":
            usage.frames_in += 1
            usage.frames_out += 1 if isinstance(response, dict) and response.get("body") else 0
        return response

    def pump(self) -> None:
        """Until the stream is quiet: each stream-invoked function gets the new records its filter lets through,
        in batches of its ``BatchSize``."""
        while records := self.reader.new_records():
            for logical_id, mapping in self.mappings.items():
                accepted = [record for record in records if mapping.accepts(record)]
                for start in range(0, len(accepted), mapping.batch_size):
                    response = self.invoke(logical_id, {"Records": accepted[start:start + mapping.batch_size]})
                    if response and response.get("batchItemFailures"):
                        raise SystemExit(f"{logical_id} reported failures: {response}")


@contextmanager
def captured_stdout() -> Iterator[list[bytes]]:
    """Everything written to file descriptor 1 meanwhile (Powertools' handlers hold ``sys.stdout`` itself, so
    ``contextlib.redirect_stdout`` would miss them): the list holds it once the block is left."""
    captured: list[bytes] = []
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 1)
        try:
            yield captured
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
            sink.seek(0)
            captured.append(sink.read())


def emf_metric_names(output: bytes) -> set[str]:
    """The metric names of the CloudWatch embedded metric format lines in a function's output."""
    names = set()
    for line in output.splitlines():
        if b'"_aws"' not in line:
            continue
        document = json.loads(line)
        for directive in document["_aws"]["CloudWatchMetrics"]:
            names.update(f"{directive['Namespace']}/{metric['Name']}" for metric in directive["Metrics"])
    return names


def one_round(functions: MeteredFunctions, group: str, number: int) -> None:
    # The tests' clients and events (the layer on the path first: they use its models).
    from tests.support.api import ok
    from tests.support.client import Caller
    from tests.support.live import CONNECTION_FUNCTION, client_frame_event, connect_event, disconnect_event
    from tests.support.people import ANDREW, BAYKO

    andrew, bayko = Caller(functions, ANDREW), Caller(functions, BAYKO)
    functions.step = "send"
    ok(andrew.send(f"bench message {number}", group=group, idempotency_key=str(uuid.uuid4())))
    functions.pump()
    functions.step = "read"
    ok(bayko.list_messages(group))
    functions.step = "mark read"
    ok(bayko.mark_read(group))
    functions.pump()
    functions.step = "list"
    ok(bayko.list_groups())
    connection_id = new_connection_id()
    for step, event in (("connect", connect_event(BAYKO, connection_id)),
                        ("ping", client_frame_event(json.dumps({"action": "ping"}))),
                        ("disconnect", disconnect_event(BAYKO, connection_id))):
        functions.step = step
        event["requestContext"]["connectionId"] = connection_id
        response = functions.invoke(CONNECTION_FUNCTION, event)
        if response.get("statusCode", 200) != 200:
            raise SystemExit(f"{event['requestContext']['routeKey']} answered {response}")


def management_api_and_environment() -> tuple[ManagementServer, AcceptingConnections, LocalResources, dict[str, str]]:
    """A local management API that accepts every frame, on a free port and serving in a thread (shut it down
    after), the resources naming it, and every function's environment for them, as Lambda would set it."""
    registry = AcceptingConnections()
    management = ManagementServer(("127.0.0.1", 0), registry)
    threading.Thread(target=management.serve_forever, daemon=True).start()
    resources = LocalResources(table_name="cruddur-messages", websocket_api_endpoint=management.url)
    environment: dict[str, str] = {}
    for logical_id in local_function_specs(resources, stream_arn="-"):
        environment.update(function_environment(resources, function_logical_id=logical_id))
    return management, registry, resources, environment


def measure(database_url: str) -> dict[str, Any]:
    management, registry, resources, environment = management_api_and_environment()
    # The rounds follow each other faster than a person sends; a DM at a human pace finds its sender's allowance
    # whole and counts with one UpdateItem (domain/send_limits.py), which is what a DM is measured as here.
    environment["SEND_RATE_PER_SECOND"] = "1000000"  # one a microsecond
    os.environ.update(environment)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    ensure_layer_on_path()
    from tests.support.client import Caller
    from tests.support.live import CONNECTION_FUNCTION, connect_event
    from tests.support.people import ANDREW, BAYKO

    calls = MeteredCalls()
    try:
        with mock_aws(), calls.installed():
            stream_arn = provision(resources, database_url)["stream_arn"]
            specs = local_function_specs(resources, stream_arn)
            reader = StreamReader(stream_arn, resources)
            meter_reads = boto3.client("dynamodb", region_name=resources.region)
            functions = MeteredFunctions(specs, calls, meter_reads, resources.table_name, reader)
            for person in (ANDREW, BAYKO):  # each member online, on one connection
                ok_connect = functions.invoke(CONNECTION_FUNCTION, connect_event(person, new_connection_id()))
                if ok_connect.get("statusCode", 200) != 200:
                    raise SystemExit(f"$connect of {person.handle} answered {ok_connect}")
            group = Caller(functions, ANDREW).start_conversation("bayko", "hello")
            functions.pump()
            one_round(functions, group, 0)  # warms every container
            functions.usage.clear()
            frames_before = registry.frames
            for number in range(1, ROUNDS + 1):
                one_round(functions, group, number)
            if registry.frames - frames_before < 4 * ROUNDS:  # message.created, 2 x conversation.updated, read
                raise SystemExit(f"only {registry.frames - frames_before} frames reached the connections in "
                                 f"{ROUNDS} rounds")
            message_sizes = [item_size(item) for item in meter_reads.scan(TableName=resources.table_name)["Items"]
                             if item["pk"]["S"].startswith("MSG#")]
    finally:
        management.shutdown()
        management.server_close()
    return {
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "rounds": ROUNDS,
        "cpus": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "message_item_bytes": statistics.mean(message_sizes),
        "custom_metrics": sorted(functions.metric_names),
        "steps": {step: {logical_id: usage.per_round(ROUNDS) for logical_id, usage in functions.usage[step].items()}
                  for step in STEPS},
    }


def report(results: dict[str, Any]) -> str:
    lines = [f"Per direct message, per step (warm containers; means of {results['rounds']} rounds, median "
             f"durations in-process; load {results['load_average_1min']}):", "",
             "| step | function | invocations | duration (ms) | without DynamoDB (ms) | DynamoDB requests | RCU | WCU "
             "| frames posted | logged (bytes) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for step, functions in results["steps"].items():
        for logical_id, usage in functions.items():
            lines.append(f"| {step} | {logical_id} | {usage['invocations']:g} | {usage['duration_ms_median']:.1f} | "
                         f"{usage['own_ms_median']:.1f} | {usage['dynamodb_requests']:g} | {usage['rcu']:g} | "
                         f"{usage['wcu']:g} | {usage['websocket_posts']:g} | {usage['log_bytes']:.0f} |")
    indexes: Counter[str] = Counter()
    for functions in results["steps"].values():
        for usage in functions.values():
            indexes.update(usage.get("index_wcu", {}))
    total = sum(usage["wcu"] for functions in results["steps"].values() for usage in functions.values())
    lines += ["", f"WCU a round: {total:g}, of which the indexes' (each group-row write writes every index the row "
              "is in): " + ", ".join(f"{name} {units:g}" for name, units in sorted(indexes.items()))]
    return "\n".join(lines)


def write(results: dict[str, Any], path: Path = RESULTS_FILE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="cruddur-per-message-") as data_dir:
        postgres = EmbeddedPostgres(Path(data_dir)).start().setup()
        try:
            results = measure(postgres.database_url)
        finally:
            postgres.stop()
    write(results)
    print(report(results))
    print(f"\nWritten to {RESULTS_FILE}: `make cost` prices it.")


if __name__ == "__main__":
    main()
