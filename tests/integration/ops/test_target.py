"""Where the commands act: the stack file, its absence, and prod from the environment, samconfig.toml and the\ndeployed stack's outputs and parameters (a stack in moto's CloudFormation)."""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from devtools.ops.__main__ import COMMANDS
from devtools.ops.errors import OpsError
from devtools.ops.target import local_target, prod_target, read_samconfig, stack_file
from devtools.template import REPO_ROOT, load_template
from tests.integration.ops.support import (
    GROUP_INDEX,
    SEED_GROUP,
    Stack,
    run_in_process,
    subprocess_environment,
    use_script_environment,
)

ARGUMENTS = {"ddb/drop": ["cruddur-messages"], "ddb/patterns/get-conversation": [SEED_GROUP],
             "ddb/patterns/list-conversations": ["andrewbrown"]}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_says_the_local_stack_is_not_running(name: str, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    result = run_in_process(capsys, name, *ARGUMENTS.get(name, []),
                            environ={"CRUDDUR_STACK_FILE": str(tmp_path / "stack.json")})
    assert Stack.error_line(result, name) == (f"local stack not running (no {tmp_path}/stack.json); "
                                              "start it with make dev")


def test_the_entry_points_say_the_local_stack_is_not_running(stack: Stack) -> None:
    """``bin/...`` themselves, as subprocesses: the shell wrapper, ``python -m devtools.ops`` and its exit status."""
    environment = {**subprocess_environment(), "CRUDDUR_STACK_FILE": str(stack.directory / "gone.json")}
    for name in ("ddb/scan", "db/connect"):
        result = stack.run(name, env=environment)
        assert Stack.error_line(result, name) == (f"local stack not running (no {stack.directory}/gone.json); "
                                                  "start it with make dev")


def test_the_stack_file_is_where_make_dev_writes_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = (REPO_ROOT / ".local" / "stack.json", ".local/stack.json")
    assert stack_file({}) == stack_file({"CRUDDUR_STACK_FILE": ""}) == expected
    monkeypatch.chdir(tmp_path)
    moved = tmp_path / "state" / "stack.json"
    assert stack_file({"CRUDDUR_LOCAL_DIR": "state"}) == (moved, str(moved))
    assert stack_file({"CRUDDUR_LOCAL_DIR": "state", "CRUDDUR_STACK_FILE": "/x.json"}) == (Path("/x.json"), "/x.json")


def test_a_stale_stack_file_is_one_line(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    stack.stack_file.write_text(stack.stack_file.read_text().replace(stack.endpoint, f"http://127.0.0.1:{port}"))
    result = stack.call(capsys, "ddb/list-tables")
    assert Stack.error_line(result, "ddb/list-tables") == (
        f"cannot reach the local stack at http://127.0.0.1:{port} (stale {stack.stack_file}?); start it with make dev")


def test_a_broken_stack_file_is_reported(tmp_path: Path) -> None:
    stack_file = tmp_path / "stack.json"
    stack_file.write_text("{not json")
    with pytest.raises(OpsError, match=f"^cannot read {stack_file}: "):
        local_target({"CRUDDUR_STACK_FILE": str(stack_file)})
    stack_file.write_text('{"region": "us-east-1"}')
    with pytest.raises(OpsError, match=f"^{stack_file} has no aws_endpoint_url, table_name; restart make dev$"):
        local_target({"CRUDDUR_STACK_FILE": str(stack_file)})


@pytest.fixture
def aws_free_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No region nor profile from the developer's machine."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)


def test_prod_finds_the_table_and_the_names_in_the_deployed_stack(stack: Stack, monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """The stack of template.yaml's defaults: CloudFormation named the table, and STACK is all the operator gives."""
    name = f"cruddur-{stack.directory.name}"
    table_name = stack.deploy(name, DatabaseUrlParameterName="/ops/database url")
    assert table_name.startswith(f"{name}-MessagesTable-")
    stack.client("dynamodb").put_item(TableName=table_name, Item={"pk": {"S": "MSG#deployed"}, "sk": {"S": "1"}})

    result = stack.call_in_prod(capsys, monkeypatch, "ddb/scan", STACK=name)
    assert (result.returncode, [json.loads(line)["pk"] for line in result.stdout.splitlines()]) == (
        0, ["MSG#deployed"]), result.stderr
    target = prod_target(os.environ, REPO_ROOT / "no-samconfig.toml")
    assert (target.table_name, target.group_index_name, target.user_pool_id(), target.database_url_parameter) == (
        table_name, GROUP_INDEX, stack.user_pool_id, "/ops/database url")


def test_prod_takes_a_fixed_table_name_from_the_stack_too(stack: Stack, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    name = f"fixed-{stack.directory.name}"
    assert stack.deploy(name, TableName=f"{name}-messages", MessageGroupIndexName="by-group") == f"{name}-messages"
    use_script_environment(monkeypatch, stack.prod_environment(STACK=name))
    target = prod_target(os.environ, REPO_ROOT / "no-samconfig.toml")
    assert (target.table_name, target.group_index_name) == (f"{name}-messages", "by-group")


def test_prod_without_the_stack_says_which_and_how_to_name_it(stack: Stack, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    result = stack.call_in_prod(capsys, monkeypatch, "ddb/scan", STACK="never-deployed")
    assert Stack.error_line(result, "ddb/scan") == (
        "no stack never-deployed in us-east-1; set STACK (or stack_name in samconfig.toml) to the stack sam deploy "
        "created")


def test_prod_on_a_stack_without_the_output_says_to_deploy(stack: Stack, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """As after the import step of adopting a table (docs/deploying.md): the stack holds the table but no output yet."""
    name = f"imported-{stack.directory.name}"
    table = load_template()["Resources"]["MessagesTable"]
    imported = {**table, "Properties": {**table["Properties"], "TableName": f"{name}-messages",
                                        "GlobalSecondaryIndexes": [{**table["Properties"]["GlobalSecondaryIndexes"][0],
                                                                    "IndexName": GROUP_INDEX}]}}
    stack.client("cloudformation").create_stack(StackName=name, TemplateBody=json.dumps(
        {"Resources": {"MessagesTable": imported}}))
    result = stack.call_in_prod(capsys, monkeypatch, "ddb/scan", STACK=name)
    assert Stack.error_line(result, "ddb/scan") == (
        f"stack {name} has no output MessagesTableName (CREATE_COMPLETE); deploy it with sam deploy")


SAMCONFIG = '''version = 0.1
[default.global.parameters]
stack_name = "global-name"
[default.deploy.parameters]
stack_name = "deployed-name"
region = "eu-west-2"
'''


def test_prod_takes_the_stack_and_region_from_the_environment_then_samconfig(
        tmp_path: Path, aws_free_environment: None) -> None:
    samconfig = tmp_path / "samconfig.toml"
    samconfig.write_text(SAMCONFIG)
    target = prod_target({}, samconfig)
    assert (target.name, target.region, target.endpoint_url, target.stack.name) == (
        "prod", "eu-west-2", None, "deployed-name")
    samconfig.write_text(SAMCONFIG.replace('stack_name = "deployed-name"', ""))
    assert prod_target({}, samconfig).stack.name == "global-name"
    target = prod_target({"AWS_DEFAULT_REGION": "ap-south-1"}, tmp_path / "missing.toml")
    assert (target.region, target.stack.name) == ("ap-south-1", "cruddur-messaging")
    assert prod_target({"STACK": "mine", "AWS_REGION": "us-west-1"}, samconfig).stack.name == "mine"


def test_prod_names_from_the_environment_need_no_stack(tmp_path: Path, aws_free_environment: None) -> None:
    """Nothing is asked of CloudFormation (no credentials here, no stack) when the environment names everything."""
    environment = {"AWS_REGION": "us-west-1", "STACK": "absent", "TABLE_NAME": "t", "COGNITO_USER_POOL_ID": "p",
                   "MESSAGE_GROUP_INDEX_NAME": "i", "DATABASE_URL": "postgresql://db/cruddur",
                   "DATABASE_URL_PARAMETER": "/x"}
    target = prod_target(environment, tmp_path / "missing.toml")
    assert (target.region, target.table_name, target.user_pool_id(), target.group_index_name, target.database_url(),
            target.database_url_parameter) == ("us-west-1", "t", "p", "i", "postgresql://db/cruddur", "/x")
    # A table named outside the stack keeps the template's index unless one is named.
    without_index = prod_target({**environment, "MESSAGE_GROUP_INDEX_NAME": ""}, tmp_path / "missing.toml")
    assert without_index.group_index_name == GROUP_INDEX


def test_prod_needs_a_region(tmp_path: Path, aws_free_environment: None) -> None:
    with pytest.raises(OpsError, match="^no AWS region for prod: set AWS_REGION or region in samconfig.toml$"):
        prod_target({}, tmp_path / "missing.toml")


def test_samconfig_deploy_parameters_win_over_global_ones_and_a_broken_file_is_named(tmp_path: Path) -> None:
    samconfig = tmp_path / "samconfig.toml"
    samconfig.write_text('[default.global.parameters]\nstack_name = "a"\nregion = "eu-west-1"\n'
                         '[default.deploy.parameters]\nstack_name = "b"\n')
    assert read_samconfig(samconfig) == {"stack_name": "b", "region": "eu-west-1"}
    samconfig.write_text("[default.deploy.parameters\n")
    with pytest.raises(OpsError, match="^cannot read samconfig.toml: "):
        read_samconfig(samconfig)
