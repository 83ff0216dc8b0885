"""Just enough IAM to check a function's template policy against the DynamoDB calls a test saw it make.

Each call becomes the requests IAM authorizes (a transaction is one request per item, with
``dynamodb:EnclosingOperation`` set), with the item's partition key as ``dynamodb:LeadingKeys``. Statements are
evaluated for Allow only, with the condition operators the template uses; it is not a full IAM evaluator.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from devtools.environment import template_context
from devtools.template import load_template, resolve

_KEY_EQUALS = re.compile(r"(#\w+)\s*=\s*(:\w+)")


@dataclass(frozen=True)
class Request:
    action: str
    resource: str
    leading_key: str | None = None
    enclosing_operation: str | None = None


def policy_statements(resources: Any, logical_id: str) -> list[dict[str, Any]]:
    """The function's inline policy statements, resolved (SAM policy templates are left out)."""
    policies = load_template()["Resources"][logical_id]["Properties"].get("Policies", [])
    resolved = resolve(policies, template_context(resources))
    return [statement for policy in resolved if "Statement" in policy for statement in policy["Statement"]]


def requests_of(operation: str, body: dict[str, Any], table_arn: str) -> list[Request]:
    if operation == "TransactWriteItems":
        return [Request(f"dynamodb:{'PutItem' if kind == 'Put' else kind + 'Item'}", table_arn,
                        (action.get("Item") or action.get("Key"))["pk"]["S"], "TransactWriteItems")
                for entry in body["TransactItems"] for kind, action in entry.items()]
    if operation == "Query":
        resource = f"{table_arn}/index/{body['IndexName']}" if "IndexName" in body else table_arn
        return [Request("dynamodb:Query", resource, None if "IndexName" in body else _queried_pk(body))]
    if "Key" in body:
        return [Request(f"dynamodb:{operation}", table_arn, body["Key"]["pk"]["S"])]
    return [Request(f"dynamodb:{operation}", table_arn)]


def allowed(statements: list[dict[str, Any]], request: Request) -> bool:
    return any(_allows(statement, request) for statement in statements)


def _allows(statement: dict[str, Any], request: Request) -> bool:
    if statement.get("Effect") != "Allow":
        return False
    if request.action not in _as_list(statement.get("Action")) or request.resource not in _as_list(
            statement.get("Resource")):
        return False
    context = {"dynamodb:LeadingKeys": [request.leading_key] if request.leading_key else [],
               "dynamodb:EnclosingOperation": [request.enclosing_operation] if request.enclosing_operation else []}
    for operator, conditions in statement.get("Condition", {}).items():
        for key, expected in conditions.items():
            values, patterns = context.get(key, []), _as_list(expected)
            if operator == "ForAllValues:StringLike":
                if not all(any(fnmatchcase(value, pattern) for pattern in patterns) for value in values):
                    return False
            elif operator == "ForAnyValue:StringEquals":
                if not any(value in patterns for value in values):
                    return False
            else:
                raise NotImplementedError(f"condition operator {operator}")
    return True


def _queried_pk(body: dict[str, Any]) -> str:
    names = body.get("ExpressionAttributeNames", {})
    for name, value in _KEY_EQUALS.findall(body["KeyConditionExpression"]):
        if names.get(name) == "pk":
            return body["ExpressionAttributeValues"][value]["S"]
    raise AssertionError(f"no pk condition in {body['KeyConditionExpression']!r}")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
