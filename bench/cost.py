"""``make cost``: what the default stack costs a month at rest, and per million direct messages, from the last
``make bench`` (``bench.per_message`` writes its figures to ``RESULTS_FILE``) and ``template.yaml``.

Prices are us-east-1 list prices without free tiers, as looked up on ``PRICES_CHECKED`` (each constant names its
source; the AWS pricing pages themselves were not all in the stored pages, so some figures come from pages that
quote them). What a message costs also depends on how people use the app: ``Assumptions`` says how, and every
figure that is not measured is one of its fields.

At rest: every resource type of the template must be priced in ``AT_REST`` (a new type fails ``make cost`` and
its test until it is), counted with the template's default parameters and conditions.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping

from devtools.environment import LocalResources, template_context
from devtools.template import CONDITION_PREFIX, REPO_ROOT, load_template, resolve

RESULTS_FILE = REPO_ROOT / ".local" / "bench" / "per-message.json"
PRICES_CHECKED = "2026-12-06"
MILLION = 1_000_000
HOURS_PER_MONTH = 730
GB = 1024 ** 3

# --- us-east-1 list prices (USD) -------------------------------------------------------------------------------
# https://aws.amazon.com/lambda/pricing/ (first duration tier), as quoted by cloudchipr.com/blog/aws-lambda-pricing
LAMBDA_PER_REQUEST = 0.20 / MILLION
LAMBDA_PER_GB_SECOND = {"arm64": 0.0000133334, "x86_64": 0.0000166667}
# https://aws.amazon.com/dynamodb/pricing/on-demand/ (after the November 2024 cut), as quoted by
# airbyte.com/data-engineering-resources/dynamodb-pricing; a standard-table GB-month past the free 25 GB, and PITR.
DYNAMODB_PER_WRITE_UNIT = 0.625 / MILLION
DYNAMODB_PER_READ_UNIT = 0.125 / MILLION
DYNAMODB_STORAGE_PER_GB_MONTH = 0.25
DYNAMODB_PITR_PER_GB_MONTH = 0.20
DYNAMODB_ITEM_OVERHEAD_BYTES = 100  # storage counts 100 bytes of overhead per item (DynamoDB developer guide)
# https://aws.amazon.com/api-gateway/pricing/ (first tiers), as quoted by amnic.com/blogs/aws-api-gateway-pricing:
# WebSocket messages are metered in 32 KB increments, sent and received (frames; $connect and $disconnect are
# taken as no message).
HTTP_API_PER_REQUEST = 1.00 / MILLION
WEBSOCKET_PER_MESSAGE = 1.00 / MILLION
WEBSOCKET_PER_CONNECTION_MINUTE = 0.25 / MILLION
# https://aws.amazon.com/cloudwatch/pricing/ (standard-resolution alarm metric, Logs standard class), as quoted by
# cloudburn.io/blog/amazon-cloudwatch-pricing (February 2026).
CLOUDWATCH_PER_ALARM_MONTH = 0.10
CLOUDWATCH_LOGS_PER_GB_INGESTED = 0.50
CLOUDWATCH_LOGS_PER_GB_MONTH_STORED = 0.03
CLOUDWATCH_PER_CUSTOM_METRIC_MONTH = 0.30
# https://aws.amazon.com/secrets-manager/pricing/, as quoted by hivebook.wiki (AWS Secrets Manager).
SECRETS_MANAGER_PER_SECRET_MONTH = 0.40
# https://aws.amazon.com/xray/pricing/ (stored in its de, cn and vi editions): traces recorded.
XRAY_PER_TRACE = 5.00 / MILLION
XRAY_RESERVOIR_PER_SECOND = 1.0  # Lambda's default sampling: the first request a second and 5 % of the rest
XRAY_FIXED_RATE = 0.05  # (docs.aws.amazon.com/xray/latest/devguide/xray-console-sampling.html)
# https://aws.amazon.com/privatelink/pricing/ and VPC pricing, as quoted by zacfukuda.com (June 2026).
INTERFACE_ENDPOINT_PER_AZ_HOUR = 0.01
INTERFACE_ENDPOINT_PER_GB = 0.01
NAT_GATEWAY_PER_HOUR = 0.045
NAT_GATEWAY_PER_GB = 0.045


@dataclass(frozen=True)
class Assumptions:
    """How the app is used, per direct message (DM): the figures ``make bench`` cannot measure."""

    mark_reads_per_dm: float = 1.0
    """The recipient marks every DM read (``POST /api/message_groups/{group}/read``)."""
    reads_per_dm: float = 0.0
    lists_per_dm: float = 0.0
    """An online recipient needs no GET per DM: ``message.created`` carries the message and
    ``conversation.updated`` the list item (the report prices one more of each per DM too)."""
    reads_per_session: float = 1.0
    lists_per_session: float = 1.0
    """Opening the app: the conversation list and one conversation (``GET /api/message_groups``,
    ``GET /api/messages/{group}``)."""
    session_minutes: float = 30.0
    """How long a user's WebSocket connection stays open."""
    dms_per_session: float = 10.0
    """DMs a user sends or receives during one session; both members of a DM are online."""
    ping_minutes: float = 5.0
    """docs/websocket-api.md: the client pings every 5 minutes (API Gateway closes idle connections at 10)."""
    dynamodb_round_trip_ms: float = 5.0
    """Added to a function's own measured time (moto's excluded) for each DynamoDB call: DynamoDB answers in
    single-digit milliseconds in AWS. PostToConnection calls went over HTTP to the local management API, timed."""
    full_vcpu_mb: float = 1769.0
    """Lambda gives a function CPU in proportion to its memory, one vCPU at 1,769 MB (Lambda developer guide,
    "Configuring function memory"): the own CPU time measured on a full core, scaled by this over MemorySize, is
    the function's own time in Lambda, unless the measured wall time is longer."""
    authorizer_ms: float = 10.0
    """LiveAuthorizerFunction per $connect (not measured: an RS256 check against a cached JWKS, no AWS call)."""
    platform_log_bytes: float = 350.0
    """Lambda's START, END and REPORT lines per invocation (REPORT carries the X-Ray ids when tracing)."""
    access_log_bytes: float = 400.0
    """One HTTP API access log line (the template's Format: ten fields)."""
    dms_per_month: float = 1_000_000.0
    """X-Ray samples by rate: at this volume, spread evenly, each function gets well under a request a second."""
    availability_zones: int = 2
    """Subnets (AZs) a VPC-mode deployment puts its functions in."""
    architecture: str | None = None
    """Lambda's architecture to price at, instead of each function's in the template (parameters at defaults)."""

    @property
    def sessions_per_dm(self) -> float:
        return 2 / self.dms_per_session

    @property
    def connection_minutes_per_dm(self) -> float:
        return self.sessions_per_dm * self.session_minutes

    def steps_per_dm(self) -> dict[str, float]:
        """How many times each step of ``bench.per_message`` happens per DM."""
        return {"send": 1.0, "read": self.reads_per_dm + self.sessions_per_dm * self.reads_per_session,
                "mark read": self.mark_reads_per_dm,
                "list": self.lists_per_dm + self.sessions_per_dm * self.lists_per_session,
                "connect": self.sessions_per_dm,
                "ping": self.sessions_per_dm * self.session_minutes / self.ping_minutes,
                "disconnect": self.sessions_per_dm}


