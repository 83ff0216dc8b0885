"""Transactions of named items (``data.transactions``): a cancellation's reasons come back by the items' names, so
the stores decide the same whatever order their items are sent in.

DynamoDB gives one reason per item, in the order the items were sent. The stores used to read them by position
(the pair item first in ``create_group``, the put last in ``move``): sending the items in another order swapped
``PairAlreadyHasGroup`` and ``SlotTaken``, or a taken slot and a changed row. Here the stores' items are sent in
every other order (a stand-in for the next engineer reordering them), and each outcome must stay what it is.
"""
from __future__ import annotations

from decimal import Decimal
from itertools import permutations
from typing import Any, Callable, Iterator

import pytest

from cruddur_messaging.data import group_rows, messages, transactions
from cruddur_messaging.data.group_rows import MOVED, GroupRowStore, MoveOutcome
from cruddur_messaging.data.messages import MessageStore, PairAlreadyHasGroup, SlotTaken
from cruddur_messaging.data.table_access import pair_item
from cruddur_messaging.data.transactions import CancellationReason, TransactionCancelled, write_transaction
from cruddur_messaging.models import User
from devtools.template import load_template, parameter_defaults
from tests.support import people
from tests.support.streams import CallCounter, Hooks
from tests.support.table import snapshot

INDEX = parameter_defaults(load_template())["MessageGroupIndexName"]
ANDREW, BAYKO, LONDO = people.ANDREW.user, people.BAYKO.user, people.LONDO.user
GROUP = "11111111-1111-4111-8111-111111111111"
OTHER_GROUP = "22222222-2222-4222-8222-222222222222"
T0 = "2026-03-04T05:06:07.000000+00:00"
T1 = "2026-03-04T05:06:08.000000+00:00"
T2 = "2026-03-04T05:06:09.000000+00:00"

Order = Callable[[list[str]], list[str]]


class SendOrder:
    """Makes the stores send their named items in ``order`` (``None``: as built), and records what was sent."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.order: Order | None = None
        self.sent_names: list[list[str]] = []

        def reordering(client: Any, items: dict[str, Any]) -> None:
            names = list(items) if self.order is None else self.order(list(items))
            assert sorted(names) == sorted(items)  # the same items, only in another order
            self.sent_names.append(names)
            write_transaction(client, {name: items[name] for name in names})

        for module in (messages, group_rows):
            monkeypatch.setattr(module, "write_transaction", reordering)


@pytest.fixture
def send_order(monkeypatch: pytest.MonkeyPatch) -> SendOrder:
    return SendOrder(monkeypatch)


@pytest.fixture
def wire(aws: Any) -> Iterator[CallCounter]:
    """The requests the stores' client sends, to see that the items really went out in the other order."""
    hooks, counter = Hooks(aws.table.meta.client.meta.events), CallCounter()
    hooks.on("before-call.dynamodb.TransactWriteItems", counter)
    yield counter
    hooks.clear()


def every_order(names: list[str]) -> Iterator[Order]:
    for permutation in permutations(range(len(names))):
        yield lambda built, permutation=permutation: [built[index] for index in permutation]


def group_row(owner: User, other: User, group: str, sk: str, text: str, **read_state: Any) -> dict[str, Any]:
    return {"pk": f"GRP#{owner.uuid}", "sk": sk, "message_group_uuid": group, "message": text,
            "user_uuid": other.uuid, "user_display_name": other.display_name, "user_handle": other.handle,
            **read_state}


def sent_keys(body: dict[str, Any]) -> list[tuple[str, str]]:
    """The (pk, sk) of each item of a TransactWriteItems request, in the order sent."""
    keys = []
    for item in body["TransactItems"]:
        [(action, operation)] = item.items()
        key = operation["Item"] if action == "Put" else operation["Key"]
        keys.append((key["pk"]["S"], key["sk"]["S"]))
    return keys


class TestCreateGroupInEveryOrder:
    NAMES = ["pair", "membership", f"row:{ANDREW.uuid}", f"row:{LONDO.uuid}", "message"]

    def test_an_existing_pair_is_told_from_a_taken_slot_whatever_the_order(self, aws, send_order, wire) -> None:
        store = MessageStore(aws.table, INDEX)
        store.create_group(GROUP, ANDREW, BAYKO, "with bayko", "m-1", T0)   # GRP#andrew at T0 is taken now
        aws.table.put_item(Item=pair_item(ANDREW.uuid, LONDO.uuid, OTHER_GROUP))  # and andrew-londo has a group
        before = snapshot(aws.table)
        for order in every_order(self.NAMES):
            send_order.order = order
            with pytest.raises(PairAlreadyHasGroup):
                store.create_group("33333333-3333-4333-8333-333333333333", ANDREW, LONDO, "again", "m-2", T1)
            with pytest.raises(PairAlreadyHasGroup):   # the pair and the taken slot at once: the pair decides
                store.create_group("33333333-3333-4333-8333-333333333333", ANDREW, LONDO, "again", "m-2", T0)
        assert snapshot(aws.table) == before
        assert len({tuple(names) for names in send_order.sent_names[1:]}) == 120  # after the setup's group

    def test_a_taken_slot_is_not_taken_for_an_existing_pair_whatever_the_order(self, aws, send_order, wire) -> None:
        store = MessageStore(aws.table, INDEX)
        store.create_group(GROUP, ANDREW, BAYKO, "with bayko", "m-1", T0)   # GRP#andrew at T0 is taken now
        before = snapshot(aws.table)
        for order in every_order(self.NAMES):
            send_order.order = order
            with pytest.raises(SlotTaken):
                store.create_group(OTHER_GROUP, ANDREW, LONDO, "with londo", "m-2", T0)
        assert snapshot(aws.table) == before
        # The pair item went out first, last and everywhere between.
        _, *cancelled = wire.bodies
        pair_key = f"PAIR#{ANDREW.uuid}#{LONDO.uuid}"
        positions = {[pk for pk, _ in sent_keys(body)].index(pair_key) for _, body in cancelled}
        assert positions == set(range(5))

    def test_either_order_creates_the_group(self, aws, send_order) -> None:
        store = MessageStore(aws.table, INDEX)
        send_order.order = lambda names: names[::-1]
        store.create_group(GROUP, ANDREW, LONDO, "hi", "m-1", T0)
        assert store.find_pair(LONDO.uuid, ANDREW.uuid).group_uuid == GROUP
        assert send_order.sent_names == [self.NAMES[::-1]]


