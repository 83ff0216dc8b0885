"""N concurrent "start a conversation" requests for the same pair end with exactly one group holding every
message (docs/README.md, tutorial defect 6; issue 2: "exactly one group results when two requests race").

Each request runs in a container (module) of its own on its own thread, against a moto that applies each
request atomically as DynamoDB does (see tests/support/concurrency.py for why moto needs that help). A barrier
makes the race certain rather than likely: every request has looked for the pair's group, found none, and is
about to write its own before any of them may go on.
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from cruddur_messaging.data.messages import MessageStore
from cruddur_messaging.data.tutorial_data import TutorialData
from tests.support.api import ok
from tests.support.client import create_message_event
from tests.support.concurrency import separate_container, serialize_moto
from tests.support.people import ANDREW, LONDO
from tests.support.table import census, group_rows_of, messages_in, pair_items

RACERS = 6


@pytest.fixture
def race(aws, monkeypatch: pytest.MonkeyPatch):
    serialize_moto(monkeypatch)
    barrier = threading.Barrier(RACERS, timeout=20)
    arrived = threading.local()
    transactions: list[str] = []
    tutorial_pair_group = TutorialData.pair_group
    create_group = MessageStore.create_group

    def lookup_then_wait(tutorial, owner_uuid, other_uuid):
        found = tutorial_pair_group(tutorial, owner_uuid, other_uuid)
        if not getattr(arrived, "done", False):  # only each request's first look, before its first attempt
            arrived.done = True
            assert found is None
            barrier.wait()
        return found

    def counted_create_group(store, message_group_uuid, *args, **kwargs):
        transactions.append(message_group_uuid)
        return create_group(store, message_group_uuid, *args, **kwargs)

    monkeypatch.setattr(TutorialData, "pair_group", lookup_then_wait)
    monkeypatch.setattr(MessageStore, "create_group", counted_create_group)
    return transactions


def test_concurrent_starts_for_one_pair_make_exactly_one_group(aws, race) -> None:
    containers = [separate_container(aws, "CreateMessageFunction", f"racer{index}") for index in range(RACERS)]
    # Half start from each side of the pair.
    requests = [create_message_event(ANDREW if index % 2 == 0 else LONDO,
                                     {"handle": "londo" if index % 2 == 0 else "andrewbrown",
                                      "message": f"racer {index}"})
                for index in range(RACERS)]
    with ThreadPoolExecutor(RACERS) as pool:
        responses = list(pool.map(lambda index: containers[index](requests[index]), range(RACERS)))

    bodies = [ok(response) for response in responses]
    groups = {body["message_group_uuid"] for body in bodies}
    assert len(race) == RACERS  # every request really tried to create a group: the race happened
    assert len(groups) == 1
    [group] = groups
    assert [item["group_uuid"] for item in pair_items(aws.table)] == [group]
    assert census(aws.table) == {"PAIR#": 1, "GROUP#": 1, "GRP#": 2, "MSG#": RACERS}
    stored = messages_in(aws.table, group)
    assert sorted(item["message"] for item in stored) == sorted(f"racer {index}" for index in range(RACERS))
    assert {item["message_uuid"] for item in stored} == {body["uuid"] for body in bodies}
    for person in (ANDREW, LONDO):
        [row] = group_rows_of(aws.table, person.uuid)
        assert row["message_group_uuid"] == group