@dataclass(frozen=True)
class Line:
    item: str
    quantity: float
    unit: str
    price: float
    note: str = ""

    @property
    def cost(self) -> float:
        return self.quantity * self.price


class NoBenchResults(Exception):
    """No ``make bench`` figures to price."""


def load_results(path: Path = RESULTS_FILE) -> dict[str, Any]:
    if not path.is_file():
        raise NoBenchResults(f"no bench figures at {path}: run `make bench` first (it writes them), then `make cost`")
    return json.loads(path.read_text())


# --- at rest --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AtRest:
    """What one resource of a type costs a month with no traffic, and why."""

    price: float
    label: str
    why: str = ""


AT_REST: dict[str, AtRest] = {
    "AWS::CloudWatch::Alarm": AtRest(CLOUDWATCH_PER_ALARM_MONTH, "CloudWatch alarms (standard resolution, one "
                                     "metric each)"),
    "AWS::SecretsManager::Secret": AtRest(SECRETS_MANAGER_PER_SECRET_MONTH, "Secrets Manager secret"),
    "AWS::DynamoDB::Table": AtRest(0.0, "DynamoDB table", "on-demand: no requests, no charge; storage past 25 GB "
                                   f"${DYNAMODB_STORAGE_PER_GB_MONTH}/GB-month and PITR "
                                   f"${DYNAMODB_PITR_PER_GB_MONTH}/GB-month of what it holds; the stream is read "
                                   "free by Lambda"),
    "AWS::SQS::Queue": AtRest(0.0, "SQS failure queue", "billed per request; nothing polls it"),
    "AWS::Logs::LogGroup": AtRest(0.0, "log groups", "billed per GB ingested and stored: nothing at rest, and "
                                  "what was logged ages out with LogRetentionDays"),
    "AWS::Serverless::Function": AtRest(0.0, "Lambda functions", "billed per request and GB-second"),
    "AWS::Serverless::LayerVersion": AtRest(0.0, "Lambda layer", "code storage is free up to 75 GB"),
    "AWS::Lambda::Permission": AtRest(0.0, "Lambda permissions"),
    "AWS::IAM::Role": AtRest(0.0, "IAM roles"),
    "AWS::Serverless::HttpApi": AtRest(0.0, "HTTP API", "billed per request"),
    "AWS::ApiGatewayV2::Api": AtRest(0.0, "WebSocket API", "billed per message and connection minute"),
    "AWS::ApiGatewayV2::Authorizer": AtRest(0.0, "WebSocket authorizer"),
    "AWS::ApiGatewayV2::Integration": AtRest(0.0, "WebSocket integration"),
    "AWS::ApiGatewayV2::Route": AtRest(0.0, "WebSocket routes"),
    "AWS::ApiGatewayV2::RouteResponse": AtRest(0.0, "WebSocket route response"),
    "AWS::ApiGatewayV2::Deployment": AtRest(0.0, "WebSocket deployment"),
    "AWS::ApiGatewayV2::Stage": AtRest(0.0, "WebSocket stage"),
}


