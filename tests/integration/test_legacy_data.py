"""Tables that hold data written the tutorial's way (only GRP# rows and MSG# items, no membership, no pair) keep
working: listed, readable and writable by their two members, denied to anyone else, and reused when either
member starts a conversation with the other."""
from __future__ import annotations

from datetime import datetime, timezone

from cruddur_messaging.data.tutorial_data import TutorialData
from devtools.ops.ddb_migrate import migrate_table
from tests.support.api import assert_error, ok
from tests.support.client import Caller
from tests.support.events import SEED_GROUP_UUID, load_event, with_body
from tests.support.people import ANDREW, BAYKO, LONDO, stranger
from tests.support.table import census, messages_in, pair_items, snapshot
from tests.support.tutorial import seed_conversation, tutorial_client


def test_seed_is_written_exactly_the_tutorial_way(aws, seeded) -> None:
    assert census(aws.table) == {"GRP#": 2, "MSG#": 6}


def test_legacy_group_is_listed_for_both_members(aws, seeded) -> None:
    for member, other in ((ANDREW, BAYKO), (BAYKO, ANDREW)):
        [group] = ok(Caller(aws, member).list_groups())
        assert (group["uuid"], group["handle"], group["display_name"]) == (SEED_GROUP_UUID, other.handle,
                                                                           other.display_name)
        assert group["created_at"].startswith("2023-")
    assert ok(Caller(aws, LONDO).list_groups()) == []


def test_legacy_group_is_readable_by_both_members(aws, seeded) -> None:
    expected = [{"uuid": line["uuid"], "handle": line["handle"], "message": line["message"],
                 "created_at": line["created_at"]} for line in seeded]
    for member in (ANDREW, BAYKO):
        messages = ok(Caller(aws, member).list_messages(SEED_GROUP_UUID))
        assert [{key: message[key] for key in ("uuid", "handle", "message", "created_at")}
                for message in messages] == expected
    assert ok(aws.invoke("ListMessagesFunction", load_event("list-messages")))[0]["message"] == seeded[0]["message"]


def test_legacy_group_is_writable_by_both_members_and_denied_to_a_third(aws, seeded) -> None:
    before = snapshot(aws.table)
    assert_error(aws.invoke("ListMessagesFunction", load_event("list-messages-not-member")), 404,
                 "message_group_not_found")
    assert_error(aws.invoke("CreateMessageFunction", load_event("create-message-not-member")), 404,
                 "message_group_not_found")
    assert snapshot(aws.table) == before

    from_andrew = ok(aws.invoke("CreateMessageFunction", load_event("create-message-into-group")))
    from_bayko = ok(Caller(aws, BAYKO).send("They are always here.", group=SEED_GROUP_UUID))
    stored = messages_in(aws.table, SEED_GROUP_UUID)
    assert [item["message_uuid"] for item in stored[-2:]] == [from_andrew["uuid"], from_bayko["uuid"]]
    assert len(stored) == len(seeded) + 2

    # Still denied to londo now that the members were recorded on the first write.
    assert census(aws.table)["GROUP#"] == 1
    assert_error(Caller(aws, LONDO).send("And now?", group=SEED_GROUP_UUID), 404, "message_group_not_found")
    assert_error(Caller(aws, LONDO).list_messages(SEED_GROUP_UUID), 404, "message_group_not_found")
    assert ok(Caller(aws, BAYKO).list_messages(SEED_GROUP_UUID))[-1]["message"] == "They are always here."


def test_starting_a_conversation_with_a_legacy_partner_reuses_the_group(aws, seeded) -> None:
    event = with_body(load_event("create-message-new-conversation"), {"handle": "@bayko", "message": "Again!"})
    first = ok(aws.invoke("CreateMessageFunction", event))
    assert first["message_group_uuid"] == SEED_GROUP_UUID
    [pair] = pair_items(aws.table)
    assert pair["group_uuid"] == SEED_GROUP_UUID
    back = ok(Caller(aws, BAYKO).send("From my side", handle="andrewbrown"))
    assert back["message_group_uuid"] == SEED_GROUP_UUID
    assert census(aws.table) == {"GRP#": 2, "MSG#": 8, "PAIR#": 1, "GROUP#": 1}
    assert [item["message"] for item in messages_in(aws.table, SEED_GROUP_UUID)[-2:]] == ["Again!", "From my side"]


