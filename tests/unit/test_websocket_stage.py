"""The WebSocket API as CloudFormation deploys it: every change reaches the stage (``AutoDeploy``), the stage is
throttled from parameters, and only the functions that read PostgreSQL - the authorizer among them, the
connection function not - run in the VPC and the reserved pool."""
from __future__ import annotations

from typing import Any

import pytest

from devtools.template import load_template
from tests.support.iam import function_ids, transformed

TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]
STAGE = RESOURCES["LiveStage"]
API = "LiveWebSocketApi"
IN_THE_VPC = {"Fn::If": ["UseVpc", {"SubnetIds": {"Ref": "VpcSubnetIds"},
                                    "SecurityGroupIds": {"Ref": "VpcSecurityGroupIds"}}, {"Ref": "AWS::NoValue"}]}
RESERVED = {"Fn::If": ["HasReservedConcurrency", {"Ref": "ReservedConcurrency"}, {"Ref": "AWS::NoValue"}]}


def of_the_api(resource_type: str) -> list[str]:
    return [logical_id for logical_id, resource in RESOURCES.items()
            if resource["Type"] == resource_type and resource["Properties"].get("ApiId") == {"Ref": API}]


def test_every_change_to_the_api_is_deployed_to_the_stage() -> None:
    """A deployment resource whose properties never change is created once: routes, route responses and the
    authorizer changed later would never reach the stage. The stage deploys them itself, and its first deployment
    waits for every route and route response."""
    assert of_the_api("AWS::ApiGatewayV2::Stage") == ["LiveStage"]
    assert STAGE["Properties"]["AutoDeploy"] is True
    assert "DeploymentId" not in STAGE["Properties"]
    assert of_the_api("AWS::ApiGatewayV2::Deployment") == []
    routes = of_the_api("AWS::ApiGatewayV2::Route") + of_the_api("AWS::ApiGatewayV2::RouteResponse")
    assert len(routes) >= 4 and set(STAGE["DependsOn"]) == set(routes)


def test_the_stage_is_throttled_from_parameters() -> None:
    settings = STAGE["Properties"]["DefaultRouteSettings"]
    assert settings == {"ThrottlingBurstLimit": {"Ref": "LiveThrottlingBurstLimit"},
                        "ThrottlingRateLimit": {"Ref": "LiveThrottlingRateLimit"}}
    for name in settings.values():
        parameter = TEMPLATE["Parameters"][name["Ref"]]
        assert parameter["Type"] == "Number" and parameter["MinValue"] >= 1 and parameter["Default"] >= 1


def reads_the_database(role: dict[str, Any]) -> bool:
    return any(statement.get("Sid") == "ReadTheDatabaseUrlParameter"
               for policy in role["Properties"]["Policies"] for statement in policy["PolicyDocument"]["Statement"])


@pytest.mark.parametrize("parameters", [{}, {"VpcSubnetIds": "subnet-1", "VpcSecurityGroupIds": "sg-1",
                                             "ReservedConcurrency": 10}], ids=["defaults", "UseVpc-reserved"])
def test_exactly_the_functions_that_read_postgresql_are_in_the_vpc_and_the_reserved_pool(parameters) -> None:
    cloudformation = transformed(parameters=parameters)
    placed = {}
    for logical_id in function_ids(cloudformation):
        function = cloudformation["Resources"][logical_id]["Properties"]
        role = RESOURCES[function["Role"]["Fn::GetAtt"][0]]
        in_vpc = function.get("VpcConfig") == IN_THE_VPC
        reserved = function.get("ReservedConcurrentExecutions") == RESERVED
        assert in_vpc == reserved == reads_the_database(role), logical_id
        assert in_vpc or function.get("VpcConfig", {"Ref": "AWS::NoValue"}) == {"Ref": "AWS::NoValue"}, logical_id
        placed[logical_id] = in_vpc
    assert placed["LiveAuthorizerFunction"] and not placed["LiveConnectionFunction"]
    assert sum(placed.values()) == 9  # ReservedConcurrency's description: "at most 9 x this many connections"