def default_context(template: Mapping[str, Any]) -> Mapping[str, Any]:
    """The template's parameters at their defaults, its conditions evaluated against them."""
    return template_context(LocalResources(table_name="cost"), template)


def deployed_resources(template: Mapping[str, Any]) -> dict[str, str]:
    """Logical id -> type of every resource a deploy with the default parameters creates."""
    context = default_context(template)
    return {logical_id: resource["Type"] for logical_id, resource in template["Resources"].items()
            if "Condition" not in resource or context[f"{CONDITION_PREFIX}{resource['Condition']}"]}


def at_rest_lines(template: Mapping[str, Any]) -> list[Line]:
    counts: dict[str, int] = {}
    for resource_type in deployed_resources(template).values():
        counts[resource_type] = counts.get(resource_type, 0) + 1
    unpriced = sorted(set(counts) - set(AT_REST))
    if unpriced:
        raise ValueError(f"resource types without an at-rest price in bench.cost.AT_REST: {', '.join(unpriced)}")
    return [Line(AT_REST[kind].label, count, "each", AT_REST[kind].price, AT_REST[kind].why)
            for kind, count in sorted(counts.items(), key=lambda item: (-AT_REST[item[0]].price, item[0]))]


# --- per direct message ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FunctionFacts:
    memory_mb: int
    architecture: str
    tracing: str


def function_facts(template: Mapping[str, Any]) -> dict[str, FunctionFacts]:
    """Memory, architecture and tracing of every function, Globals merged in, parameters at their defaults (the
    architecture may be a parameter)."""
    context = default_context(template)
    globals_ = template.get("Globals", {}).get("Function", {})
    facts = {}
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        properties = resource.get("Properties", {})
        setting = {name: resolve(properties.get(name, globals_.get(name, default)), context,
                                 f"Resources.{logical_id}.Properties.{name}")
                   for name, default in (("MemorySize", 128), ("Architectures", ["x86_64"]),
                                         ("Tracing", "PassThrough"))}
        facts[logical_id] = FunctionFacts(memory_mb=int(setting["MemorySize"]),
                                          architecture=str(setting["Architectures"][0]),
                                          tracing=str(setting["Tracing"]))
    return facts


@dataclass
class PerDm:
    """Usage per DM, summed over the steps and functions."""

    invocations: dict[str, float] = field(default_factory=dict)
    gb_seconds: dict[str, float] = field(default_factory=dict)
    read_units: float = 0.0
    write_units: float = 0.0
    http_requests: float = 0.0
    websocket_messages: float = 0.0
    log_bytes: float = 0.0