def test_legacy_lookup_finds_the_right_partner_among_many(aws) -> None:
    client = tutorial_client(aws)
    start = datetime(2025, 6, 1, 12, 0, 0, 1, tzinfo=timezone.utc)
    for number in range(1, 6):
        seed_conversation(client, f"00000000-0000-4000-b000-{number:012d}", ANDREW, stranger(number), start,
                          lines=["hi"])
    with_londo = "00000000-0000-4000-b000-000000000099"
    seed_conversation(client, with_londo, LONDO, ANDREW, datetime(2023, 2, 2, tzinfo=timezone.utc), lines=["old"])
    assert Caller(aws, ANDREW).start_conversation("londo", "Remember me?") == with_londo
    assert Caller(aws, LONDO).start_conversation("andrewbrown", "Of course") == with_londo
    assert [item["message"] for item in messages_in(aws.table, with_londo)] == ["old", "Remember me?", "Of course"]


def test_new_partner_next_to_legacy_data_gets_a_new_group(aws, seeded) -> None:
    created = ok(aws.invoke("CreateMessageFunction", load_event("create-message-new-conversation")))
    assert created["message_group_uuid"] != SEED_GROUP_UUID
    assert [group["handle"] for group in ok(Caller(aws, ANDREW).list_groups())] == ["londo", "bayko"]


def test_a_migrated_table_is_served_without_the_tutorial_fallback(aws, seeded, monkeypatch) -> None:
    """After bin/ddb/migrate, the adapter for tutorial-era data is never asked: reads, sends, the access check of a
    stranger and the reuse of the pair's group all go by the membership and pair items."""
    report = migrate_table(aws.table)
    assert (report.written["membership"], report.written["pair"]) == (1, 1)

    def fallback(*args, **kwargs):
        raise AssertionError("a fallback read on a migrated table")

    for method in ("members", "record_members", "pair_group"):
        monkeypatch.setattr(TutorialData, method, fallback)
    assert_migrated_conversation_served(aws, seeded)


def test_with_tutorial_data_migrated_a_migrated_table_is_served_without_the_adapter(aws, seeded, monkeypatch) -> None:
    """Deployed with ``TutorialData=migrated`` after bin/ddb/migrate: no function builds the adapter, and the
    tutorial-era conversation is served as before (read, written, its pair reused, a stranger refused)."""
    migrate_table(aws.table)
    aws.deploy_with(monkeypatch, TutorialData="migrated")

    def no_adapter(*args, **kwargs):
        raise AssertionError("the tutorial-era data adapter built with TutorialData=migrated")

    monkeypatch.setattr(TutorialData, "__init__", no_adapter)
    assert_migrated_conversation_served(aws, seeded)


def test_with_tutorial_data_migrated_an_unmigrated_tutorial_group_is_not_found(aws, seeded, monkeypatch) -> None:
    """Why operators run bin/ddb/migrate before deploying with ``TutorialData=migrated``: a group it did not upgrade
    still shows in its members' lists (its group rows), but opening or writing to it is a 404 and nothing records
    it; starting a conversation with the partner makes a second group for the pair."""
    aws.deploy_with(monkeypatch, TutorialData="migrated")
    before = snapshot(aws.table)
    for member in (ANDREW, BAYKO):
        assert [group["uuid"] for group in ok(Caller(aws, member).list_groups())] == [SEED_GROUP_UUID]
        assert_error(Caller(aws, member).list_messages(SEED_GROUP_UUID), 404, "message_group_not_found")
        assert_error(Caller(aws, member).send("Anyone?", group=SEED_GROUP_UUID), 404, "message_group_not_found")
    assert snapshot(aws.table) == before
    assert Caller(aws, ANDREW).start_conversation("bayko", "Hello again") != SEED_GROUP_UUID


def assert_migrated_conversation_served(aws, seeded) -> None:
    """The migrated seed conversation as its members and a stranger find it: read in full, written to, its pair
    reused for a conversation start, refused to londo; and exactly one more message from each send."""
    andrew, bayko = Caller(aws, ANDREW), Caller(aws, BAYKO)
    assert len(ok(andrew.list_messages(SEED_GROUP_UUID))) == len(seeded)
    ok(bayko.send("After the upgrade", group=SEED_GROUP_UUID))
    assert andrew.start_conversation("bayko", "Still us") == SEED_GROUP_UUID
    assert_error(Caller(aws, LONDO).list_messages(SEED_GROUP_UUID), 404, "message_group_not_found")
    assert census(aws.table) == {"GRP#": 2, "MSG#": len(seeded) + 2, "PAIR#": 1, "GROUP#": 1}