@pytest.fixture
def rows(aws: Any) -> GroupRowStore:
    return GroupRowStore(aws.table, INDEX)


MOVE_ORDERS = {"as built": None, "put first": lambda names: names[-1:] + names[:-1],
               "reversed": lambda names: names[::-1]}


@pytest.mark.parametrize("order", MOVE_ORDERS.values(), ids=MOVE_ORDERS.keys())
class TestMoveInAnyOrder:
    def test_a_slot_taken_by_another_group_is_no_changed_row(self, aws, rows, send_order, order) -> None:
        send_order.order = order
        row = group_row(ANDREW, BAYKO, GROUP, T0, "hello")
        aws.table.put_item(Item=row)
        aws.table.put_item(Item=group_row(ANDREW, LONDO, OTHER_GROUP, T1, "londo's"))
        outcome = rows.move(GROUP, [row], {**row, "sk": T1, "message": "later"}, source=row)
        assert outcome == MoveOutcome(moved=False, rows_changed=False, slot_taken=True)

    def test_a_row_whose_read_state_changed_is_no_taken_slot(self, aws, rows, send_order, order) -> None:
        send_order.order = order
        row = group_row(ANDREW, BAYKO, GROUP, T0, "hello")
        aws.table.put_item(Item={**row, "unread_count": 0, "last_read_at": T0})  # marked read since it was read
        outcome = rows.move(GROUP, [row], {**row, "sk": T1, "message": "later"}, source=row)
        assert outcome == MoveOutcome(moved=False, rows_changed=True, slot_taken=False)

    def test_a_move_already_made_counts_as_moved(self, aws, rows, send_order, order) -> None:
        send_order.order = order
        row = group_row(ANDREW, BAYKO, GROUP, T0, "hello", unread_count=2)
        stale = group_row(ANDREW, BAYKO, GROUP, T1, "hello again")
        new_row = {**row, "sk": T2, "message": "later", "unread_count": 3}
        aws.table.put_item(Item=row)
        aws.table.put_item(Item=stale)
        assert rows.move(GROUP, [row, stale], new_row, source=row) == MOVED
        assert rows.move(GROUP, [row, stale], new_row, source=row) == MOVED  # the SDK's resend meets its own row
        assert rows.move(GROUP, [row, stale], {**new_row, "message": "another"}, source=row) == MoveOutcome(
            moved=False, rows_changed=True, slot_taken=False)
        assert len(send_order.sent_names[0]) == 3 and all(names == send_order.sent_names[0]
                                                          for names in send_order.sent_names)


class TestCancellation:
    def test_reasons_come_back_by_name_with_their_items_deserialized(self, aws) -> None:
        aws.table.put_item(Item={"pk": "X", "sk": "1", "count": 7, "tags": {"a"}})
        table_name = aws.table.name
        items = {
            "free": {"Put": {"TableName": table_name, "Item": {"pk": "Y", "sk": "1"},
                             "ConditionExpression": "attribute_not_exists(pk)"}},
            "taken": {"Put": {"TableName": table_name, "Item": {"pk": "X", "sk": "1"},
                              "ConditionExpression": "attribute_not_exists(pk)",
                              "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
        }
        for names in (["free", "taken"], ["taken", "free"]):
            with pytest.raises(TransactionCancelled) as raised:
                write_transaction(aws.table.meta.client, {name: items[name] for name in names})
            assert raised.value.reasons == {
                "free": CancellationReason("None"),
                "taken": CancellationReason("ConditionalCheckFailed",
                                            {"pk": "X", "sk": "1", "count": Decimal(7), "tags": {"a"}}),
            }
            assert raised.value.codes == [raised.value.reason(name).code for name in names]
        assert aws.table.get_item(Key={"pk": "Y", "sk": "1"}).get("Item") is None

    def test_reasons_that_do_not_match_the_items_are_told_by_none(self) -> None:
        response = {"CancellationReasons": [{"Code": "ThrottlingError"}, {"Code": "None"}]}
        cancelled = transactions.cancellation(["pair", "membership", "message"], response)
        assert cancelled.reasons == {}
        assert cancelled.codes == ["ThrottlingError", "None"] and cancelled.any_code("ThrottlingError")
        assert transactions.cancellation(["put"], {}).codes == []

    def test_the_sent_items_are_the_named_ones_in_order(self, aws, wire) -> None:
        table_name = aws.table.name
        write_transaction(aws.table.meta.client, {
            name: {"Put": {"TableName": table_name, "Item": {"pk": name, "sk": "1"}}}
            for name in ("b", "a", "c")
        })
        assert [sent_keys(body) for _, body in wire.bodies] == [[("b", "1"), ("a", "1"), ("c", "1")]]