def usage_per_dm(results: Mapping[str, Any], facts: Mapping[str, FunctionFacts], assumptions: Assumptions,
                 authorizer: str = "LiveAuthorizerFunction") -> PerDm:
    """Each step's measured usage times how often it happens per DM; Lambda duration billed by the millisecond,
    rounded up: a function's own time (its wall time, or its CPU time at its share of a vCPU if longer), plus
    ``dynamodb_round_trip_ms`` per DynamoDB call; the authorizer's invocation added to each $connect."""
    usage = PerDm()
    for step, times in assumptions.steps_per_dm().items():
        measured = dict(results["steps"][step])
        if step == "connect" and authorizer in facts:
            measured[authorizer] = {"invocations": 1.0, "own_ms_median": assumptions.authorizer_ms,
                                    "own_cpu_ms_median": 0.0,
                                    "dynamodb_requests": 0.0, "rcu": 0.0, "wcu": 0.0, "websocket_posts": 0.0,
                                    "http_requests": 0.0, "websocket_frames_in": 0.0, "websocket_frames_out": 0.0,
                                    "log_bytes": 0.0}
        for logical_id, figures in measured.items():
            invocations = figures["invocations"] * times
            calls = figures["dynamodb_requests"] / figures["invocations"]
            memory_mb = facts[logical_id].memory_mb
            own_ms = max(figures["own_ms_median"],
                         figures["own_cpu_ms_median"] * max(1.0, assumptions.full_vcpu_mb / memory_mb))
            billed_ms = math.ceil(own_ms + calls * assumptions.dynamodb_round_trip_ms)
            memory_gb = memory_mb / 1024
            usage.invocations[logical_id] = usage.invocations.get(logical_id, 0.0) + invocations
            usage.gb_seconds[logical_id] = (usage.gb_seconds.get(logical_id, 0.0)
                                            + invocations * memory_gb * billed_ms / 1000)
            usage.read_units += figures["rcu"] * times
            usage.write_units += figures["wcu"] * times
            usage.http_requests += figures["http_requests"] * times
            usage.websocket_messages += (figures["websocket_frames_in"] + figures["websocket_frames_out"]) * times
            usage.log_bytes += (figures["log_bytes"] + assumptions.platform_log_bytes * figures["invocations"]
                                + assumptions.access_log_bytes * figures["http_requests"]) * times
    return usage


def sampled_fraction(requests_per_second: float) -> float:
    """X-Ray's default rule: the first request each second, and 5 % of the others."""
    if requests_per_second <= XRAY_RESERVOIR_PER_SECOND:
        return 1.0
    sampled = XRAY_RESERVOIR_PER_SECOND + XRAY_FIXED_RATE * (requests_per_second - XRAY_RESERVOIR_PER_SECOND)
    return sampled / requests_per_second


def per_dm_lines(results: Mapping[str, Any], template: Mapping[str, Any], assumptions: Assumptions) -> list[Line]:
    facts = function_facts(template)
    if assumptions.architecture:
        facts = {logical_id: replace(fact, architecture=assumptions.architecture) for logical_id, fact in facts.items()}
    usage = usage_per_dm(results, facts, assumptions)
    architectures = sorted({facts[logical_id].architecture for logical_id in usage.gb_seconds})
    lines = [Line("Lambda requests", sum(usage.invocations.values()), "invocations", LAMBDA_PER_REQUEST)]
    for architecture in architectures:
        lines.append(Line(f"Lambda duration ({architecture})",
                          sum(gb_s for logical_id, gb_s in usage.gb_seconds.items()
                              if facts[logical_id].architecture == architecture),
                          "GB-seconds", LAMBDA_PER_GB_SECOND[architecture]))
    seconds_per_month = HOURS_PER_MONTH * 3600
    traces = sum(invocations * sampled_fraction(invocations * assumptions.dms_per_month / seconds_per_month)
                 for logical_id, invocations in usage.invocations.items() if facts[logical_id].tracing == "Active")
    lines += [
        Line("DynamoDB write request units", usage.write_units, "WRU", DYNAMODB_PER_WRITE_UNIT),
        Line("DynamoDB read request units", usage.read_units, "RRU", DYNAMODB_PER_READ_UNIT),
        Line("HTTP API requests", usage.http_requests, "requests", HTTP_API_PER_REQUEST),
        Line("WebSocket messages", usage.websocket_messages, "messages", WEBSOCKET_PER_MESSAGE),
        Line("WebSocket connection minutes", assumptions.connection_minutes_per_dm, "minutes",
             WEBSOCKET_PER_CONNECTION_MINUTE),
        Line("CloudWatch Logs ingested", usage.log_bytes / GB, "GB", CLOUDWATCH_LOGS_PER_GB_INGESTED),
    ]
    if traces:
        lines.append(Line("X-Ray traces (Tracing: Active)", traces, "traces", XRAY_PER_TRACE,
                          f"sampled at {assumptions.dms_per_month:,.0f} DMs a month"))
    return lines


