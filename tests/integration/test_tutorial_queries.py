"""The tutorial's own scripts (``bin/ddb/patterns/get-conversation`` and ``list-conversations``) still read what
our handlers write: same keys, same attributes, timestamps that sort and parse the way they expect."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.support.api import ok
from tests.support.client import Caller
from tests.support.people import ANDREW, BAYKO
from tests.support.tutorial import tutorial_client

TUTORIAL_FORMAT = "%Y-%m-%dT%H:%M:%S.%f%z"


def tutorial_query(client, pk: str) -> list[dict]:
    """The query of the tutorial's pattern scripts, verbatim but for the partition."""
    current_year = str(datetime.now(timezone.utc).year)
    response = client.query(
        TableName="cruddur-messages",
        ScanIndexForward=False,
        Limit=20,
        ReturnConsumedCapacity="TOTAL",
        KeyConditionExpression="pk = :pk AND begins_with(sk,:year)",
        ExpressionAttributeValues={":year": {"S": current_year}, ":pk": {"S": pk}},
    )
    return response["Items"]


@pytest.fixture
def our_conversation(aws) -> tuple[str, list[dict]]:
    andrew, bayko = Caller(aws, ANDREW), Caller(aws, BAYKO)
    sent = [ok(andrew.send("Written by the new handlers", handle="bayko"))]
    group = sent[0]["message_group_uuid"]
    sent += [ok(bayko.send("And read by the old scripts", group=group)),
             ok(andrew.send("Timestamps and all", group=group))]
    return group, sent


def test_get_conversation_reads_our_messages(aws, our_conversation) -> None:
    group, sent = our_conversation
    items = tutorial_query(tutorial_client(aws), f"MSG#{group}")
    items.reverse()  # as the script does: oldest first
    assert [item["message_uuid"]["S"] for item in items] == [message["uuid"] for message in sent]
    for item, message in zip(items, sent):
        assert item["user_handle"]["S"] == message["handle"] and item["message"]["S"] == message["message"]
        moment = datetime.strptime(item["sk"]["S"], TUTORIAL_FORMAT)
        assert moment.utcoffset().total_seconds() == 0 and moment.year == datetime.now(timezone.utc).year
        moment.strftime("%Y-%m-%d %I:%M %p")  # the script's display format


def test_list_conversations_reads_our_group_rows(aws, our_conversation) -> None:
    group, sent = our_conversation
    client = tutorial_client(aws)
    for owner, other in ((ANDREW, BAYKO), (BAYKO, ANDREW)):
        [row] = tutorial_query(client, f"GRP#{owner.uuid}")
        assert row["message_group_uuid"]["S"] == group
        assert (row["user_uuid"]["S"], row["user_handle"]["S"], row["user_display_name"]["S"]) == (
            other.uuid, other.handle, other.display_name)
        assert "message" in row
        datetime.strptime(row["sk"]["S"], TUTORIAL_FORMAT)


def test_every_sort_key_we_write_parses_with_the_tutorial_format(aws, our_conversation) -> None:
    items = tutorial_client(aws).scan(TableName="cruddur-messages")["Items"]
    timed = [item for item in items if item["pk"]["S"].startswith(("MSG#", "GRP#"))]
    assert len(timed) == 5
    for item in timed:
        assert datetime.strptime(item["sk"]["S"], TUTORIAL_FORMAT).tzinfo is not None
    # Only group rows carry message_group_uuid, so the tutorial's index holds exactly the group rows.
    assert sorted(item["pk"]["S"][:4] for item in items if "message_group_uuid" in item) == ["GRP#", "GRP#"]
