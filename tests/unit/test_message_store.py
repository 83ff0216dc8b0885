"""MessageStore against moto, with the table created from template.yaml's own definition."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from cruddur_messaging.data import keys
from cruddur_messaging.data.messages import MessageStore, PairAlreadyHasGroup, SlotTaken
from cruddur_messaging.data.table_access import pair_item
from cruddur_messaging.errors import DependencyUnavailable
from cruddur_messaging.models import Membership
from tests.support import people
from tests.support.calls import record_calls
from tests.support.table import census, group_rows_of, messages_in, snapshot

INDEX = "message-group-sk-index"
ANDREW, BAYKO, LONDO = people.ANDREW.user, people.BAYKO.user, people.LONDO.user
GROUP = "11111111-1111-4111-8111-111111111111"
OTHER_GROUP = "22222222-2222-4222-8222-222222222222"
AT = "2026-03-04T05:06:07.123456+00:00"


@pytest.fixture
def store(aws) -> MessageStore:
    return MessageStore(aws.table, INDEX)


def at(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


class TestPutMessage:
    def test_stores_the_tutorial_shape(self, store: MessageStore, aws) -> None:
        item = store.put_message(GROUP, ANDREW, "Hello", "m-1", AT)
        assert messages_in(aws.table, GROUP) == [item]
        assert item == {"pk": f"MSG#{GROUP}", "sk": AT, "message_uuid": "m-1", "message": "Hello",
                        "user_uuid": ANDREW.uuid, "user_display_name": "Andrew Brown", "user_handle": "andrewbrown"}
        assert "message_group_uuid" not in item  # only group rows are in the index

    def test_same_microsecond_collision_stores_both_at_distinct_sk(self, store: MessageStore, aws) -> None:
        first = store.put_message(GROUP, ANDREW, "first", "m-1", AT)
        second = store.put_message(GROUP, BAYKO, "second", "m-2", AT)
        assert first["sk"] == AT
        assert second["sk"] == "2026-03-04T05:06:07.123457+00:00"
        stored = messages_in(aws.table, GROUP)
        assert [(item["message_uuid"], item["message"]) for item in stored] == [("m-1", "first"), ("m-2", "second")]

    def test_never_overwrites_across_a_run_of_taken_slots(self, store: MessageStore, aws) -> None:
        for index in range(4):
            store.put_message(GROUP, ANDREW, f"taken {index}", f"m-{index}", AT)
        stored = messages_in(aws.table, GROUP)
        assert [item["message"] for item in stored] == [f"taken {index}" for index in range(4)]
        assert len({item["sk"] for item in stored}) == 4

    def test_gives_up_without_writing_when_every_slot_is_taken(self, store: MessageStore, aws) -> None:
        moment = datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=timezone.utc)
        for offset in range(5):
            store.put_message(GROUP, ANDREW, f"taken {offset}", f"m-{offset}",
                              at(moment + timedelta(microseconds=offset)))
        before = snapshot(aws.table)
        with pytest.raises((DependencyUnavailable, SlotTaken)):
            store.put_message(GROUP, BAYKO, "no room", "m-x", AT)
        assert snapshot(aws.table) == before

    def test_same_time_in_another_group_is_no_collision(self, store: MessageStore, aws) -> None:
        assert store.put_message(GROUP, ANDREW, "a", "m-1", AT)["sk"] == AT
        assert store.put_message(OTHER_GROUP, ANDREW, "b", "m-2", AT)["sk"] == AT


class TestCreateGroup:
    def test_writes_pair_membership_both_rows_and_the_first_message(self, store: MessageStore, aws) -> None:
        message = store.create_group(GROUP, ANDREW, BAYKO, "Hi Bayko", "m-1", AT)
        assert census(aws.table) == {"PAIR#": 1, "GROUP#": 1, "GRP#": 2, "MSG#": 1}
        assert messages_in(aws.table, GROUP) == [message]
        assert store.find_pair(BAYKO.uuid, ANDREW.uuid).group_uuid == GROUP  # either order
        assert store.get_membership(GROUP) == Membership(GROUP, frozenset({ANDREW.uuid, BAYKO.uuid}))
        [andrews_row] = group_rows_of(aws.table, ANDREW.uuid)
        [baykos_row] = group_rows_of(aws.table, BAYKO.uuid)
        assert (andrews_row["sk"], andrews_row["message_group_uuid"], andrews_row["message"]) == (AT, GROUP, "Hi Bayko")
        assert (andrews_row["user_uuid"], andrews_row["user_handle"]) == (BAYKO.uuid, "bayko")  # the *other* member
        assert (baykos_row["user_uuid"], baykos_row["user_display_name"]) == (ANDREW.uuid, "Andrew Brown")

    def test_existing_pair_means_nothing_is_written(self, store: MessageStore, aws) -> None:
        store.create_group(GROUP, ANDREW, BAYKO, "first", "m-1", AT)
        before = snapshot(aws.table)
        with pytest.raises(PairAlreadyHasGroup):
            store.create_group(OTHER_GROUP, BAYKO, ANDREW, "second", "m-2", "2026-03-04T05:06:08.000000+00:00")
        assert snapshot(aws.table) == before
        assert store.get_membership(OTHER_GROUP) is None
        assert messages_in(aws.table, OTHER_GROUP) == []

    def test_pair_item_alone_blocks_the_whole_transaction(self, store: MessageStore, aws) -> None:
        aws.table.put_item(Item=pair_item(ANDREW.uuid, LONDO.uuid, GROUP))
        before = snapshot(aws.table)
        with pytest.raises(PairAlreadyHasGroup):
            store.create_group(OTHER_GROUP, ANDREW, LONDO, "Hi", "m-1", AT)
        assert snapshot(aws.table) == before

    def test_group_row_taken_at_that_instant_writes_nothing(self, store: MessageStore, aws) -> None:
        store.create_group(GROUP, ANDREW, BAYKO, "with bayko", "m-1", AT)
        before = snapshot(aws.table)
        with pytest.raises(SlotTaken):
            store.create_group(OTHER_GROUP, ANDREW, LONDO, "with londo", "m-2", AT)  # GRP#andrew at AT is taken
        assert snapshot(aws.table) == before
        assert store.find_pair(ANDREW.uuid, LONDO.uuid).group_uuid is None


class TestListing:
    def test_messages_page_newest_first_with_exact_has_more(self, store: MessageStore) -> None:
        start = datetime(2025, 12, 31, 23, 58, tzinfo=timezone.utc)
        times = [at(start + timedelta(minutes=index)) for index in range(6)]  # crosses into 2026
        for index, moment in enumerate(times):
            store.put_message(GROUP, ANDREW, f"m{index}", f"id-{index}", moment)
        first = store.list_messages(GROUP, 4, None)
        assert [item["sk"] for item in first.items] == times[::-1][:4] and first.has_more
        last = first.items[-1]
        second = store.list_messages(GROUP, 4, {"pk": last["pk"], "sk": last["sk"]})
        assert [item["sk"] for item in second.items] == times[::-1][4:] and not second.has_more

    def test_full_last_page_has_no_more(self, store: MessageStore) -> None:
        for index in range(3):
            store.put_message(GROUP, ANDREW, f"m{index}", f"id-{index}", f"2026-01-01T00:00:0{index}.000000+00:00")
        page = store.list_messages(GROUP, 3, None)
        assert len(page.items) == 3 and not page.has_more

    def test_group_rows_newest_first_across_years(self, store: MessageStore, aws) -> None:
        years = ["2023-05-01T00:00:00.000001+00:00", "2026-02-01T00:00:00.000001+00:00",
                 "2025-07-01T00:00:00.000001+00:00"]
        for index, moment in enumerate(years):
            aws.table.put_item(Item={"pk": f"GRP#{ANDREW.uuid}", "sk": moment, "message_group_uuid": f"g-{index}",
                                     "message": "x", "user_uuid": "o", "user_display_name": "O", "user_handle": "o"})
        page = store.list_group_rows(ANDREW.uuid, 10, None)
        assert [row["sk"][:4] for row in page.items] == ["2026", "2025", "2023"] and not page.has_more

    def test_lists_only_the_partition_asked_for(self, store: MessageStore) -> None:
        store.create_group(GROUP, ANDREW, BAYKO, "andrew-bayko", "m-1", AT)
        store.put_message(OTHER_GROUP, LONDO, "elsewhere", "m-2", AT)
        assert [item["message"] for item in store.list_messages(GROUP, 10, None).items] == ["andrew-bayko"]
        assert store.list_group_rows(LONDO.uuid, 10, None).items == []


class TestMembership:
    def test_unknown_group_has_no_members(self, store: MessageStore, aws) -> None:
        assert store.get_membership(GROUP) is None
        assert store.members_of(GROUP, recording_for=ANDREW.uuid) is None
        assert store.pair(ANDREW.uuid, BAYKO.uuid).group_uuid is None
        assert census(aws.table) == {}

    def test_membership_read_is_strongly_consistent(self, store: MessageStore, aws, monkeypatch) -> None:
        calls = []
        original = aws.table.get_item

        def spy(**kwargs):
            calls.append(kwargs)
            return original(**kwargs)

        monkeypatch.setattr(store, "_table", type("T", (), {"get_item": staticmethod(spy)})())
        store.get_membership(GROUP)
        assert calls == [{"Key": keys.membership_key(GROUP), "ConsistentRead": True}]

    def test_legacy_group_members_are_the_owners_of_its_rows(self, store: MessageStore, aws) -> None:
        put_tutorial_rows(aws.table, GROUP)
        assert store.members_of(GROUP) == Membership(GROUP, frozenset({ANDREW.uuid, BAYKO.uuid}))
        assert store.get_membership(GROUP) is None  # a read records nothing
        assert store.pair(ANDREW.uuid, LONDO.uuid).group_uuid is None
        assert store.pair(ANDREW.uuid, BAYKO.uuid).group_uuid == GROUP
        # Found once through the rows, the pair and the membership are items from now on.
        assert store.find_pair(BAYKO.uuid, ANDREW.uuid).group_uuid == GROUP
        assert store.get_membership(GROUP) == Membership(GROUP, frozenset({ANDREW.uuid, BAYKO.uuid}))

    def test_members_found_through_the_rows_are_recorded_for_a_member_only(self, store: MessageStore, aws) -> None:
        put_tutorial_rows(aws.table, GROUP)
        members = Membership(GROUP, frozenset({ANDREW.uuid, BAYKO.uuid}))
        assert store.members_of(GROUP, recording_for=LONDO.uuid) == members
        assert store.get_membership(GROUP) is None  # a stranger's request writes nothing
        assert store.members_of(GROUP, recording_for=ANDREW.uuid) == members
        assert store.get_membership(GROUP) == Membership(GROUP, frozenset({ANDREW.uuid, BAYKO.uuid}))


class TestWithoutTutorialData:
    """``reads_tutorial_data=False`` (``TUTORIAL_DATA=migrated``): only the membership and pair items count."""

    @pytest.fixture
    def store(self, aws) -> MessageStore:
        return MessageStore(aws.table, INDEX, reads_tutorial_data=False)

    def test_a_group_without_a_membership_item_does_not_exist(self, store: MessageStore, aws, monkeypatch) -> None:
        put_tutorial_rows(aws.table, GROUP)
        calls = record_calls(monkeypatch)
        assert store.members_of(GROUP, recording_for=ANDREW.uuid) is None
        assert calls.dynamodb() == ["GetItem"]  # the membership item, no look at the rows
        assert census(aws.table) == {"GRP#": 2}  # nothing recorded

    def test_a_pair_without_a_pair_item_has_no_group(self, store: MessageStore, aws, monkeypatch) -> None:
        put_tutorial_rows(aws.table, GROUP)
        calls = record_calls(monkeypatch)
        assert store.pair(ANDREW.uuid, BAYKO.uuid).group_uuid is None
        assert calls.dynamodb() == ["Query"]  # the pair's partition, no query of the caller's rows
        assert census(aws.table) == {"GRP#": 2}

    def test_items_are_found_as_with_it(self, store: MessageStore) -> None:
        store.create_group(GROUP, ANDREW, BAYKO, "hello", "m-1", AT)
        assert store.members_of(GROUP) == Membership(GROUP, frozenset({ANDREW.uuid, BAYKO.uuid}))
        assert store.pair(BAYKO.uuid, ANDREW.uuid).group_uuid == GROUP


def put_tutorial_rows(table, group_uuid: str, members=(ANDREW, BAYKO), at: str = AT) -> None:
    """Both group rows of a conversation written the tutorial's way (no membership item, no pair item)."""
    first, second = members
    for owner, other in ((first, second), (second, first)):
        table.put_item(Item={"pk": f"GRP#{owner.uuid}", "sk": at, "message_group_uuid": group_uuid,
                             "message": "x", "user_uuid": other.uuid, "user_display_name": other.display_name,
                             "user_handle": other.handle})
