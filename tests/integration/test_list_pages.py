"""Pagination through the handlers: follow ``Link: <...>; rel="next"`` to the last page, no duplicates, no gaps.

list-groups is newest first over every year (the tutorial's ``begins_with(sk, <this year>)`` would hide 2023 and
2025); list-messages pages walk back to older messages, each page in ascending order.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tests.support.api import next_link, ok
from tests.support.client import Caller
from tests.support.events import SEED_GROUP_UUID, load_event
from tests.support.people import ANDREW, BAYKO, LONDO, stranger
from tests.support.table import group_rows_of
from tests.support.tutorial import put_group_row, timestamp, tutorial_client

THIS_YEAR = datetime.now(timezone.utc).year


@pytest.fixture
def groups_over_the_years(aws) -> list[dict[str, Any]]:
    """andrewbrown's conversations: 4 from 2023, 4 from 2025 and 2 from early this year written the tutorial's
    way (no version: 0), then two started now through the handler. Returns them as list-groups should, newest
    first."""
    client = tutorial_client(aws)
    expected = []
    moments = [datetime(2023, 1, 1, 0, 0, 0, 1, tzinfo=timezone.utc) + timedelta(days=40 * index) for index in range(4)]
    moments += [datetime(2025, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc) - timedelta(days=3 * index)
                for index in range(4)]
    moments += [datetime(THIS_YEAR, 1, 1, 0, 0, 0, 0, tzinfo=timezone.utc) + timedelta(seconds=index)
                for index in range(2)]
    for number, moment in enumerate(moments, start=1):
        other = stranger(number)
        group = f"00000000-0000-4000-a000-{number:012d}"
        put_group_row(client, group, ANDREW, other, timestamp(moment), f"message {number}")
        expected.append({"uuid": group, "display_name": other.display_name, "handle": other.handle,
                         "message": f"message {number}", "created_at": timestamp(moment),
                         "unread_count": 0, "last_read_at": None, "version": 0})
    andrew = Caller(aws, ANDREW)
    for person in (BAYKO, LONDO):
        response = ok(andrew.send(f"Hello {person.handle}", handle=person.handle))
        [row] = [row for row in group_rows_of(aws.table, ANDREW.uuid)
                 if row["message_group_uuid"] == response["message_group_uuid"]]
        assert row["version"] > 0
        # The sender's row starts read up to the first message.
        expected.append({"uuid": response["message_group_uuid"], "display_name": person.display_name,
                         "handle": person.handle, "message": f"Hello {person.handle}",
                         "created_at": response["created_at"], "unread_count": 0,
                         "last_read_at": response["created_at"], "version": int(row["version"])})
    return sorted(expected, key=lambda group: group["created_at"], reverse=True)


@pytest.mark.parametrize("limit, page_sizes", [(5, [5, 5, 2]), (4, [4, 4, 4]), (1, [1] * 12), (12, [12]),
                                               (100, [12])])
def test_list_groups_to_the_last_page_newest_first_across_years(aws, groups_over_the_years, limit: int,
                                                               page_sizes: list[int]) -> None:
    pages = Caller(aws, ANDREW).all_groups(limit=str(limit))
    assert [len(page) for page in pages] == page_sizes  # a full last page is not followed by an empty one
    listed = [group for page in pages for group in page]
    assert listed == groups_over_the_years
    assert {group["created_at"][:4] for group in listed} == {"2023", "2025", str(THIS_YEAR)}


def test_list_groups_default_page_and_link_keeps_the_limit(aws, groups_over_the_years) -> None:
    andrew = Caller(aws, ANDREW)
    response = andrew.list_groups()
    assert ok(response) == groups_over_the_years and next_link(response) is None  # 12 < default 20
    path, query = next_link(andrew.list_groups(limit="3"))
    assert path == "/api/message_groups" and query["limit"] == "3" and set(query) == {"limit", "cursor"}


def test_list_groups_shows_the_other_member_to_each_side(aws) -> None:
    group = Caller(aws, ANDREW).start_conversation("bayko", "Hi Bayko")
    [for_andrew] = ok(Caller(aws, ANDREW).list_groups())
    [for_bayko] = ok(Caller(aws, BAYKO).list_groups())
    assert (for_andrew["uuid"], for_andrew["handle"], for_andrew["display_name"]) == (group, "bayko", "Andrew Bayko")
    assert (for_bayko["uuid"], for_bayko["handle"], for_bayko["display_name"]) == (group, "andrewbrown",
                                                                                   "Andrew Brown")
    assert ok(Caller(aws, LONDO).list_groups()) == []


@pytest.fixture
def conversation(aws) -> tuple[str, list[dict[str, str]]]:
    """andrewbrown and bayko, 13 messages sent through the handler in turns; returns the group and the
    messages in the order they were sent (as the create-message responses gave them)."""
    andrew, bayko = Caller(aws, ANDREW), Caller(aws, BAYKO)
    first = ok(andrew.send("message 0", handle="bayko"))
    group = first.pop("message_group_uuid")
    sent = [first]
    for index in range(1, 13):
        sender = bayko if index % 2 else andrew
        sent.append(ok(sender.send(f"message {index}", group=group)))
    return group, sent


@pytest.mark.parametrize("limit, page_sizes", [(5, [5, 5, 3]), (13, [13]), (1, [1] * 13), (20, [13])])
def test_list_messages_pages_go_back_in_time_each_ascending(aws, conversation, limit: int,
                                                            page_sizes: list[int]) -> None:
    group, sent = conversation
    pages = Caller(aws, BAYKO).all_messages(group, limit=str(limit))
    assert [len(page) for page in pages] == page_sizes
    for page in pages:
        assert [message["created_at"] for message in page] == sorted(message["created_at"] for message in page)
    for newer, older in zip(pages, pages[1:]):
        assert older[-1]["created_at"] < newer[0]["created_at"]
    in_time_order = [message for page in reversed(pages) for message in page]
    assert in_time_order == sent  # every message once, none missing, same fields as the create response


def test_list_messages_first_page_is_the_newest(aws, conversation) -> None:
    group, sent = conversation
    response = Caller(aws, ANDREW).list_messages(group, limit="4")
    assert ok(response) == sent[-4:]
    path, query = next_link(response)
    assert path == f"/api/messages/{group}" and query["limit"] == "4"


def test_events_list_messages_limit_5_walks_the_seeded_conversation(aws, seeded) -> None:
    response = aws.invoke("ListMessagesFunction", load_event("list-messages-limit-5"))
    newest = ok(response)
    assert [message["message"] for message in newest] == [line["message"] for line in seeded[-5:]]
    assert [message["uuid"] for message in newest] == [line["uuid"] for line in seeded[-5:]]
    pages = Caller(aws, ANDREW).all_messages(SEED_GROUP_UUID, limit="5")
    assert [[message["uuid"] for message in page] for page in pages] == [
        [line["uuid"] for line in seeded[-5:]], [line["uuid"] for line in seeded[:-5]]]


def test_events_list_groups_limit_1(aws, seeded) -> None:
    Caller(aws, ANDREW).start_conversation("londo", "Londo!")
    response = aws.invoke("ListGroupsFunction", load_event("list-groups-limit-1"))
    [newest] = ok(response)
    assert newest["handle"] == "londo" and next_link(response) is not None
