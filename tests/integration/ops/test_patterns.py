"""bin/ddb/patterns/get-conversation and list-conversations: readable, paginated, every year."""
from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone
from typing import Iterator

import pytest
from boto3.dynamodb.conditions import Key

from tests.integration.ops.support import LOCAL_TZ, LONDO_ROWS, OLD_GROUP, SEED_GROUP, Stack

JST = timezone(timedelta(hours=9))


@pytest.fixture
def in_jst(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The test process in the scripts' zone, for commands run in-process."""
    monkeypatch.setenv("TZ", LOCAL_TZ)
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _local(sk: str) -> str:
    return datetime.fromisoformat(sk).astimezone(JST).strftime("%Y-%m-%d %I:%M %p") + " JST"


def _cells(line: str, count: int) -> list[str]:
    return re.split(r" {2,}", line, maxsplit=count - 1)


def _newest_messages(stack: Stack, count: int) -> list[dict]:
    items = stack.table().query(KeyConditionExpression=Key("pk").eq(f"MSG#{SEED_GROUP}"), ScanIndexForward=False,
                                Limit=count)["Items"]
    return list(reversed(items))


def test_get_conversation_prints_the_newest_messages_oldest_first(seeded: Stack, in_jst: None,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    result = seeded.call(capsys, "ddb/patterns/get-conversation", SEED_GROUP)
    assert result.returncode == 0, result.stderr
    *lines, more, capacity = result.stdout.splitlines()
    expected = _newest_messages(seeded, 20)
    assert [_cells(line, 3) for line in lines] == [
        [item["user_handle"], _local(item["sk"]), item["message"]] for item in expected]
    assert more == "(older messages not shown; raise --limit above 20)"
    assert re.fullmatch(r'consumed capacity over 1 query: \{"CapacityUnits": \d+\.\d+, '
                        rf'"TableName": "{seeded.table_name}"\}}', capacity), capacity
    assert result.stderr == ""


def test_get_conversation_follows_pages_up_to_the_limit(seeded: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    result = seeded.call(capsys, "ddb/patterns/get-conversation", SEED_GROUP, "--limit", "25", "--page-size", "10")
    assert result.returncode == 0, result.stderr
    *lines, more, capacity = result.stdout.splitlines()
    assert [_cells(line, 3)[2] for line in lines] == [item["message"] for item in _newest_messages(seeded, 25)]
    assert capacity.startswith("consumed capacity over 3 queries: ")

    everything = seeded.call(capsys, "ddb/patterns/get-conversation", SEED_GROUP, "--limit", "500",
                             "--page-size", "40")
    *lines, capacity = everything.stdout.splitlines()
    assert len(lines) == 104
    assert _cells(lines[0], 3)[2] == "Have you ever watched Babylon 5? It's one of my favorite TV shows!"
    assert capacity.startswith("consumed capacity over 3 queries: ")


def test_get_conversation_shows_conversations_of_any_year(seeded: Stack, in_jst: None,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    result = seeded.call(capsys, "ddb/patterns/get-conversation", OLD_GROUP.upper())
    assert result.returncode == 0, result.stderr
    assert [_cells(line, 3) for line in result.stdout.splitlines()[:-1]] == [
        ["andrewbrown", "2019-03-20 11:00 PM JST", "Is anybody out there?"],
        ["londo", "2019-03-20 11:01 PM JST", "Only the Centauri, as usual."],
    ]


def test_get_conversation_rejects_bad_arguments(seeded: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    not_uuid = seeded.call(capsys, "ddb/patterns/get-conversation", "5ae290ed-nope")
    assert seeded.error_line(not_uuid, "ddb/patterns/get-conversation") == "not a message group uuid: '5ae290ed-nope'"
    unknown = seeded.call(capsys, "ddb/patterns/get-conversation", "00000000-0000-4000-8000-000000000000")
    assert seeded.error_line(unknown, "ddb/patterns/get-conversation") == (
        "no messages in message group 00000000-0000-4000-8000-000000000000")
    with pytest.raises(SystemExit) as usage:
        seeded.call(capsys, "ddb/patterns/get-conversation", SEED_GROUP, "--limit", "0")
    assert usage.value.code == 2
    assert "argument --limit: expected a positive integer, got '0'" in capsys.readouterr().err


def test_list_conversations_prints_the_other_member_and_the_last_message(seeded: Stack, in_jst: None,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    last = _newest_messages(seeded, 1)[0]
    for result, other, name in ((seeded.call(capsys, "ddb/patterns/list-conversations", "andrewbrown"), "bayko",
                                 "Andrew Bayko"),
                                (seeded.call(capsys, "ddb/patterns/list-conversations", "@bayko"), "andrewbrown",
                                 "Andrew Brown")):
        assert result.returncode == 0, result.stderr
        line, = result.stdout.splitlines()
        assert _cells(line, 5) == [other, name, _local(last["sk"]), SEED_GROUP, last["message"][:59] + "…"]


def test_list_conversations_follows_pages_and_every_year(seeded: Stack, in_jst: None,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    limited = seeded.call(capsys, "ddb/patterns/list-conversations", "londo", "--limit", "4", "--page-size", "3")
    assert limited.returncode == 0, limited.stderr
    *lines, more = limited.stdout.splitlines()
    assert [_cells(line, 5)[3] for line in lines] == [group for _, group in LONDO_ROWS[:4]]
    assert more == "(older conversations not shown; raise --limit above 4)"

    everything = seeded.call(capsys, "ddb/patterns/list-conversations", "londo", "--page-size", "2")
    assert [_cells(line, 5)[2:4] for line in everything.stdout.splitlines()] == [
        [_local(sk), group] for sk, group in LONDO_ROWS]


def test_list_conversations_of_someone_without_any(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    stack.create_table()
    result = stack.call(capsys, "ddb/patterns/list-conversations", "londo")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "londo has no conversations\n")


def test_list_conversations_rejects_an_unknown_handle(seeded: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    result = seeded.call(capsys, "ddb/patterns/list-conversations", "@nobody")
    assert seeded.error_line(result, "ddb/patterns/list-conversations") == "unknown handle: nobody"


def test_list_conversations_in_prod_reads_names_from_the_environment(seeded: Stack, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    result = seeded.call_in_prod(capsys, monkeypatch, "ddb/patterns/list-conversations", "bayko",
                                 TABLE_NAME=seeded.table_name, DATABASE_URL=seeded.database_url,
                                 CRUDDUR_STACK_FILE="/nonexistent/stack.json")
    assert result.returncode == 0, result.stderr
    assert _cells(result.stdout.splitlines()[0], 5)[:2] == ["andrewbrown", "Andrew Brown"]