# --- VPC mode -------------------------------------------------------------------------------------------------

# Services the functions in the VPC reach without an interface endpoint of their own.
NO_INTERFACE_ENDPOINT = {
    "dynamodb": "a gateway endpoint (free)",
    "logs": "the Lambda service writes the logs",
    "ec2": "the Lambda service manages the network interfaces",
    "sqs": "the event source mapping sends failed batches",
}


def vpc_functions(template: Mapping[str, Any]) -> list[str]:
    """Functions that take the Globals' VpcConfig (those that set ``!Ref AWS::NoValue`` stay outside)."""
    if "VpcConfig" not in template.get("Globals", {}).get("Function", {}):
        return []
    return [logical_id for logical_id, resource in template["Resources"].items()
            if resource.get("Type") == "AWS::Serverless::Function"
            and resource.get("Properties", {}).get("VpcConfig") != {"Ref": "AWS::NoValue"}]


def vpc_endpoint_services(template: Mapping[str, Any]) -> list[str]:
    """Services the roles of the functions in the VPC call (the VPC-only statements included) that need an
    interface endpoint."""
    services: set[str] = set()
    resources = template["Resources"]
    for logical_id in vpc_functions(template):
        role = resources[logical_id]["Properties"]["Role"]["Fn::GetAtt"]
        role_id = role.split(".")[0] if isinstance(role, str) else role[0]
        for policy in resources[role_id]["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                if "Fn::If" in statement:
                    statement = statement["Fn::If"][1]
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                services.update(action.split(":")[0] for action in actions)
    return sorted(services - set(NO_INTERFACE_ENDPOINT))


def vpc_lines(template: Mapping[str, Any], assumptions: Assumptions) -> tuple[list[str], list[Line]]:
    endpoints = vpc_endpoint_services(template)
    hours = HOURS_PER_MONTH * assumptions.availability_zones
    return endpoints, [
        Line(f"interface endpoints ({', '.join(endpoints)}) in {assumptions.availability_zones} AZs",
             len(endpoints) * hours, "endpoint-AZ-hours", INTERFACE_ENDPOINT_PER_AZ_HOUR,
             f"+ ${INTERFACE_ENDPOINT_PER_GB}/GB"),
        Line("or one NAT gateway (one AZ)", HOURS_PER_MONTH, "hours", NAT_GATEWAY_PER_HOUR,
             f"+ ${NAT_GATEWAY_PER_GB}/GB"),
    ]


# --- the report -----------------------------------------------------------------------------------------------

AT_REST_GOAL = 1.00
PER_MILLION_GOAL = 6.00


def _money(value: float) -> str:
    return f"${value:,.2f}" if value >= 0.01 or value == 0 else f"${value:.4f}"


def _quantity(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "|".join("---" if index == 0 else "---:"
                                                        for index in range(len(header))) + "|",
            *("| " + " | ".join(row) + " |" for row in rows)]


def report(results: Mapping[str, Any], template: Mapping[str, Any], assumptions: Assumptions) -> str:
    rest = at_rest_lines(template)
    rest_total = sum(line.cost for line in rest)
    per_dm = per_dm_lines(results, template, assumptions)
    per_million = sum(line.cost for line in per_dm) * MILLION
    endpoints, vpc = vpc_lines(template, assumptions)
    billed = [line for line in rest if line.cost]
    free = [line for line in rest if not line.cost]
    out = [f"At rest, a month (default parameters; us-east-1 list prices of {PRICES_CHECKED}, no free tier):", ""]
    out += _table(["resource", "count", "each a month", "a month"],
                  [[line.item, f"{line.quantity:g}", _money(line.price), _money(line.cost)] for line in billed]
                  + [["everything else, billed only when used: " + "; ".join(
                      f"{line.quantity:g} {line.item}" + (f" ({line.note})" if line.note else "") for line in free),
                      f"{sum(line.quantity for line in free):g}", "$0.00", "$0.00"],
                     ["**total**", "", "", f"**{_money(rest_total)}**"]])
    out += ["", f"Per million direct messages (bench of {results['measured_at']}, {results['rounds']} rounds, "
            f"load {results['load_average_1min']}):", ""]
    out += _table(["item", "per DM", "unit price", "per million DMs"],
                  [[line.item + (f" ({line.note})" if line.note else ""), f"{_quantity(line.quantity)} {line.unit}",
                    f"${line.price * MILLION:,.4g} / M" if line.price < 0.001 else _money(line.price),
                    _money(line.cost * MILLION)] for line in per_dm]
                  + [["**total**", "", "", f"**{_money(per_million)}**"]])
    out += ["", "Also, outside the totals:", ""]
    out += [f"- each further read per DM (`GET /api/messages/{{group}}`): "
            f"{_money(_step_cost(results, template, assumptions, 'read') * MILLION)} per million DMs; each further "
            f"list (`GET /api/message_groups`): "
            f"{_money(_step_cost(results, template, assumptions, 'list') * MILLION)};",
            f"- the table keeps every DM: {results['message_item_bytes'] + DYNAMODB_ITEM_OVERHEAD_BYTES:.0f} bytes "
            f"(item and overhead), so a million DMs kept cost "
            f"{_money(_stored_gb_per_million(results) * (DYNAMODB_STORAGE_PER_GB_MONTH + DYNAMODB_PITR_PER_GB_MONTH))}"
            f" a month in storage and PITR (storage free up to 25 GB);",
            f"- custom metrics while messages flow: {len(results['custom_metrics'])} "
            f"({', '.join(results['custom_metrics'])}) at {_money(CLOUDWATCH_PER_CUSTOM_METRIC_MONTH)} each: "
            f"{_money(len(results['custom_metrics']) * CLOUDWATCH_PER_CUSTOM_METRIC_MONTH)} a month (none at rest);",
            "- cold starts (SSM and Secrets Manager reads, init duration) are not counted."]
    out += ["", "VPC mode (VpcSubnetIds set), a month on top:", ""]
    out += _table(["option", "quantity", "unit price", "a month"],
                  [[f"{line.item} ({line.note})", f"{_quantity(line.quantity)} {line.unit}", f"${line.price:g}",
                    _money(line.cost)] for line in vpc])
    verdicts = [f"at rest {_money(rest_total)} a month (goal {_money(AT_REST_GOAL)}): "
                + ("met" if rest_total <= AT_REST_GOAL else "MISSED"),
                f"per million DMs {_money(per_million)} (goal {_money(PER_MILLION_GOAL)}): "
                + ("met" if per_million <= PER_MILLION_GOAL else "MISSED")]
    out += ["", "Goals: " + "; ".join(verdicts) + ".", "", "Assumptions: " + "; ".join(
        f"{name} = {value:g}" if isinstance(value, (int, float)) else f"{name} = {value or 'the template'}"
        for name, value in vars(assumptions).items()) + "."]
    return "\n".join(out)


def _step_cost(results: Mapping[str, Any], template: Mapping[str, Any], assumptions: Assumptions,
               step: str) -> float:
    """What one more ``step`` per DM adds to the cost of a DM."""
    more = {"read": replace(assumptions, reads_per_dm=assumptions.reads_per_dm + 1),
            "list": replace(assumptions, lists_per_dm=assumptions.lists_per_dm + 1)}[step]
    return (sum(line.cost for line in per_dm_lines(results, template, more))
            - sum(line.cost for line in per_dm_lines(results, template, assumptions)))


def _stored_gb_per_million(results: Mapping[str, Any]) -> float:
    return (results["message_item_bytes"] + DYNAMODB_ITEM_OVERHEAD_BYTES) * MILLION / GB


def main(argv: list[str] | None = None, load: Callable[[], dict[str, Any]] = load_results,
         template: Mapping[str, Any] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--architecture", choices=sorted(LAMBDA_PER_GB_SECOND),
                        help="price Lambda at this architecture (default: the template's, parameters at defaults)")
    arguments = parser.parse_args(argv)
    try:
        results = load()
    except NoBenchResults as missing:
        print(missing, file=sys.stderr)
        return 2
    print(report(results, template or load_template(), Assumptions(architecture=arguments.architecture)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
