"""The functions' roles as CloudFormation receives them: ``template.yaml`` through samtranslator (the SAM transform
``sam deploy`` asks CloudFormation to run), each role resolved for one deploy's parameters.

A role is resolved for the deploy ``resources.parameters`` describe (``TutorialData=migrated``...): its conditions
evaluated as CloudFormation would, from those parameters and the others' defaults
(``devtools.environment.template_context``). ``tests/support/iam.py`` checks these roles against the requests the
functions send; ``devtools/iam_table.py`` writes them into docs/deploying.md.
"""
from __future__ import annotations

import copy
import json
from functools import lru_cache
from typing import Any, Mapping

import boto3
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

from devtools.environment import LOCAL_ACCOUNT_ID, template_context
from devtools.template import TABLE_LOGICAL_ID, load_template, resolve

STACK_NAME = "cruddur-messaging"


def transformed(template: Mapping[str, Any] | None = None, region: str = "us-east-1",
                parameters: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The template as CloudFormation receives it after the SAM transform (local code paths stand in as S3), for
    a deploy with ``parameters`` (the rest at their defaults). Conditions (``Fn::If`` in the roles) stay for
    CloudFormation to evaluate: the roles' functions below resolve them against the same parameters."""
    if template is None:
        return copy.deepcopy(_transformed_template(region, json.dumps(dict(parameters or {}), sort_keys=True)))
    return _transform(template, region, parameters or {})


@lru_cache(maxsize=4)
def _transformed_template(region: str, parameters: str) -> dict[str, Any]:
    return _transform(load_template(), region, json.loads(parameters))


def _transform(template: Mapping[str, Any], region: str, parameters: Mapping[str, Any]) -> dict[str, Any]:
    source = copy.deepcopy(dict(template))
    for resource in source["Resources"].values():
        properties = resource.get("Properties", {})
        for code in ("CodeUri", "ContentUri"):
            if code in properties:
                properties[code] = "s3://deployment-bucket/code.zip"
    translator = Translator(None, Parser(), boto_session=boto3.Session(region_name=region))
    cloudformation = translator.translate(source, parameter_values=dict(parameters), get_managed_policy_map=dict)
    translator.metrics.publish()  # to no one (a dummy publisher); unpublished, they are logged as a warning at exit
    return cloudformation


def function_ids(cloudformation: Mapping[str, Any]) -> list[str]:
    return [logical_id for logical_id, resource in cloudformation["Resources"].items()
            if resource["Type"] == "AWS::Lambda::Function"]


def execution_role_id(cloudformation: Mapping[str, Any], logical_id: str) -> str:
    role = cloudformation["Resources"][logical_id]["Properties"]["Role"]
    if not (isinstance(role, dict) and "Fn::GetAtt" in role):
        raise AssertionError(f"{logical_id}: its role is not a role of this stack: {role!r}")
    role_id, attribute = role["Fn::GetAtt"] if isinstance(role["Fn::GetAtt"], list) else role["Fn::GetAtt"].split(".")
    assert attribute == "Arn"
    return role_id


def role_context(resources: Any, cloudformation: Mapping[str, Any], use_vpc: bool = False) -> dict[str, Any]:
    """``template_context`` plus what only roles refer to: log group ARNs, the stream, the stack's name."""
    context = template_context(resources)
    table_arn = context[f"{TABLE_LOGICAL_ID}.Arn"]
    context.setdefault(f"{TABLE_LOGICAL_ID}.StreamArn", f"{table_arn}/stream/2026-01-01T00:00:00.000")
    context["AWS::StackName"] = STACK_NAME
    context["Condition:UseVpc"] = use_vpc
    for logical_id, resource in cloudformation["Resources"].items():
        if resource["Type"] == "AWS::Logs::LogGroup":
            name = resolve(resource["Properties"]["LogGroupName"], context)
            context[f"{logical_id}.Arn"] = (
                f"arn:aws:logs:{resources.region}:{LOCAL_ACCOUNT_ID}:log-group:{name}:*")
    return context


def policy_statements(resources: Any, logical_id: str, use_vpc: bool = False,
                      cloudformation: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """The statements of the function's role's own (inline) policies, resolved."""
    cloudformation = cloudformation or transformed(parameters=resources.parameters)
    role = cloudformation["Resources"][execution_role_id(cloudformation, logical_id)]["Properties"]
    policies = resolve(role.get("Policies", []), role_context(resources, cloudformation, use_vpc))
    return [statement for policy in policies for statement in as_list(policy["PolicyDocument"]["Statement"])]


def as_list(value: Any) -> list[Any]:
    """A policy field (``Action``, ``Resource``, a statement list) as IAM reads it: one value or a list of them."""
    return value if isinstance(value, list) else [value]
