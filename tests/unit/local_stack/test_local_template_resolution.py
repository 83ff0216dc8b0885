"""template.yaml resolved locally: intrinsic functions resolved or refused loudly, resources' stand-ins by type."""
from __future__ import annotations

import copy
from typing import Any

import pytest

from devtools.environment import LOCAL_ACCOUNT_ID, LocalResources, template_context
from devtools.template import TemplateResolutionError, function_specs, load_template, resolve

RESOURCES = LocalResources(table_name="t")


@pytest.mark.parametrize("function, argument", [
    ("Fn::Select", [0, ["a", "b"]]),
    ("Fn::ImportValue", "shared-export"),
    ("Fn::FindInMap", ["Map", "Key", "Value"]),
    ("Fn::Base64", "text"),
])
def test_an_intrinsic_function_the_resolver_does_not_implement_fails_naming_it_and_where(
        function: str, argument: Any) -> None:
    value = {"Environment": {"Variables": {"QUEUE": {function: argument}}}}
    with pytest.raises(TemplateResolutionError) as raised:
        resolve(value, template_context(RESOURCES), "Resources.F.Properties")
    assert function in str(raised.value)
    assert "Resources.F.Properties.Environment.Variables.QUEUE" in str(raised.value)


def test_an_intrinsic_function_beside_other_keys_is_refused_rather_than_passed_through() -> None:
    with pytest.raises(TemplateResolutionError, match="Fn::Sub"):
        resolve({"Fn::Sub": "${AWS::Region}", "Extra": 1}, template_context(RESOURCES))


def test_a_ref_nothing_stands_in_for_names_itself_and_where() -> None:
    with pytest.raises(TemplateResolutionError) as raised:
        resolve({"Key": {"Fn::Sub": "${AWS::StackName}-x"}}, template_context(RESOURCES), "Outputs.O")
    assert "AWS::StackName" in str(raised.value) and "Outputs.O.Key" in str(raised.value)


def with_resources(**resources: dict[str, Any]) -> dict[str, Any]:
    template = copy.deepcopy(load_template())
    template["Resources"].update(resources)
    return template


def test_a_new_resource_of_a_known_type_needs_no_hand_edit() -> None:
    template = with_resources(
        AuditQueue={"Type": "AWS::SQS::Queue", "Properties": {}},
        ArchiveTable={"Type": "AWS::DynamoDB::Table",
                      "Properties": {"TableName": {"Fn::Sub": "${MessagesTable}-archive"}}},
        AuditKey={"Type": "AWS::SecretsManager::Secret", "Properties": {"Name": "audit-key"}},
    )
    context = template_context(RESOURCES, template)
    region = RESOURCES.region
    assert resolve({"Ref": "AuditQueue"}, context) == "local-audit-queue"
    assert resolve({"Fn::GetAtt": "AuditQueue.Arn"}, context) == (
        f"arn:aws:sqs:{region}:{LOCAL_ACCOUNT_ID}:local-audit-queue")
    assert resolve({"Fn::GetAtt": ["AuditQueue", "QueueName"]}, context) == "local-audit-queue"
    assert resolve({"Ref": "ArchiveTable"}, context) == "t-archive"
    assert resolve({"Fn::Sub": "${ArchiveTable.Arn}/index/*"}, context) == (
        f"arn:aws:dynamodb:{region}:{LOCAL_ACCOUNT_ID}:table/t-archive/index/*")
    assert resolve({"Ref": "AuditKey"}, context) == "audit-key"


def test_a_resource_of_a_type_without_a_stand_in_fails_when_referenced() -> None:
    template = with_resources(Topic={"Type": "AWS::SNS::Topic", "Properties": {}})
    context = template_context(RESOURCES, template)
    with pytest.raises(TemplateResolutionError) as raised:
        resolve({"TopicArn": {"Ref": "Topic"}}, context, "Resources.F.Properties.Environment.Variables")
    assert "AWS::SNS::Topic" in str(raised.value) and "Variables.TopicArn" in str(raised.value)
    with pytest.raises(TemplateResolutionError, match="no attribute Nope"):
        resolve({"Fn::GetAtt": "MessagesTable.Nope"}, context)


def test_a_function_referring_to_an_unresolvable_value_fails_with_the_function_named() -> None:
    template = copy.deepcopy(load_template())
    template["Resources"]["ListGroupsFunction"]["Properties"].setdefault("Environment", {}).setdefault(
        "Variables", {})["ARCHIVE"] = {"Fn::Select": [0, ["a"]]}
    with pytest.raises(TemplateResolutionError, match=r"Resources\.ListGroupsFunction\..*ARCHIVE.*Fn::Select"):
        function_specs(template, template_context(RESOURCES, template, stream_arn="-"))


@pytest.mark.parametrize("parameters, expected", [
    ({}, {"UseVpc": False, "ReadsTutorialData": True, "HasReservedConcurrency": False, "HasAlarmTopic": False,
          "HasTableName": False, "HasDetailedAlarms": False, "WatchesThrottles": False}),
    ({"TutorialData": "migrated", "ReservedConcurrency": "10", "VpcSubnetIds": ["subnet-1"],
      "AlarmTopicArn": "arn:aws:sns:us-east-1:123456789012:alarms", "TableName": "cruddur-messages"},
     {"UseVpc": True, "ReadsTutorialData": False, "HasReservedConcurrency": True, "HasAlarmTopic": True,
      "HasTableName": True, "HasDetailedAlarms": False, "WatchesThrottles": True}),
    ({"DetailedAlarms": "true"},
     {"UseVpc": False, "ReadsTutorialData": True, "HasReservedConcurrency": False, "HasAlarmTopic": False,
      "HasTableName": False, "HasDetailedAlarms": True, "WatchesThrottles": True}),
])
def test_conditions_are_evaluated_from_the_parameters_as_cloudformation_does(parameters, expected) -> None:
    """Over the defaults; ``Fn::Equals`` compares as strings (the Number parameter "0" equals the template's 0)."""
    context = template_context(LocalResources(table_name="t", parameters=parameters))
    assert {name: context[f"Condition:{name}"] for name in load_template()["Conditions"]} == expected


def test_fn_if_on_a_condition_keeps_or_drops_a_statement() -> None:
    statements = [{"Sid": "Always"}, {"Fn::If": ["ReadsTutorialData", {"Sid": "Fallback"}, {"Ref": "AWS::NoValue"}]}]
    read = template_context(RESOURCES)
    migrated = template_context(LocalResources(table_name="t", parameters={"TutorialData": "migrated"}))
    assert resolve(statements, read) == [{"Sid": "Always"}, {"Sid": "Fallback"}]
    assert resolve(statements, migrated) == [{"Sid": "Always"}]


def test_a_condition_the_template_does_not_declare_fails_naming_it() -> None:
    with pytest.raises(TemplateResolutionError, match="no condition Nope"):
        resolve({"Fn::If": ["Nope", 1, 2]}, template_context(RESOURCES), "Resources.F.Properties.X")
