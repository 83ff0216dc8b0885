"""Where ``make smoke`` runs: a deployed stack found from its CloudFormation outputs and parameters (moto's
CloudFormation in-process), its users from the environment, and the local stack's file."""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any, Iterator

import boto3
import pytest
from moto import mock_aws

from devtools.local_stack.stack_file import StackInfo, StackUser, write_stack_file
from devtools.smoke.runner import main
from devtools.smoke.target import (
    API_URL_OUTPUT,
    CREATE_USERS_VARIABLE,
    DATABASE_URL_PARAMETER,
    LOCAL_HANDLES,
    ROLE_SUFFIXES,
    USER_POOL_CLIENT_PARAMETER,
    USER_POOL_PARAMETER,
    WEBSOCKET_URL_OUTPUT,
    TargetError,
    deployed_target,
    describe_stack,
    local_target,
)
from devtools.template import REPO_ROOT, load_template

REGION = "eu-west-1"
USERS = {"SMOKE_USER_A": "a@example.com", "SMOKE_PASSWORD_A": "pw-a", "SMOKE_USER_B": "b@example.com",
         "SMOKE_PASSWORD_B": "pw-b", "SMOKE_HANDLE_B": "bee", "SMOKE_USER_C": "c@example.com",
         "SMOKE_PASSWORD_C": "pw-c"}


def stack_template(outputs: dict[str, str], *more_parameters: str) -> str:
    """A stack with the template's Cognito parameters (and more) and the given outputs (moto builds the
    resource)."""
    return json.dumps({
        "Parameters": {name: {"Type": "String"} for name in (USER_POOL_PARAMETER, USER_POOL_CLIENT_PARAMETER,
                                                              *more_parameters)},
        "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {name: {"Value": value} for name, value in outputs.items()},
    })


@pytest.fixture
def session() -> Iterator[boto3.Session]:
    with mock_aws():
        yield boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")


def create_stack(session: boto3.Session, name: str, outputs: dict[str, str], **parameters: str) -> None:
    values = {USER_POOL_PARAMETER: f"{REGION}_pool", USER_POOL_CLIENT_PARAMETER: "app-client-id", **parameters}
    session.client("cloudformation", region_name=REGION).create_stack(
        StackName=name, TemplateBody=stack_template(outputs, *parameters),
        Parameters=[{"ParameterKey": key, "ParameterValue": value} for key, value in values.items()])


def test_the_names_read_are_the_templates_outputs_and_parameters() -> None:
    template = load_template()
    assert {API_URL_OUTPUT, WEBSOCKET_URL_OUTPUT} <= set(template["Outputs"])
    assert {USER_POOL_PARAMETER, USER_POOL_CLIENT_PARAMETER, DATABASE_URL_PARAMETER} <= set(template["Parameters"])


def test_a_deployed_stack_is_found_from_its_outputs_and_parameters(session: boto3.Session) -> None:
    create_stack(session, "cruddur-messaging", {API_URL_OUTPUT: "https://abc.execute-api.eu-west-1.amazonaws.com/",
                                                WEBSOCKET_URL_OUTPUT: "wss://def.execute-api.eu-west-1.amazonaws.com/live"})
    target = deployed_target("cruddur-messaging", REGION, USERS, session)
    assert target.api_url == "https://abc.execute-api.eu-west-1.amazonaws.com"  # no trailing slash to join paths to
    assert target.websocket_url == "wss://def.execute-api.eu-west-1.amazonaws.com/live"
    assert (target.region, target.user_pool_client_id, target.cognito_endpoint_url) == (REGION, "app-client-id", None)
    assert {role: (user.username, user.password, user.handle) for role, user in target.users.items()} == {
        "sender": ("a@example.com", "pw-a", None), "recipient": ("b@example.com", "pw-b", "bee"),
        "stranger": ("c@example.com", "pw-c", None)}
    assert "cruddur-messaging" in target.description and REGION in target.description


def test_the_region_comes_from_the_environment_when_not_given(session: boto3.Session) -> None:
    create_stack(session, "s", {API_URL_OUTPUT: "https://a", WEBSOCKET_URL_OUTPUT: "wss://b/live"})
    assert deployed_target("s", None, {**USERS, "AWS_REGION": REGION}, session).region == REGION
    with pytest.raises(TargetError, match="no CloudFormation stack s in us-east-1"):
        deployed_target("s", None, USERS, session)  # the session's region: not where the stack is


def test_a_missing_stack_or_output_is_named(session: boto3.Session) -> None:
    with pytest.raises(TargetError, match="no CloudFormation stack absent in eu-west-1"):
        deployed_target("absent", REGION, USERS, session)
    create_stack(session, "other", {API_URL_OUTPUT: "https://a"})
    with pytest.raises(TargetError, match=f"stack other has no output {WEBSOCKET_URL_OUTPUT}"):
        deployed_target("other", REGION, USERS, session)


def test_missing_user_variables_are_named_before_anything_is_called() -> None:
    partial = {name: value for name, value in USERS.items() if not name.endswith("_B")}
    with pytest.raises(TargetError, match="set SMOKE_USER_B, SMOKE_PASSWORD_B: three Cruddur users"):
        deployed_target("anything", REGION, partial, boto3.Session())


class FakeCloudFormation:
    def __init__(self, status: str) -> None:
        self.status = status

    def describe_stacks(self, StackName: str) -> dict[str, Any]:  # boto3's parameter name
        return {"Stacks": [{"StackName": StackName, "StackStatus": self.status}]}


