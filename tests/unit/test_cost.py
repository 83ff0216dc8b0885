"""``make cost``: the arithmetic of ``bench.cost`` on cases checkable by hand, the template's resources all priced,
and the capacity meter's sizing of updates (``bench.capacity``)."""
from __future__ import annotations

import json
import math
import os
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest

from bench import cost
from bench.capacity import Meter, item_size
from devtools.template import load_template

STEPS = ("send", "read", "mark read", "list", "connect", "ping", "disconnect")

# One function, 1 GB, its architecture from a parameter's default, traced.
TEMPLATE = {
    "Parameters": {"Arch": {"Type": "String", "Default": "arm64"}},
    "Globals": {"Function": {"MemorySize": 1024, "Architectures": [{"Ref": "Arch"}], "Tracing": "Active"}},
    "Resources": {"F": {"Type": "AWS::Serverless::Function", "Properties": {"Handler": "app.handler"}}},
}
# Per send: one invocation of F, 10.2 ms of its own, 2 DynamoDB requests (0.5 RCU, 3 WCU), one HTTP request, one
# frame posted, 150 bytes logged. Nothing in the other steps.
SEND = {"invocations": 1.0, "duration_ms_median": 40.0, "own_ms_median": 10.2, "own_cpu_ms_median": 4.0,
        "dynamodb_requests": 2.0,
        "rcu": 0.5, "wcu": 3.0, "websocket_posts": 1.0, "http_requests": 1.0, "websocket_frames_in": 0.0,
        "websocket_frames_out": 1.0, "log_bytes": 150.0}
RESULTS = {"measured_at": "2026-12-06T00:00:00+00:00", "rounds": 1, "load_average_1min": 0.5,
           "message_item_bytes": 924.0, "custom_metrics": ["Cruddur/MessagesSent"],
           "steps": {step: ({"F": SEND} if step == "send" else {}) for step in STEPS}}
ASSUMPTIONS = cost.Assumptions(dynamodb_round_trip_ms=5.0, platform_log_bytes=350.0, access_log_bytes=500.0,
                               session_minutes=30.0, dms_per_session=10.0, dms_per_month=1_000_000.0)


def test_a_dms_usage_adds_a_round_trip_per_dynamodb_call_and_bills_whole_milliseconds() -> None:
    usage = cost.usage_per_dm(RESULTS, cost.function_facts(TEMPLATE), ASSUMPTIONS)

    assert usage.invocations == {"F": 1.0}
    # ceil(10.2 + 2 x 5) = 21 ms at 1 GB: the wall time, longer than 4 ms of CPU at 1024 / 1769 of a vCPU (6.9 ms)
    assert usage.gb_seconds["F"] == pytest.approx(1.0 * 21 / 1000)
    assert (usage.read_units, usage.write_units, usage.http_requests, usage.websocket_messages) == (0.5, 3, 1, 1)
    assert usage.log_bytes == 150 + 350 + 500  # the function's, Lambda's lines, the access log line


def test_a_small_function_gets_a_share_of_a_vcpu_so_its_cpu_time_stretches() -> None:
    small = {**TEMPLATE, "Globals": {"Function": {**TEMPLATE["Globals"]["Function"], "MemorySize": 512}}}
    usage = cost.usage_per_dm(RESULTS, cost.function_facts(small), ASSUMPTIONS)

    # 4 ms of CPU on a full core at 512 / 1769 of a vCPU: 13.82 ms, longer than the 10.2 ms measured; + 2 x 5 ms
    assert usage.gb_seconds["F"] == pytest.approx(0.5 * 24 / 1000)


def test_the_architecture_is_the_parameters_default_unless_one_is_asked_for() -> None:
    lines = {line.item: line for line in cost.per_dm_lines(RESULTS, TEMPLATE, ASSUMPTIONS)}
    assert lines["Lambda duration (arm64)"].price == 0.0000133334

    asked = {line.item for line in cost.per_dm_lines(RESULTS, TEMPLATE, replace(ASSUMPTIONS, architecture="x86_64"))}
    assert "Lambda duration (x86_64)" in asked and "Lambda duration (arm64)" not in asked


def test_a_million_dms_cost_what_the_hand_computes() -> None:
    per_million = {line.item.split(" (")[0]: line.cost * 1_000_000
                   for line in cost.per_dm_lines(RESULTS, TEMPLATE, ASSUMPTIONS)}

    assert per_million == pytest.approx({
        "Lambda requests": 0.20,                       # 1 invocation at $0.20 a million
        "Lambda duration": 0.021 * 13.3334,            # 0.021 GB-s at $0.0000133334
        "DynamoDB write request units": 3 * 0.625,
        "DynamoDB read request units": 0.5 * 0.125,
        "HTTP API requests": 1.00,
        "WebSocket messages": 1.00,
        "WebSocket connection minutes": 6 * 0.25,      # 2 members / 10 DMs a session x 30 minutes
        "CloudWatch Logs ingested": 1000 / 1024 ** 3 * 0.50 * 1_000_000,
        "X-Ray traces": 5.00,                          # 0.38 invocations a second: every one sampled
    })


