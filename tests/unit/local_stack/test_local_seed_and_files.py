"""The seeded conversation (the shared seed `make dev` and `bin/ddb/seed` use), the seed users' fixed Cognito ids,
stack.json and the settings' variables."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import boto3
import pytest
from moto import mock_aws

from devtools.environment import LocalResources, function_environment, kept_secret, template_context
from devtools.local_stack.database import seed_cognito_user_ids
from devtools.local_stack.invoke import user_id_replacements, with_stack_user_ids
from devtools.local_stack.settings import StackSettings
from devtools.local_stack.stack_file import StackInfo, StackUser, read_stack_file, write_stack_file
from devtools.ops.ddb_seed import load_conversation, seed_conversation
from devtools.ops.errors import OpsError
from devtools.template import load_template, table_definition
from cruddur_messaging.models import User

NOW = datetime(2026, 11, 21, 4, 0, 0, tzinfo=timezone.utc)
USERS = {
    "andrewbrown": User("8d1b9c3e-2f4a-4b6c-9d7e-0a1b2c3d4e01", "andrewbrown", "Andrew Brown"),
    "bayko": User("8d1b9c3e-2f4a-4b6c-9d7e-0a1b2c3d4e02", "bayko", "Andrew Bayko"),
}
GROUP = "5ae290ed-55d1-47a0-bc6d-fe2bc2700399"


@pytest.fixture
def table() -> Iterator[Any]:
    with mock_aws():
        definition = table_definition(load_template(), template_context(LocalResources(table_name="seeded")))
        boto3.client("dynamodb", region_name="us-east-1").create_table(**definition)
        yield boto3.resource("dynamodb", region_name="us-east-1").Table("seeded")


def test_the_conversation_is_the_tutorials_babylon5_dialogue() -> None:
    conversation = load_conversation()
    assert conversation.message_group_uuid == GROUP
    assert len(conversation.lines) == 104
    assert conversation.lines[0] == (
        "andrewbrown", "Have you ever watched Babylon 5? It's one of my favorite TV shows!")
    senders = [sender for sender, _ in conversation.lines]
    assert senders == ["andrewbrown", "bayko"] * 52


def test_the_seed_writes_messages_a_minute_apart_in_the_past_and_the_groups_items(table: Any) -> None:
    report = seed_conversation(table, USERS, now=NOW)
    assert report.written["messages"] == 104 and not report.existing
    items = table.scan(ConsistentRead=True)["Items"]
    messages = sorted((item for item in items if item["pk"] == f"MSG#{GROUP}"), key=lambda item: item["sk"])
    assert len(messages) == 104 and len(items) == 108
    times = [datetime.strptime(item["sk"], "%Y-%m-%dT%H:%M:%S.%f%z") for item in messages]
    assert all(item["sk"].endswith("+00:00") for item in messages)
    assert {later - earlier for earlier, later in zip(times, times[1:])} == {timedelta(minutes=1)}
    assert times[-1] <= NOW - timedelta(minutes=5)
    assert messages[0]["user_handle"] == "andrewbrown" and messages[1]["user_handle"] == "bayko"
    assert set(messages[1]) == {"pk", "sk", "message_uuid", "message", "user_uuid", "user_display_name",
                                "user_handle"}
    assert len({item["message_uuid"] for item in messages}) == 104

    andrew, bayko = USERS["andrewbrown"], USERS["bayko"]
    rows = {item["pk"]: item for item in items if item["pk"].startswith("GRP#")}
    assert rows[f"GRP#{andrew.uuid}"]["user_handle"] == "bayko"
    assert rows[f"GRP#{bayko.uuid}"]["user_display_name"] == "Andrew Brown"
    for row in rows.values():
        assert (row["sk"], row["message"], row["message_group_uuid"]) == (messages[-1]["sk"], messages[-1]["message"],
                                                                          GROUP)
    membership = table.get_item(Key={"pk": f"GROUP#{GROUP}", "sk": "MEMBERS"})["Item"]
    assert membership["member_uuids"] == sorted([andrew.uuid, bayko.uuid])
    assert membership["created_at"] == messages[0]["sk"]
    pair = table.get_item(Key={"pk": f"PAIR#{andrew.uuid}#{bayko.uuid}", "sk": "PAIR"})["Item"]
    assert pair["group_uuid"] == GROUP
    # Only group rows carry message_group_uuid: the index holds exactly them.
    assert [item["pk"] for item in items if "message_group_uuid" in item] == [
        item["pk"] for item in items if item["pk"].startswith("GRP#")]


def test_seeding_again_changes_nothing(table: Any) -> None:
    seed_conversation(table, USERS, now=NOW)
    before = table.scan(ConsistentRead=True)["Items"]
    again = seed_conversation(table, USERS, now=NOW + timedelta(days=1))
    assert not again.written and again.existing["messages"] == 104
    assert table.scan(ConsistentRead=True)["Items"] == before


def test_a_missing_seed_user_is_named(table: Any) -> None:
    with pytest.raises(OpsError, match="bayko"):
        seed_conversation(table, {"andrewbrown": USERS["andrewbrown"]}, now=NOW)


def test_the_fixed_cognito_ids_of_the_sql_seed_are_read_by_handle() -> None:
    assert seed_cognito_user_ids() == {
        "andrewbrown": "5f0e1c2d-8a7b-4c3d-9e8f-0a1b2c3d4e01",
        "bayko": "5f0e1c2d-8a7b-4c3d-9e8f-0a1b2c3d4e02",
        "londo": "5f0e1c2d-8a7b-4c3d-9e8f-0a1b2c3d4e03",
    }


def stack_info() -> StackInfo:
    return StackInfo(
        api_url="http://127.0.0.1:3000", websocket_url="ws://127.0.0.1:3001",
        aws_endpoint_url="http://127.0.0.1:8000", region="us-east-1",
        table_name="cruddur-messages", user_pool_id="us-east-1_x", user_pool_client_id="c",
        database_url="postgresql://postgres:@/cruddur?host=/tmp", seed_message_group_uuid=GROUP,
        users=[StackUser(handle="andrewbrown", display_name="Andrew Brown", username="andrew@exampro.co",
                         password="p", uuid="u1", cognito_user_id="new-andrew")])


def test_events_with_the_seed_ids_get_the_running_stacks_ids() -> None:
    event = {"requestContext": {"authorizer": {"jwt": {"claims": {
        "sub": "5f0e1c2d-8a7b-4c3d-9e8f-0a1b2c3d4e01", "username": "5f0e1c2d-8a7b-4c3d-9e8f-0a1b2c3d4e01",
        "other": "5f0e1c2d-8a7b-4c3d-9e8f-0a1b2c3d4e03"}}}}, "list": ["5f0e1c2d-8a7b-4c3d-9e8f-0a1b2c3d4e01", 1]}
    replaced = with_stack_user_ids(event, user_id_replacements(stack_info()))
    claims = replaced["requestContext"]["authorizer"]["jwt"]["claims"]
    assert claims == {"sub": "new-andrew", "username": "new-andrew",
                      "other": "5f0e1c2d-8a7b-4c3d-9e8f-0a1b2c3d4e03"}  # londo is not in this stack
    assert replaced["list"] == ["new-andrew", 1]


def test_stack_json_has_exactly_the_contracts_keys(tmp_path: Path) -> None:
    path = tmp_path / "stack.json"
    write_stack_file(path, stack_info())
    data = json.loads(path.read_text())
    assert list(data) == ["api_url", "websocket_url", "aws_endpoint_url", "region", "table_name", "user_pool_id",
                          "user_pool_client_id", "database_url", "seed_message_group_uuid", "users"]
    assert list(data["users"][0]) == ["handle", "display_name", "username", "password", "uuid", "cognito_user_id"]
    assert read_stack_file(path) == stack_info()
    with pytest.raises(SystemExit, match="make dev"):
        read_stack_file(tmp_path / "missing.json")


def test_ports_directories_and_origins_move_with_environment_variables(tmp_path: Path) -> None:
    default = StackSettings.from_environment({})
    assert (default.aws_endpoint_url, default.api_url) == ("http://127.0.0.1:8000", "http://127.0.0.1:3000")
    assert (default.websocket_url, default.websocket_management_url) == ("ws://127.0.0.1:3001",
                                                                          "http://127.0.0.1:3002")
    assert default.template_parameters() == {}
    moved = StackSettings.from_environment({
        "CRUDDUR_AWS_PORT": "18000", "CRUDDUR_API_PORT": "4567", "CRUDDUR_LOCAL_DIR": str(tmp_path),
        "CRUDDUR_WS_PORT": "4568", "CRUDDUR_WS_MANAGEMENT_PORT": "4569",
        "CRUDDUR_CORS_ORIGINS": "http://localhost:3001, https://app.example", "CRUDDUR_TABLE_NAME": "t2"})
    assert (moved.aws_endpoint_url, moved.api_url) == ("http://127.0.0.1:18000", "http://127.0.0.1:4567")
    assert (moved.websocket_url, moved.websocket_management_url) == ("ws://127.0.0.1:4568", "http://127.0.0.1:4569")
    assert moved.stack_file == tmp_path / "stack.json" and moved.postgres_dir == tmp_path / "postgres"
    assert moved.table_name == "t2"
    assert moved.template_parameters() == {"CorsAllowedOrigins": ["http://localhost:3001", "https://app.example"]}
    with pytest.raises(SystemExit, match="CRUDDUR_API_PORT"):
        StackSettings.from_environment({"CRUDDUR_API_PORT": "http"})


def test_the_tutorial_data_setting_moves_with_an_environment_variable_and_reaches_the_functions() -> None:
    migrated = StackSettings.from_environment({"CRUDDUR_TUTORIAL_DATA": "migrated"})
    assert migrated.template_parameters() == {"TutorialData": "migrated"}
    resources = LocalResources(table_name="t", parameters=migrated.template_parameters())
    assert function_environment(resources, function_logical_id="CreateMessageFunction")["TUTORIAL_DATA"] == "migrated"
    default = LocalResources(table_name="t", parameters=StackSettings.from_environment({}).template_parameters())
    assert function_environment(default, function_logical_id="CreateMessageFunction")["TUTORIAL_DATA"] == "read"
    with pytest.raises(SystemExit, match="CRUDDUR_TUTORIAL_DATA='migrate' is not one of read, migrated"):
        StackSettings.from_environment({"CRUDDUR_TUTORIAL_DATA": "migrate"})


def test_the_cursor_key_is_made_once_and_kept_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "local" / "cursor-signing-key"
    first = kept_secret(path)
    assert kept_secret(path) == first and len(first) >= 48
    assert path.stat().st_mode & 0o777 == 0o600
    path.write_text("\n")  # left empty: a new key, not an empty one
    assert kept_secret(path) not in ("", first)
