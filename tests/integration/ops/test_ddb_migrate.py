"""bin/ddb/migrate against the moto server: tutorial-era groups in, membership and pair items out; a second run
changes nothing; an item already there is never overwritten."""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from cruddur_messaging.clock import TIMESTAMP_FORMAT
from tests.integration.ops.support import ANDREW, BAYKO, LONDO, Stack, run_in_process

TUTORIAL_GROUP = "0b7d8a52-3f7e-4c1a-9d55-2f0c4c0e2019"
"""andrewbrown and bayko, written by the tutorial's scripts in 2019 (local offsets, no microseconds)."""
OLDER_TUTORIAL_GROUP = "0b7d8a52-3f7e-4c1a-9d55-2f0c4c0e2018"
"""bayko and londo's first conversation, written the tutorial's way."""
API_GROUP = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
"""bayko and londo's group as the API wrote it later: it has its membership and pair items."""
HALF_GROUP = "2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f60"
"""Only andrew's row: the other member's row is missing (caught mid-move)."""
API_MEMBERSHIP = {"pk": f"GROUP#{API_GROUP}", "sk": "MEMBERS", "member_uuids": [BAYKO, LONDO],
                  "created_at": "2026-01-02T03:04:05.000000+00:00"}
API_PAIR = {"pk": f"PAIR#{BAYKO}#{LONDO}", "sk": "PAIR", "group_uuid": API_GROUP}


def _row(owner: str, other: str, group: str, sk: str) -> dict[str, Any]:
    return {"pk": f"GRP#{owner}", "sk": sk, "message_group_uuid": group, "message": "last words",
            "user_uuid": other, "user_handle": "someone", "user_display_name": "Someone"}


def _tutorial_table(stack: Stack) -> Any:
    table = stack.create_table()
    for owner, other, group, sk in (
            (ANDREW, BAYKO, TUTORIAL_GROUP, "2019-03-20T10:01:30-04:00"),
            (BAYKO, ANDREW, TUTORIAL_GROUP, "2019-03-20T10:01:30-04:00"),
            (BAYKO, LONDO, OLDER_TUTORIAL_GROUP, "2018-05-01T09:00:00.250000+02:00"),
            (LONDO, BAYKO, OLDER_TUTORIAL_GROUP, "2018-05-01T09:00:00.250000+02:00"),
            (BAYKO, LONDO, API_GROUP, "2026-01-02T03:04:05.000000+00:00"),
            (LONDO, BAYKO, API_GROUP, "2026-01-02T03:04:05.000000+00:00"),
            (ANDREW, LONDO, HALF_GROUP, "2024-01-01T00:00:00.000000+00:00")):
        table.put_item(Item=_row(owner, other, group, sk))
    table.put_item(Item={"pk": f"MSG#{TUTORIAL_GROUP}", "sk": "2019-03-20T10:01:30-04:00", "message": "last words",
                         "message_uuid": "m-1", "user_uuid": ANDREW, "user_handle": "andrewbrown",
                         "user_display_name": "Andrew Brown"})
    table.put_item(Item=API_MEMBERSHIP)
    table.put_item(Item=API_PAIR)
    return table


def _items(table: Any, prefix: str) -> dict[str, dict[str, Any]]:
    items = table.scan(ConsistentRead=True)["Items"]
    return {item["pk"]: item for item in items if item["pk"].startswith(prefix)}


def _snapshot(table: Any) -> list[dict[str, Any]]:
    return sorted(table.scan(ConsistentRead=True)["Items"], key=lambda item: (item["pk"], item["sk"]))


def test_migrate_writes_memberships_and_pairs_once_and_never_overwrites(stack: Stack,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    table = _tutorial_table(stack)
    before = _snapshot(table)

    dry = stack.call(capsys, "ddb/migrate", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines()[1:] == [
        "would write: 2 membership, 1 pair",
        "already there: 1 membership, 1 pair",
        f"left as they are (their rows do not show two members naming each other; the API serves them only "
        f"with TutorialData=read, run again later): {HALF_GROUP}",
    ]
    assert _snapshot(table) == before

    # As an operator runs it; a page size of 2 makes the scan take several pages.
    first = stack.run("ddb/migrate", "--page-size", "2")
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[0] == f"{stack.table_name}: 10 items scanned, 4 message groups"
    assert first.stdout.splitlines()[1:3] == ["written: 2 membership, 1 pair",
                                              "already there: 1 membership, 1 pair"]

    memberships = _items(table, "GROUP#")
    assert memberships.keys() == {f"GROUP#{TUTORIAL_GROUP}", f"GROUP#{OLDER_TUTORIAL_GROUP}", f"GROUP#{API_GROUP}"}
    assert memberships[f"GROUP#{TUTORIAL_GROUP}"]["member_uuids"] == sorted([ANDREW, BAYKO])
    assert memberships[f"GROUP#{OLDER_TUTORIAL_GROUP}"]["member_uuids"] == sorted([BAYKO, LONDO])
    for group in (TUTORIAL_GROUP, OLDER_TUTORIAL_GROUP):
        # When it was recorded, in the canonical form, as the API records a tutorial-era group's membership.
        created_at = datetime.strptime(memberships[f"GROUP#{group}"]["created_at"], TIMESTAMP_FORMAT)
        assert created_at.utcoffset() == timedelta(0)
        assert timedelta(0) <= datetime.now(timezone.utc) - created_at < timedelta(minutes=1)
    # The API's items stay exactly as they were: bayko and londo's pair still names the API's group.
    assert memberships[f"GROUP#{API_GROUP}"] == API_MEMBERSHIP
    assert _items(table, "PAIR#") == {
        f"PAIR#{ANDREW}#{BAYKO}": {"pk": f"PAIR#{ANDREW}#{BAYKO}", "sk": "PAIR", "group_uuid": TUTORIAL_GROUP},
        API_PAIR["pk"]: API_PAIR,
    }
    # Nothing but membership and pair items was written; the half group got neither.
    after = _snapshot(table)
    assert [item for item in after if item not in before] == sorted(
        [memberships[f"GROUP#{TUTORIAL_GROUP}"], memberships[f"GROUP#{OLDER_TUTORIAL_GROUP}"],
         _items(table, "PAIR#")[f"PAIR#{ANDREW}#{BAYKO}"]], key=lambda item: (item["pk"], item["sk"]))

    again = stack.call(capsys, "ddb/migrate")
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[1:3] == ["written: nothing", "already there: 3 membership, 2 pair"]
    assert _snapshot(table) == after


def test_migrate_acts_on_aws_with_prod(stack: Stack, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    table = _tutorial_table(stack)
    for name, value in stack.prod_environment(TABLE_NAME=stack.table_name).items():
        monkeypatch.setenv(name, value)
    result = run_in_process(capsys, "ddb/migrate", "prod", environ=os.environ)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1] == "written: 2 membership, 1 pair"
    assert set(_items(table, "GROUP#")) == {f"GROUP#{group}" for group in (TUTORIAL_GROUP, OLDER_TUTORIAL_GROUP,
                                                                           API_GROUP)}


def test_migrate_without_the_table_says_how_to_create_it(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    result = stack.call(capsys, "ddb/migrate")
    assert stack.error_line(result, "ddb/migrate") == (f"table {stack.table_name} does not exist; "
                                                      "create it with bin/ddb/schema-load")