def test_x_ray_samples_the_first_request_a_second_and_five_percent_of_the_rest() -> None:
    assert cost.sampled_fraction(0.4) == 1.0
    assert cost.sampled_fraction(21.0) == pytest.approx((1 + 0.05 * 20) / 21)


def test_every_resource_type_of_the_template_has_an_at_rest_price() -> None:
    template = load_template()
    lines = cost.at_rest_lines(template)

    alarms = sum(1 for resource in template["Resources"].values() if resource["Type"] == "AWS::CloudWatch::Alarm"
                 and "Condition" not in resource)
    assert alarms and {line.item: line.quantity for line in lines}[
        cost.AT_REST["AWS::CloudWatch::Alarm"].label] >= alarms
    assert sum(line.quantity for line in lines) == len(cost.deployed_resources(template))


def test_a_resource_type_without_a_price_and_a_resource_not_deployed_by_default() -> None:
    template = {"Parameters": {"Topic": {"Type": "String", "Default": ""}},
                "Conditions": {"HasTopic": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Topic"}, ""]}]}},
                "Resources": {"A": {"Type": "AWS::CloudWatch::Alarm"},
                              "B": {"Type": "AWS::CloudWatch::Alarm", "Condition": "HasTopic"}}}
    assert [(line.quantity, line.cost) for line in cost.at_rest_lines(template)] == [(1, 0.10)]

    template["Resources"]["C"] = {"Type": "AWS::EC2::NatGateway"}
    with pytest.raises(ValueError, match="AWS::EC2::NatGateway"):
        cost.at_rest_lines(template)


def test_vpc_mode_needs_interface_endpoints_only_for_what_has_no_gateway() -> None:
    services = cost.vpc_endpoint_services(load_template())
    assert "ssm" in services  # every function in the VPC reads the database URL parameter
    assert not set(services) & set(cost.NO_INTERFACE_ENDPOINT)


def test_make_cost_without_a_bench_says_to_run_make_bench(tmp_path, capsys) -> None:
    assert cost.main([], load=lambda: cost.load_results(tmp_path / "none.json")) == 2
    assert "run `make bench` first" in capsys.readouterr().err


def test_make_cost_prints_both_tables_and_the_goals(tmp_path, capsys) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(RESULTS))
    assert cost.main(["--architecture", "arm64"], load=lambda: cost.load_results(path),
                     template=TEMPLATE) == 0
    printed = capsys.readouterr().out
    assert "At rest, a month" in printed and "Per million direct messages" in printed
    assert "per million DMs" in printed and "goal $6.00" in printed


def _call(meter: Meter, operation: str, body: dict[str, Any], parsed: dict[str, Any] | None = None) -> None:
    model = SimpleNamespace(name=operation)
    meter._before_call(model=model, params={"body": json.dumps(body)})
    meter._after_call(model=model, parsed=parsed or {})


def test_an_update_costs_the_larger_of_the_item_before_and_after_it() -> None:
    key = {"pk": {"S": "GRP#a"}, "sk": {"S": "2026"}}
    states = [{**key, "message_group_uuid": {"S": "g"}, "message": {"S": "x" * 1500}},  # before: 2 KB units
              {**key, "message_group_uuid": {"S": "g"}, "message": {"S": "x" * 10}}]   # after: 1
    meter = Meter(current_item=lambda _: states.pop(0))

    _call(meter, "UpdateItem", {"Key": key})

    size = 2 + 2 + 1 + 4 + len("message_group_uuid") + 1 + len("message") + 1500
    assert meter.wcu == 2 * math.ceil(size / 1024)  # the table and the index: 2 units each