@pytest.mark.parametrize("status", ["CREATE_IN_PROGRESS", "ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_FAILED"])
def test_a_stack_not_in_a_complete_state_is_refused(status: str) -> None:
    with pytest.raises(TargetError, match=f"stack s is {status}"):
        describe_stack(FakeCloudFormation(status), "s", REGION)


def test_a_stack_after_a_rolled_back_update_is_used() -> None:
    assert describe_stack(FakeCloudFormation("UPDATE_ROLLBACK_COMPLETE"), "s", REGION)["StackName"] == "s"


def local_info(websocket_url: str = "ws://127.0.0.1:3001") -> StackInfo:
    users = [StackUser(handle, handle.title(), f"{handle}@example.com", f"pw-{handle}", f"uuid-{handle}",
                       f"sub-{handle}") for handle in ("andrewbrown", "bayko", "londo")]
    return StackInfo(api_url="http://127.0.0.1:3000/", websocket_url=websocket_url,
                     aws_endpoint_url="http://127.0.0.1:8000", region="us-east-1", table_name="t",
                     user_pool_id="us-east-1_x", user_pool_client_id="client", database_url="postgresql://x",
                     seed_message_group_uuid="g", users=users)


def test_the_local_stack_is_read_from_its_stack_file_in_cruddur_local_dir(tmp_path: Path) -> None:
    write_stack_file(tmp_path / "stack.json", local_info())
    target = local_target({"CRUDDUR_LOCAL_DIR": str(tmp_path)})
    assert (target.api_url, target.websocket_url, target.cognito_endpoint_url, target.user_pool_client_id) == (
        "http://127.0.0.1:3000", "ws://127.0.0.1:3001", "http://127.0.0.1:8000", "client")
    assert {role: (user.username, user.password, user.handle) for role, user in target.users.items()} == {
        role: (f"{handle}@example.com", f"pw-{handle}", handle) for role, handle in LOCAL_HANDLES.items()}


def test_a_stack_file_without_websocket_url_is_refused(tmp_path: Path) -> None:
    write_stack_file(tmp_path / "stack.json", local_info(websocket_url=""))
    with pytest.raises(TargetError, match="has no websocket_url"):
        local_target({"CRUDDUR_LOCAL_DIR": str(tmp_path)})


def test_without_a_running_stack_smoke_exits_2_and_checks_nothing(tmp_path: Path, capsys) -> None:
    assert main([], {"CRUDDUR_LOCAL_DIR": str(tmp_path)}) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "start the local stack first (make dev)" in captured.err


def test_make_smoke_passes_stack_and_region_to_the_command() -> None:
    def planned(*arguments: str) -> str:
        # Without the caller's STACK/REGION or make's own variables (under `make test`): only the arguments count.
        environment = {name: value for name, value in os.environ.items()
                       if name not in ("STACK", "REGION", "MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
        return subprocess.run(["make", "-n", "smoke", *arguments], cwd=REPO_ROOT, env=environment,
                              capture_output=True, text=True, check=True).stdout

    assert re.search(r'-m devtools\.smoke --stack "s-1" --region "eu-west-1"$', planned("STACK=s-1",
                                                                                     "REGION=eu-west-1"), re.M)
    assert re.search(r"-m devtools\.smoke\s*$", planned(), re.M)


def test_the_deploying_page_documents_every_variable_smoke_reads() -> None:
    readme = (REPO_ROOT / "docs" / "deploying.md").read_text()
    source = (REPO_ROOT / "devtools" / "smoke" / "target.py").read_text()
    prefixes = set(re.findall(r'f"(SMOKE_[A-Z]+_)\{suffix\}"', source))
    assert prefixes == {"SMOKE_USER_", "SMOKE_PASSWORD_", "SMOKE_HANDLE_"}
    for prefix in prefixes:
        for suffix in ROLE_SUFFIXES.values():
            assert f"`{prefix}{suffix}`" in readme


OUTPUTS = {API_URL_OUTPUT: "https://a", WEBSOCKET_URL_OUTPUT: "wss://b/live"}


def test_to_make_users_the_database_url_is_the_stacks_ssm_parameter(session: boto3.Session) -> None:
    create_stack(session, "s", OUTPUTS, **{DATABASE_URL_PARAMETER: "/smoke/db"})
    session.client("ssm", region_name=REGION).put_parameter(Name="/smoke/db", Type="SecureString",
                                                           Value="postgresql://u:p@db.example:5432/cruddur")
    target = deployed_target("s", REGION, {CREATE_USERS_VARIABLE: "1"}, session)  # no SMOKE_USER_* needed
    assert target.users == {}
    assert target.user_store is not None
    assert (target.user_store.user_pool_id, target.user_store.database_url) == (
        f"{REGION}_pool", "postgresql://u:p@db.example:5432/cruddur")
    given = deployed_target("s", REGION, {CREATE_USERS_VARIABLE: "1", "DATABASE_URL": "postgresql://x/y"}, session)
    assert given.user_store is not None and given.user_store.database_url == "postgresql://x/y"
    assert deployed_target("s", REGION, USERS, session).user_store is None  # only on request


def test_to_make_users_without_the_ssm_parameter_the_error_says_what_to_set(session: boto3.Session) -> None:
    create_stack(session, "s", OUTPUTS)  # deployed with the template's default parameter name
    default = load_template()["Parameters"][DATABASE_URL_PARAMETER]["Default"]
    with pytest.raises(TargetError, match=f"set DATABASE_URL, or allow ssm:GetParameter on {default}"):
        deployed_target("s", REGION, {CREATE_USERS_VARIABLE: "1"}, session)
