"""template.yaml is what template.src.yaml generates: each function declared once, its role, log group and alarms
written from that declaration (devtools/template_source.py)."""
from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from samcli.yamlhelper import yaml_parse

from devtools.template import REPO_ROOT, load_template
from devtools.template_source import TemplateSourceError, render

RESOURCES = load_template()["Resources"]
FUNCTIONS = [logical_id for logical_id, resource in RESOURCES.items()
             if resource["Type"] == "AWS::Serverless::Function"]
PARAMETERS = load_template()["Parameters"]

SOURCE = """\
Resources:
  Table:
    Type: AWS::DynamoDB::Table

  # The one function.
  ReadFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/read/
      Handler: app.lambda_handler
{vpc}      Events:
        Read:
          Type: HttpApi
          Properties:
            Path: /read
{role}{alarms}
Outputs:
  Name:
    Value: !Ref Table
"""

ROLE = """\
    Role:
      Description: ReadFunction - reads items.
      Statement:
        # Only items.
        - Sid: ReadItems
          Effect: Allow
          Action: dynamodb:GetItem
          Resource: !GetAtt Table.Arn
"""


def generated(vpc: str = "", role: str = ROLE, alarms: str = "") -> dict[str, Any]:
    return yaml_parse(render(SOURCE.format(vpc=vpc, role=role, alarms=alarms)))["Resources"]


def statements(resources: dict[str, Any]) -> list[Any]:
    (policy,) = resources["ReadFunctionRole"]["Properties"]["Policies"]
    assert policy["PolicyName"] == "Read"
    return policy["PolicyDocument"]["Statement"]


def actions(statement: dict[str, Any]) -> list[str]:
    return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]


def test_the_committed_template_is_what_the_source_generates() -> None:
    result = subprocess.run([sys.executable, "-m", "devtools.template_source", "--check"], cwd=REPO_ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_a_declared_function_gets_its_role_log_group_and_alarms() -> None:
    resources = generated()
    assert list(resources) == ["Table", "ReadFunction", "ReadFunctionRole", "ReadFunctionLogGroup",
                               "ReadFunctionErrorsAlarm", "ReadFunctionThrottlesAlarm"]
    function = resources["ReadFunction"]["Properties"]
    assert function["Role"] == {"Fn::GetAtt": ["ReadFunctionRole", "Arn"]}
    assert function["LoggingConfig"] == {"LogGroup": {"Ref": "ReadFunctionLogGroup"}}
    assert function["Events"]["Read"]["Properties"]["Path"] == "/read"
    assert "Alarms" not in resources["ReadFunction"]
    assert resources["ReadFunctionRole"]["Properties"]["Description"] == "ReadFunction - reads items."
    sids = [statement["Sid"] if "Sid" in statement else statement["Fn::If"][1]["Sid"]
            for statement in statements(resources)]
    assert sids == ["ReadItems", "ManageNetworkInterfacesInTheVpc", "WriteItsOwnLogs", "SendTraces"]
    logs = statements(resources)[2]
    assert logs["Resource"] == {"Fn::GetAtt": ["ReadFunctionLogGroup", "Arn"]}
    assert resources["ReadFunctionLogGroup"]["Properties"]["LogGroupName"] == {
        "Fn::Sub": "/aws/lambda/${AWS::StackName}/ReadFunction"}
    for metric, condition in (("Errors", "HasDetailedAlarms"), ("Throttles", "WatchesThrottles")):
        alarm = resources[f"ReadFunction{metric}Alarm"]
        assert alarm["Condition"] == condition
        assert alarm["Properties"]["MetricName"] == metric
        assert alarm["Properties"]["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "ReadFunction"}}]


def test_the_comments_of_the_source_reach_the_template() -> None:
    text = render(SOURCE.format(vpc="", role=ROLE, alarms=""))
    assert "  # The one function.\n  ReadFunction:" in text
    assert "              # Only items.\n              - Sid: ReadItems" in text


def test_a_function_with_its_own_vpc_config_gets_no_network_interface_statement() -> None:
    resources = generated(vpc="      VpcConfig: !Ref AWS::NoValue\n")
    assert [statement.get("Sid") for statement in statements(resources)] == [
        "ReadItems", "WriteItsOwnLogs", "SendTraces"]


def test_declared_alarm_conditions_replace_the_default() -> None:
    resources = generated(alarms="    Alarms: {Errors: Always, Throttles: HasReservedConcurrency}\n")
    assert "Condition" not in resources["ReadFunctionErrorsAlarm"]
    assert resources["ReadFunctionThrottlesAlarm"]["Condition"] == "HasReservedConcurrency"


@pytest.mark.parametrize("role, alarms, message", [
    ("", "", "declares Role"),
    (ROLE.replace("      Description: ReadFunction - reads items.\n", ""), "", "one-line Description"),
    (ROLE + "      Managed: yes\n", "", "only Description and Statement"),
    (ROLE, "    Alarms: {Errors: Always}\n", "Errors, Throttles"),
])
def test_a_declaration_the_generator_cannot_expand_is_refused(role: str, alarms: str, message: str) -> None:
    with pytest.raises(TemplateSourceError, match=message):
        generated(role=role, alarms=alarms)


def test_a_function_may_not_set_what_is_generated() -> None:
    with pytest.raises(TemplateSourceError, match="Role is generated"):
        generated(vpc="      Role: arn:aws:iam::123456789012:role/any\n")


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_every_function_of_the_template_writes_only_its_own_log_group(logical_id: str) -> None:
    properties = RESOURCES[logical_id]["Properties"]
    assert properties["Role"] == {"Fn::GetAtt": [f"{logical_id}Role", "Arn"]}
    assert properties["LoggingConfig"] == {"LogGroup": {"Ref": f"{logical_id}LogGroup"}}
    (policy,) = RESOURCES[f"{logical_id}Role"]["Properties"]["Policies"]
    logs = [statement for statement in policy["PolicyDocument"]["Statement"]
            if "Sid" in statement and any(action.startswith("logs:") for action in actions(statement))]
    assert logs == [{"Sid": "WriteItsOwnLogs", "Effect": "Allow",
                     "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                     "Resource": {"Fn::GetAtt": [f"{logical_id}LogGroup", "Arn"]}}]


def test_the_source_is_at_most_6_lines_a_parameter_and_106_lines_a_function_for_the_rest() -> None:
    """What may grow the source is a deploy parameter (its type, default, bounds and description: counted apart since
    issue 22's four limits) or a function (its block, events and role); the rest stays as it is."""
    source = (REPO_ROOT / "template.src.yaml").read_text()
    parameters = source[source.index("\nParameters:\n"):source.index("\nConditions:\n")]
    assert FUNCTIONS and PARAMETERS
    assert parameters.count("\n") <= 6 * len(PARAMETERS)
    assert source.count("\n") - parameters.count("\n") <= 106 * len(FUNCTIONS)
