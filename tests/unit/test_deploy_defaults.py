"""What a first ``sam deploy`` with the defaults creates: it must work on any account and keep the messages.

- ``ReservedConcurrency`` reserves nothing by default: Lambda refuses a reservation that leaves less than 100 of the
  account's concurrency unreserved, and new accounts may have a quota of 10 in all
  (https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html).
- The table is named by CloudFormation (no collision with the tutorial's ``cruddur-messages``, a second stack or a
  retried first deploy), kept when the stack goes, protected from DeleteTable, and deleted only when its own first
  create rolls back (``RetainExceptOnCreate``).
"""
from __future__ import annotations

import re
from typing import Any, Iterator

import pytest

from devtools.environment import LOCAL_TABLE_NAME, LocalResources, template_context
from devtools.template import TABLE_LOGICAL_ID, load_template, resolve

TEMPLATE = load_template()
FUNCTIONS = sorted(logical_id for logical_id, resource in TEMPLATE["Resources"].items()
                   if resource["Type"] == "AWS::Serverless::Function")


def resolved_property(logical_id: str, name: str, **parameters: Any) -> Any:
    """The property as CloudFormation sees it with these parameters over the defaults (None when it resolves to
    AWS::NoValue)."""
    context = template_context(LocalResources(table_name=LOCAL_TABLE_NAME, parameters=parameters), TEMPLATE)
    properties = {name: TEMPLATE["Resources"][logical_id]["Properties"][name]}
    return resolve(properties, context, f"Resources.{logical_id}.Properties").get(name)


def test_reserving_concurrency_is_opt_in() -> None:
    assert TEMPLATE["Parameters"]["ReservedConcurrency"]["Default"] == 0
    reserving = [logical_id for logical_id in FUNCTIONS
                 if "ReservedConcurrentExecutions" in TEMPLATE["Resources"][logical_id]["Properties"]]
    assert reserving, "no function can reserve concurrency any more: update this test and docs/deploying.md"
    assert {logical_id: resolved_property(logical_id, "ReservedConcurrentExecutions")
            for logical_id in reserving} == dict.fromkeys(reserving)
    assert {resolved_property(logical_id, "ReservedConcurrentExecutions", ReservedConcurrency="10")
            for logical_id in reserving} == {"10"}


def test_the_table_outlives_the_stack_except_a_failed_first_create() -> None:
    table = TEMPLATE["Resources"][TABLE_LOGICAL_ID]
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("RetainExceptOnCreate", "Retain")
    assert resolved_property(TABLE_LOGICAL_ID, "DeletionProtectionEnabled") is True


def test_cloudformation_names_the_table_unless_a_name_is_given() -> None:
    assert TEMPLATE["Parameters"]["TableName"]["Default"] == ""
    assert resolved_property(TABLE_LOGICAL_ID, "TableName") is None
    assert resolved_property(TABLE_LOGICAL_ID, "TableName", TableName="cruddur-messages") == "cruddur-messages"


def _mentions(value: Any, path: str = "") -> Iterator[str]:
    """Paths of every Ref to, or ${...} substitution of, the TableName parameter."""
    if isinstance(value, dict):
        if value.get("Ref") == "TableName":
            yield path
        for key, item in value.items():
            yield from _mentions(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _mentions(item, f"{path}[{index}]")
    elif isinstance(value, str) and "${TableName}" in value:
        yield path


def test_everything_else_names_the_table_through_the_table_itself() -> None:
    """Roles, variables and outputs use the table's Ref or attributes: the parameter is empty by default."""
    assert list(_mentions({key: TEMPLATE[key] for key in ("Globals", "Resources", "Outputs")})) == [
        f".Resources.{TABLE_LOGICAL_ID}.Properties.TableName.Fn::If[1]"]


@pytest.mark.parametrize("name", ["", "cruddur-messages", "a.b_c-1"])
def test_the_table_name_parameter_accepts_empty_or_a_dynamodb_name(name: str) -> None:
    assert re.fullmatch(TEMPLATE["Parameters"]["TableName"]["AllowedPattern"], name)


@pytest.mark.parametrize("name", ["ab", "no spaces", "x" * 256])
def test_the_table_name_parameter_refuses_what_dynamodb_refuses(name: str) -> None:
    assert not re.fullmatch(TEMPLATE["Parameters"]["TableName"]["AllowedPattern"], name)