def test_a_group_row_write_writes_each_index_it_is_in_and_a_new_version_is_a_delete_and_a_put() -> None:
    """Both indexes project ALL: a new row is one write to each; an update that changes the row's ``version``
    (group-row-version-index's range key) is two writes there and one in message-group-sk-index (its key kept); a
    refused update changes nothing and writes no index."""
    key = {"pk": {"S": "GRP#a"}, "sk": {"S": "2026"}}
    row = {**key, "message_group_uuid": {"S": "g"}, "version": {"N": "1"}, "unread_count": {"N": "1"}}
    meter = Meter()
    _call(meter, "PutItem", {"Item": row})
    assert (meter.wcu, meter.index_wcu) == (3, {"message-group-sk-index": 1, "group-row-version-index": 1})

    states = [row, {**row, "version": {"N": "2"}, "unread_count": {"N": "0"}}]
    updated = Meter(current_item=lambda _: states.pop(0))
    _call(updated, "UpdateItem", {"Key": key})
    assert (updated.wcu, updated.index_wcu) == (4, {"message-group-sk-index": 1, "group-row-version-index": 2})

    refused = Meter(current_item=lambda _: row)
    _call(refused, "UpdateItem", {"Key": key})
    assert (refused.wcu, refused.index_wcu) == (1, {"message-group-sk-index": 0, "group-row-version-index": 0})

    unversioned = Meter()  # a row written before versions: in message-group-sk-index only
    _call(unversioned, "PutItem", {"Item": {**key, "message_group_uuid": {"S": "g"}}})
    assert (unversioned.wcu, unversioned.index_wcu) == (2, {"message-group-sk-index": 1,
                                                            "group-row-version-index": 0})


def test_an_update_in_a_transaction_counts_twice_and_an_update_cannot_be_metered_blind() -> None:
    key = {"pk": {"S": "CONN#a"}, "sk": {"S": "c"}}
    meter = Meter(current_item=lambda _: {**key, "n": {"S": "1"}})
    _call(meter, "TransactWriteItems", {"TransactItems": [{"Update": {"Key": key}}]})
    assert meter.wcu == 2

    with pytest.raises(ValueError, match="current_item"):
        _call(Meter(), "UpdateItem", {"Key": key})


def test_a_filtered_or_projected_query_is_billed_for_the_items_it_reads() -> None:
    """The badge's query returns only the counts of the rows that have any, but DynamoDB bills every row it read:
    the meter replays the key condition (without the filter's names and values) and sizes those."""
    rows = [{"pk": {"S": "GRP#a"}, "sk": {"S": f"2026-{number}"}, "message": {"S": "x" * 1000}} for number in range(9)]
    replayed: list[dict[str, Any]] = []
    meter = Meter(items_read=lambda body: replayed.append(body) or rows)
    body = {"TableName": "t", "KeyConditionExpression": "#n0 = :v0", "FilterExpression": "#n1 > :v1",
            "ProjectionExpression": "#n1", "ConsistentRead": True,
            "ExpressionAttributeNames": {"#n0": "pk", "#n1": "unread_count"},
            "ExpressionAttributeValues": {":v0": {"S": "GRP#a"}, ":v1": {"N": "0"}}}
    _call(meter, "Query", body, {"Items": [{"unread_count": {"N": "2"}}]})

    assert meter.rcu == math.ceil(sum(item_size(row) for row in rows) / 4096) == 3  # strongly consistent
    [replay] = replayed
    assert replay == body  # the query as sent: the reader drops its filter and projection (below)
    without_replay = Meter()
    _call(without_replay, "Query", {**body, "ConsistentRead": False}, {"Items": [{"unread_count": {"N": "2"}}]})
    assert without_replay.rcu == 0.5  # what the response shows: one unit, eventually consistent


def test_the_replayed_query_keeps_only_what_its_key_condition_uses() -> None:
    from bench.capacity import items_read_reader

    sent: list[dict[str, Any]] = []
    client = SimpleNamespace(query=lambda **request: sent.append(request) or {"Items": []})
    items_read_reader(client)({"TableName": "t", "KeyConditionExpression": "#n0 = :v0", "Limit": 5,
                               "FilterExpression": "#n1 > :v1", "ProjectionExpression": "#n1",
                               "ExpressionAttributeNames": {"#n0": "pk", "#n1": "unread_count"},
                               "ExpressionAttributeValues": {":v0": {"S": "GRP#a"}, ":v1": {"N": "0"}}})
    assert sent == [{"TableName": "t", "KeyConditionExpression": "#n0 = :v0", "Limit": 5,
                     "ExpressionAttributeNames": {"#n0": "pk"}, "ExpressionAttributeValues": {":v0": {"S": "GRP#a"}}}]


def test_the_bench_counts_the_bytes_a_function_logs_and_the_metrics_it_publishes() -> None:
    from bench.per_message import captured_stdout, emf_metric_names

    metric = json.dumps({"_aws": {"CloudWatchMetrics": [{"Namespace": "Cruddur", "Dimensions": [["service"]],
                                                         "Metrics": [{"Name": "MessagesSent", "Unit": "Count"}]}]},
                         "service": "cruddur-messaging", "MessagesSent": [1.0]})
    lines = ['{"level":"INFO","message":"sent"}\n', metric + "\n"]
    with captured_stdout() as logged:  # what the functions' handlers write, to file descriptor 1
        for line in lines:
            os.write(1, line.encode())

    assert logged[0] == "".join(lines).encode()
    assert emf_metric_names(logged[0]) == {"Cruddur/MessagesSent"}
