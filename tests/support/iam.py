"""Just enough IAM to check a function's role, as CloudFormation receives it from the SAM transform, against the
calls a test saw the function make, and against what a role may grant at all.

Each call becomes the requests IAM authorizes (a transaction is one request per item, with
``dynamodb:EnclosingOperation`` set), with the partition key as ``dynamodb:LeadingKeys``: the item's (``Key``, or
``Item`` for a put), or for a query the queried one - on an index, the index's own partition key (for
``message-group-sk-index`` a bare group uuid, not a ``GRP#`` key). Statements are evaluated for Allow only, with
the ``ForAllValues``/``ForAnyValue`` ``StringEquals``/``StringLike`` operators, and resources matched with IAM's
wildcards (``*``, ``?``); it is not a full IAM evaluator.
As in IAM, ``ForAllValues`` holds when the request has no value for the key, ``ForAnyValue`` does not.

Roles are read from ``transformed(template)`` and resolved for one deploy by ``devtools.roles`` (which
docs/deploying.md's least-privilege table is written from too), so a role SAM would generate, with the managed
policies SAM attaches to it, is checked as well. ``AWS_MANAGED_POLICIES`` says what those managed policies grant.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

from devtools.roles import (  # noqa: F401 - the tests read roles through this module
    execution_role_id,
    function_ids,
    policy_statements,
    role_context,
    transformed,
)
from devtools.template import TABLE_LOGICAL_ID, load_template, parameter_defaults, resolve

_KEY_EQUALS = re.compile(r"(#?\w+)\s*=\s*(:\w+)")
# Operations whose items this module does not turn into requests; meeting one must not pass unchecked.
_UNSUPPORTED = frozenset({"BatchGetItem", "BatchWriteItem", "TransactGetItems", "ExecuteStatement",
                          "BatchExecuteStatement", "ExecuteTransaction"})


@dataclass(frozen=True)
class Request:
    action: str
    resource: str
    leading_key: str | None = None
    enclosing_operation: str | None = None


def _all_resources(*actions: str) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": list(actions), "Resource": "*"}


_LOGS = ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents")
AWS_MANAGED_POLICIES: dict[str, list[dict[str, Any]]] = {
    # What the AWS managed policies SAM attaches to the roles it generates grant (AWS's published documents).
    "service-role/AWSLambdaBasicExecutionRole": [_all_resources(*_LOGS)],
    "service-role/AWSLambdaVPCAccessExecutionRole": [_all_resources(
        *_LOGS, "ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets",
        "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses")],
    "service-role/AWSLambdaDynamoDBExecutionRole": [_all_resources(
        "dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams",
        *_LOGS)],
    "AWSXrayWriteOnlyAccess": [_all_resources(
        "xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets",
        "xray:GetSamplingStatisticSummaries")],
}


def managed_policy_arns(resources: Any, logical_id: str, use_vpc: bool = False,
                        cloudformation: Mapping[str, Any] | None = None) -> list[str]:
    cloudformation = cloudformation or transformed(parameters=resources.parameters)
    role = cloudformation["Resources"][execution_role_id(cloudformation, logical_id)]["Properties"]
    return resolve(role.get("ManagedPolicyArns", []), role_context(resources, cloudformation, use_vpc))


def granted_statements(resources: Any, logical_id: str, use_vpc: bool = False,
                       cloudformation: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Everything the function's role grants: its own statements and those of its managed policies."""
    cloudformation = cloudformation or transformed(parameters=resources.parameters)
    statements = policy_statements(resources, logical_id, use_vpc, cloudformation)
    for arn in managed_policy_arns(resources, logical_id, use_vpc, cloudformation):
        name = arn.split(":policy/", 1)[1]
        if name not in AWS_MANAGED_POLICIES:
            raise AssertionError(f"{logical_id}: managed policy {arn} - add what it grants to AWS_MANAGED_POLICIES")
        statements.extend(AWS_MANAGED_POLICIES[name])
    return statements


def requests_of(operation: str, body: dict[str, Any], table_arn: str) -> list[Request]:
    if operation in _UNSUPPORTED:
        raise NotImplementedError(f"requests of {operation}")
    pk = partition_key_attribute()
    if operation == "TransactWriteItems":
        return [Request(f"dynamodb:{'PutItem' if kind == 'Put' else kind + 'Item'}", table_arn,
                        (action.get("Item") or action.get("Key"))[pk]["S"], "TransactWriteItems")
                for entry in body["TransactItems"] for kind, action in entry.items()]
    if operation == "Query":
        index = body.get("IndexName")
        resource = f"{table_arn}/index/{index}" if index else table_arn
        return [Request("dynamodb:Query", resource, _queried_key(body, partition_key_attribute(index)))]
    item_key = body.get("Key") or body.get("Item")
    if item_key:
        return [Request(f"dynamodb:{operation}", table_arn, item_key[pk]["S"])]
    return [Request(f"dynamodb:{operation}", table_arn)]


def partition_key_attribute(index_name: str | None = None) -> str:
    """The partition key of the table, or of one of its global secondary indexes (as the template names it)."""
    table = load_template()["Resources"][TABLE_LOGICAL_ID]["Properties"]
    schemas = {None: table["KeySchema"]}
    context = parameter_defaults(load_template())
    for index in table.get("GlobalSecondaryIndexes", []):
        schemas[resolve(index["IndexName"], context)] = index["KeySchema"]
    if index_name not in schemas:
        raise AssertionError(f"no index {index_name!r} in the template")
    return next(key["AttributeName"] for key in schemas[index_name] if key["KeyType"] == "HASH")


def allowed(statements: list[dict[str, Any]], request: Request) -> bool:
    return any(_allows(statement, request) for statement in statements)


def _allows(statement: dict[str, Any], request: Request) -> bool:
    if statement.get("Effect") != "Allow":
        return False
    if request.action not in _as_list(statement.get("Action")) or not any(
            _string_like(request.resource, resource) for resource in _as_list(statement.get("Resource"))):
        return False
    context = {"dynamodb:LeadingKeys": [request.leading_key] if request.leading_key else [],
               "dynamodb:EnclosingOperation": [request.enclosing_operation] if request.enclosing_operation else []}
    for operator, conditions in statement.get("Condition", {}).items():
        qualifier, _, comparison = operator.partition(":")
        if qualifier not in ("ForAllValues", "ForAnyValue") or comparison not in _COMPARISONS:
            raise NotImplementedError(f"condition operator {operator}")
        matches = _COMPARISONS[comparison]
        for key, expected in conditions.items():
            if key not in context:
                raise NotImplementedError(f"condition key {key}")
            values, patterns = context[key], _as_list(expected)
            matching = [any(matches(value, pattern) for pattern in patterns) for value in values]
            if not (all(matching) if qualifier == "ForAllValues" else any(matching)):
                return False
    return True


def _string_like(value: str, pattern: str) -> bool:
    """IAM's StringLike: ``*`` any run of characters, ``?`` any one character, everything else literal."""
    return re.fullmatch(re.escape(pattern).replace(r"\*", ".*").replace(r"\?", "."), value, re.DOTALL) is not None


_COMPARISONS = {"StringEquals": lambda value, pattern: value == pattern, "StringLike": _string_like}


def _queried_key(body: dict[str, Any], attribute: str) -> str:
    names = body.get("ExpressionAttributeNames", {})
    for name, value in _KEY_EQUALS.findall(body["KeyConditionExpression"]):
        if names.get(name, name) == attribute:
            return body["ExpressionAttributeValues"][value]["S"]
    raise AssertionError(f"no {attribute} condition in {body['KeyConditionExpression']!r}")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
