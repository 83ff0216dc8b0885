"""bin/ddb/schema-load, list-tables, drop, seed and scan against the moto server."""
from __future__ import annotations

import io
import json
import os
import pty
from datetime import datetime, timedelta, timezone

import pytest

from cruddur_messaging.clock import TIMESTAMP_FORMAT
from devtools.ops.ddb_seed import load_conversation
from devtools.environment import LocalResources, template_context
from devtools.template import load_template, table_definition, time_to_live_attribute
from tests.integration.ops.support import ANDREW, BAYKO, GROUP_INDEX, SEED_GROUP, Stack


def test_schema_load_creates_the_template_table_once(stack: Stack, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    first = stack.call(capsys, "ddb/schema-load")
    assert first.returncode == 0, first.stderr
    declared = table_definition(load_template(), template_context(LocalResources(table_name=stack.table_name)))
    declared_indexes = {index["IndexName"]: index for index in declared["GlobalSecondaryIndexes"]}
    assert GROUP_INDEX in declared_indexes and len(declared_indexes) == 2
    assert first.stdout.strip() == (f"created table {stack.table_name} (index {', '.join(declared_indexes)}; "
                                    f"stream {declared['StreamSpecification']['StreamViewType']})")
    table = stack.client("dynamodb").describe_table(TableName=stack.table_name)["Table"]
    assert {(key["AttributeName"], key["KeyType"]) for key in table["KeySchema"]} == {
        (key["AttributeName"], key["KeyType"]) for key in declared["KeySchema"]}
    indexes = {index["IndexName"]: index for index in table["GlobalSecondaryIndexes"]}
    assert set(indexes) == set(declared_indexes)
    for name, index in indexes.items():
        assert index["KeySchema"] == declared_indexes[name]["KeySchema"]
        assert index["Projection"]["ProjectionType"] == declared_indexes[name]["Projection"]["ProjectionType"]
    assert table["StreamSpecification"] == declared["StreamSpecification"]
    ttl = stack.client("dynamodb").describe_time_to_live(TableName=stack.table_name)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": time_to_live_attribute(load_template())}

    again = stack.call(capsys, "ddb/schema-load")
    assert (again.returncode, again.stdout.strip()) == (0, f"table {stack.table_name} already exists")

    # A developer's AWS_PROFILE (here one that does not exist) has no say in local runs.
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    listed = stack.call(capsys, "ddb/list-tables")
    assert listed.returncode == 0
    assert stack.table_name in listed.stdout.splitlines()


def test_drop_without_a_table_prints_usage(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as usage:
        stack.call(capsys, "ddb/drop")
    assert usage.value.code == 2
    stderr = capsys.readouterr().err
    assert stderr.startswith("usage: bin/ddb/drop")
    assert "the following arguments are required: table" in stderr


def test_drop_deletes_a_local_table_without_asking(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    stack.create_table()
    result = stack.call(capsys, "ddb/drop", stack.table_name)
    assert (result.returncode, result.stdout.strip()) == (0, f"deleted table {stack.table_name}")
    assert stack.table_name not in stack.table_names()

    missing = stack.call(capsys, "ddb/drop", stack.table_name)
    assert stack.error_line(missing, "ddb/drop") == f"table {stack.table_name} does not exist"


def test_drop_in_prod_refuses_without_a_terminal_and_drops_with_yes(stack: Stack, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    stack.create_table()
    monkeypatch.setattr("sys.stdin", io.StringIO())
    refused = stack.call_in_prod(capsys, monkeypatch, "ddb/drop", stack.table_name)
    assert stack.error_line(refused, "ddb/drop") == (
        f"no terminal to confirm with (Delete DynamoDB table {stack.table_name} in us-east-1?); pass --yes to go ahead")
    assert stack.table_name in stack.table_names()

    dropped = stack.call_in_prod(capsys, monkeypatch, "ddb/drop", stack.table_name, "--yes")
    assert (dropped.returncode, dropped.stdout.strip()) == (0, f"deleted table {stack.table_name}")
    assert stack.table_name not in stack.table_names()


def test_drop_in_prod_asks_on_a_terminal(stack: Stack) -> None:
    """``bin/ddb/drop`` itself, as a subprocess: its prompt on a real terminal (the other tests run in-process)."""
    stack.create_table()
    controller, terminal = pty.openpty()
    try:
        os.write(controller, f"{stack.table_name}\n".encode())
        confirmed = stack.run("ddb/drop", stack.table_name, "prod", stdin=terminal, env=stack.prod_environment())
    finally:
        os.close(controller)
        os.close(terminal)
    assert confirmed.returncode == 0, confirmed.stderr
    assert confirmed.stderr == (f"Delete DynamoDB table {stack.table_name} in us-east-1? This cannot be undone. "
                                f"Type {stack.table_name!r} to confirm: ")
    assert stack.table_name not in stack.table_names()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_drop_in_prod_keeps_the_table_unless_the_answer_is_its_name(stack: Stack, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    stack.create_table()
    monkeypatch.setattr("sys.stdin", _Terminal("cruddur-messages\n"))
    refused = stack.call_in_prod(capsys, monkeypatch, "ddb/drop", stack.table_name)
    assert refused.returncode == 1
    # The prompt, then (after the operator's Enter, echoed by the terminal) the refusal.
    assert refused.stderr.endswith(f"Type {stack.table_name!r} to confirm: "
                                   "bin/ddb/drop: error: not confirmed; nothing was changed\n")
    assert stack.table_name in stack.table_names()


def _items_by_kind(stack: Stack) -> dict[str, list[dict]]:
    kinds: dict[str, list[dict]] = {}
    for item in stack.table().scan(ConsistentRead=True)["Items"]:
        kinds.setdefault(item["pk"].split("#", 1)[0], []).append(item)
    return kinds


def test_seed_writes_the_conversation_once_and_completes_it_later(stack: Stack,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    stack.create_table()
    first = stack.call(capsys, "ddb/seed")
    assert first.returncode == 0, first.stderr
    assert "written: 104 messages, 2 group rows, 1 membership, 1 pair" in first.stdout
    items = _items_by_kind(stack)
    assert sorted(items) == ["GROUP", "GRP", "MSG", "PAIR"]

    messages = sorted(items["MSG"], key=lambda item: item["sk"])
    assert [(item["user_handle"], item["message"]) for item in messages] == list(load_conversation().lines)
    assert all(item["pk"] == f"MSG#{SEED_GROUP}" and "message_group_uuid" not in item for item in messages)
    assert len({item["message_uuid"] for item in messages}) == 104
    assert {item["user_uuid"] for item in messages if item["user_handle"] == "bayko"} == {BAYKO}
    times = [datetime.strptime(item["sk"], TIMESTAMP_FORMAT) for item in messages]
    assert all(moment.utcoffset() == timedelta(0) for moment in times)
    assert {later - earlier for earlier, later in zip(times, times[1:])} == {timedelta(minutes=1)}
    assert timedelta(minutes=4) <= datetime.now(timezone.utc) - times[-1] <= timedelta(minutes=6)

    rows = {item["pk"]: item for item in items["GRP"]}
    assert rows.keys() == {f"GRP#{ANDREW}", f"GRP#{BAYKO}"}
    assert (rows[f"GRP#{ANDREW}"]["user_handle"], rows[f"GRP#{BAYKO}"]["user_handle"]) == ("bayko", "andrewbrown")
    assert rows[f"GRP#{ANDREW}"]["user_display_name"] == "Andrew Bayko"
    for row in rows.values():
        assert (row["sk"], row["message"]) == (messages[-1]["sk"], messages[-1]["message"])
        assert row["message_group_uuid"] == SEED_GROUP
    membership, = items["GROUP"]
    assert membership == {"pk": f"GROUP#{SEED_GROUP}", "sk": "MEMBERS", "member_uuids": [ANDREW, BAYKO],
                          "created_at": messages[0]["sk"]}
    assert items["PAIR"] == [{"pk": f"PAIR#{ANDREW}#{BAYKO}", "sk": "PAIR", "group_uuid": SEED_GROUP}]

    # An interrupted seed lost the newest messages and the pair; a newer message moved andrewbrown's row
    # (pattern E). Seeding again completes the rest and neither duplicates nor restores the row.
    table = stack.table()
    for item in messages[-3:]:
        table.delete_item(Key={"pk": item["pk"], "sk": item["sk"]})
    table.delete_item(Key={"pk": f"PAIR#{ANDREW}#{BAYKO}", "sk": "PAIR"})
    table.delete_item(Key={"pk": f"GRP#{ANDREW}", "sk": messages[-1]["sk"]})
    table.put_item(Item={**rows[f"GRP#{ANDREW}"], "sk": datetime.now(timezone.utc).isoformat(), "message": "new"})
    again = stack.call(capsys, "ddb/seed")
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[1:] == ["written: 3 messages, 1 pair",
                                             "already there: 101 messages, 2 group rows, 1 membership"]
    after = _items_by_kind(stack)
    assert sorted(after["MSG"], key=lambda item: item["sk"]) == messages
    assert {kind: len(found) for kind, found in after.items()} == {"GROUP": 1, "GRP": 2, "MSG": 104, "PAIR": 1}
    assert {row["pk"]: row["message"] for row in after["GRP"]}[f"GRP#{ANDREW}"] == "new"


def test_seed_leaves_a_group_written_another_way(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    table = stack.create_table()
    table.put_item(Item={"pk": f"MSG#{SEED_GROUP}", "sk": "2023-03-20T10:00:00.000000+00:00", "message": "hi",
                         "message_uuid": "x", "user_uuid": ANDREW, "user_handle": "andrewbrown",
                         "user_display_name": "Andrew Brown"})
    result = stack.call(capsys, "ddb/seed")
    assert "already holds messages that bin/ddb/seed did not write" in stack.error_line(result, "ddb/seed")
    assert table.scan()["Count"] == 1


def test_seed_without_the_table_says_how_to_create_it(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    result = stack.call(capsys, "ddb/seed")
    assert stack.error_line(result, "ddb/seed") == (f"table {stack.table_name} does not exist; "
                                                   "create it with bin/ddb/schema-load")


def test_scan_pages_through_every_item(seeded: Stack, stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    result = seeded.call(capsys, "ddb/scan", "--page-size", "7")
    assert result.returncode == 0, result.stderr
    items = [json.loads(line) for line in result.stdout.splitlines()]
    expected = seeded.table().scan()["Items"]
    assert len(items) == len(expected) > 100
    assert {(item["pk"], item["sk"]) for item in items} == {(item["pk"], item["sk"]) for item in expected}
    assert result.stderr.strip() == f"{len(expected)} items in {seeded.table_name}"

    missing = stack.call(capsys, "ddb/scan")
    assert stack.error_line(missing, "ddb/scan") == (f"table {stack.table_name} does not exist; "
                                                    "create it with bin/ddb/schema-load")
