"""PATCH and DELETE /api/messages/{message_group_uuid}/{message_uuid}: who may, what is stored, what lists show,
and what reality does to them: concurrent edits and deletes, a delete racing an edit, lost responses, and a keyed
send in doubt whose message is deleted before its retry (docs/http-api.md, "Edit and delete")."""
from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from boto3.dynamodb.conditions import ConditionExpressionBuilder

from cruddur_messaging.clock import parse_timestamp
from cruddur_messaging.data import keys
from cruddur_messaging.data.messages import MESSAGE_TIME_SLACK, MessageStore
from cruddur_messaging.domain import create_message as create_message_module
from cruddur_messaging.domain.create_message import SendPlan
from cruddur_messaging.message_ids import time_of
from cruddur_messaging.models import MESSAGE_MAX_CHARS
from devtools.environment import template_context
from tests.support.api import assert_error, ok
from tests.support.calls import operation_is, record_calls, writes_to
from tests.support.client import Caller, change_message_event
from tests.support.concurrency import metrics_disabled, separate_container, serialize_moto  # noqa: F401
from tests.support.events import SEED_GROUP_UUID
from tests.support.faults import lose_responses
from tests.support.people import ANDREW, BAYKO, LONDO
from tests.support.table import messages_in, scan_all, snapshot

# Three attempts in all (CLIENT_CONFIG): each one applied, each answer lost, so the SDK gives up with a read timeout.
EVERY_ATTEMPT = 3


def _updates_of_messages(operation: str, params: dict[str, Any]) -> bool:
    pk = params.get("Key", {}).get("pk", {})
    return operation == "UpdateItem" and str(pk.get("S", "")).startswith(keys.MESSAGE_PREFIX)


def the_item(aws, message_uuid: str) -> dict[str, Any]:
    [item] = [item for item in scan_all(aws.table) if item.get("message_uuid") == message_uuid]
    return item


def conversation(aws) -> tuple[Caller, Caller, str, dict[str, Any]]:
    """andrewbrown and bayko, their new conversation, and andrewbrown's newest message in it."""
    andrew, bayko = Caller(aws, ANDREW), Caller(aws, BAYKO)
    group = andrew.start_conversation("bayko", "Hello")
    ok(bayko.send("Hi!", group=group))
    sent = ok(andrew.send("See you on Tuesdya", group=group))
    return andrew, bayko, group, sent


def test_the_sender_edits_and_lists_show_the_edit(aws) -> None:
    andrew, bayko, group, sent = conversation(aws)
    edited = ok(andrew.edit(group, sent["uuid"], "See you on Tuesday"))

    assert edited == {**sent, "message": "See you on Tuesday", "edited_at": edited["edited_at"]}
    assert parse_timestamp(edited["edited_at"]) >= parse_timestamp(sent["created_at"])
    for member in (andrew, bayko):
        assert ok(member.list_messages(group))[-1] == edited
    item = the_item(aws, sent["uuid"])
    assert (item["message"], item["edited_at"], item["sk"]) == ("See you on Tuesday", edited["edited_at"],
                                                                   sent["created_at"])


def test_the_same_edit_twice_gives_the_same_answer_and_writes_once(aws, monkeypatch) -> None:
    andrew, _, group, sent = conversation(aws)
    first = ok(andrew.edit(group, sent["uuid"], "See you on Tuesday"))
    after = snapshot(aws.table)
    calls = record_calls(monkeypatch)
    assert ok(andrew.edit(group, sent["uuid"], "See you on Tuesday")) == first
    assert snapshot(aws.table) == after and "UpdateItem" not in calls.dynamodb()


def test_another_member_gets_403_a_stranger_and_an_unknown_message_404(aws) -> None:
    andrew, bayko, group, sent = conversation(aws)
    before = snapshot(aws.table)
    assert_error(bayko.edit(group, sent["uuid"], "Mine now"), 403, "not_sender")
    assert_error(bayko.delete(group, sent["uuid"]), 403, "not_sender")
    londo = Caller(aws, LONDO)
    assert_error(londo.edit(group, sent["uuid"], "Mine now"), 404, "message_not_found")
    assert_error(londo.delete(group, sent["uuid"]), 404, "message_not_found")
    for unknown in (str(uuid.uuid4()), "019ad2f4-3c5e-7a1b-9c3d-5e6f7a8b9c0d", "ffffffff-ffff-7fff-bfff-ffffffffffff"):
        assert_error(andrew.edit(group, unknown, "Nothing"), 404, "message_not_found")
        assert_error(andrew.delete(group, unknown), 404, "message_not_found")
    # The message of another group, named with this one: not found either.
    other = andrew.start_conversation("londo", "Hello Londo")
    assert_error(andrew.delete(other, sent["uuid"]), 404, "message_not_found")
    assert [item for item in snapshot(aws.table) if item.get("pk") == keys.messages_pk(group)] == [
        item for item in before if item.get("pk") == keys.messages_pk(group)]


def test_malformed_and_rule_breaking_edits_are_4xx_and_write_nothing(aws) -> None:
    andrew, _, group, sent = conversation(aws)
    before = snapshot(aws.table)
    assert_error(andrew.edit(group, sent["uuid"], "   \n"), 422, "message_blank")
    assert_error(andrew.edit(group, sent["uuid"], "x" * (MESSAGE_MAX_CHARS + 1)), 422, "message_exceed_max_chars")
    assert_error(andrew.edit(group, sent["uuid"], 42), 400, "invalid_message")
    assert_error(andrew.edit(group, sent["uuid"], "\ud800"), 400, "invalid_message")
    assert_error(andrew.edit(group, "not-a-uuid", "Hi"), 400, "invalid_message_uuid")
    assert_error(andrew.delete("not-a-uuid", sent["uuid"]), 400, "invalid_message_group_uuid")
    event = change_message_event(ANDREW, group, sent["uuid"], {"message": "Hi"})
    event["body"] = "[1, 2]"
    assert_error(aws.invoke("EditMessageFunction", event), 400, "invalid_body")
    event["body"] = "{not json"
    assert_error(aws.invoke("EditMessageFunction", event), 400, "invalid_json")
    assert snapshot(aws.table) == before
    assert ok(andrew.edit(group, sent["uuid"], "x" * MESSAGE_MAX_CHARS))["message"] == "x" * MESSAGE_MAX_CHARS


def test_a_delete_removes_the_text_from_the_table_and_lists_show_a_tombstone(aws) -> None:
    andrew, bayko, group, sent = conversation(aws)
    ok(andrew.edit(group, sent["uuid"], "Secret plans"))
    deleted = ok(andrew.delete(group, sent["uuid"]))

    assert deleted == {"message_group_uuid": group, "uuid": sent["uuid"], "deleted_at": deleted["deleted_at"]}
    item = the_item(aws, sent["uuid"])
    assert "message" not in item and "edited_at" not in item and item["deleted_at"] == deleted["deleted_at"]
    assert (item["user_uuid"], item["sk"]) == (ANDREW.uuid, sent["created_at"])
    assert not any("Secret plans" in str(item) or "Tuesdya" in str(item) for item in messages_in(aws.table, group))
    tombstone = {**sent, "message": "", "deleted_at": deleted["deleted_at"]}
    for member in (andrew, bayko):
        assert ok(member.list_messages(group))[-1] == tombstone
    assert ok(andrew.delete(group, sent["uuid"])) == deleted  # again: the same answer
    assert_error(andrew.edit(group, sent["uuid"], "Back again"), 404, "message_not_found")
    assert "message" not in the_item(aws, sent["uuid"])


def test_pages_stay_whole_and_cursors_correct_around_tombstones(aws) -> None:
    andrew, _, group, _ = conversation(aws)
    sent = [ok(andrew.send(f"line {number}", group=group)) for number in range(7)]
    for message in sent[1::2]:
        ok(andrew.delete(group, message["uuid"]))
    pages = andrew.all_messages(group, limit="2")
    listed = [message for page in reversed(pages) for message in page]
    assert all(len(page) == 2 for page in pages[:-1])
    assert [message["uuid"] for message in listed][-7:] == [message["uuid"] for message in sent]
    assert [message["message"] for message in listed][-7:] == ["line 0", "", "line 2", "", "line 4", "", "line 6"]
    assert len(listed) == len({message["uuid"] for message in listed}) == 3 + 7


def test_a_new_message_is_found_by_its_uuidv7_with_one_query_of_its_millisecond(aws, monkeypatch) -> None:
    andrew, _, group, sent = conversation(aws)
    moment = time_of(sent["uuid"])
    assert moment is not None and uuid.UUID(sent["uuid"]).version == 7
    created = parse_timestamp(sent["created_at"])
    assert moment <= created < moment.replace(microsecond=moment.microsecond + 1000)

    calls = record_calls(monkeypatch)
    ok(andrew.delete(group, sent["uuid"]))
    [lookup] = calls.dynamodb_calls("Query")
    built = ConditionExpressionBuilder().build_expression(lookup["KeyConditionExpression"], is_key_condition=True)
    assert "BETWEEN" in built.condition_expression and lookup["ConsistentRead"] is True
    low, high = sorted(value for value in built.attribute_value_placeholders.values()
                       if value != keys.messages_pk(group))
    assert parse_timestamp(low) == moment and parse_timestamp(high) - moment == MESSAGE_TIME_SLACK


def test_a_tutorial_era_message_is_found_by_reading_its_conversation(aws, seeded) -> None:
    andrew = Caller(aws, ANDREW)
    [first] = [message for message in seeded if message["handle"] == ANDREW.handle][:1]
    assert time_of(first["uuid"]) is None
    edited = ok(andrew.edit(SEED_GROUP_UUID, first["uuid"], "Edited years later"))
    assert (edited["uuid"], edited["created_at"], edited["message"]) == (first["uuid"], first["created_at"],
                                                                          "Edited years later")
    deleted = ok(andrew.delete(SEED_GROUP_UUID, first["uuid"]))
    assert "message" not in the_item(aws, first["uuid"]) and deleted["uuid"] == first["uuid"]


def test_a_message_moved_past_its_millisecond_by_a_taken_slot_is_still_found(aws) -> None:
    """Two messages planned for the same microsecond: the second moves on, maybe into the next millisecond."""
    andrew, _, group, _ = conversation(aws)
    at = "2026-12-06T06:00:00.999999+00:00"
    plans = iter([SendPlan(message_uuid=create_message_module.uuid7_at(at), created_at=at,
                                                 group_uuid=str(uuid.uuid4())) for _ in range(2)])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(create_message_module.SendPlan, "fresh", classmethod(lambda cls: next(plans)))
        first = ok(andrew.send("first", group=group))
        second = ok(andrew.send("second", group=group))
    assert (first["created_at"], second["created_at"]) == (at, "2026-12-06T06:00:01.000000+00:00")
    assert ok(andrew.edit(group, second["uuid"], "second, edited"))["created_at"] == second["created_at"]
    assert ok(andrew.edit(group, first["uuid"], "first, edited"))["created_at"] == first["created_at"]


def test_an_edit_whose_response_is_lost_is_answered_once_and_stored_once(aws, monkeypatch) -> None:
    andrew, _, group, sent = conversation(aws)
    faults = lose_responses(monkeypatch, _updates_of_messages)
    edited = ok(andrew.edit(group, sent["uuid"], "See you on Tuesday"))
    assert faults.lost == ["UpdateItem"] and len(faults.sent_of("UpdateItem")) == 2
    item = the_item(aws, sent["uuid"])
    assert (item["message"], item["edited_at"]) == ("See you on Tuesday", edited["edited_at"])


def test_a_delete_whose_response_is_lost_answers_the_deleted_at_it_stored(aws, monkeypatch) -> None:
    andrew, _, group, sent = conversation(aws)
    faults = lose_responses(monkeypatch, _updates_of_messages)
    deleted = ok(andrew.delete(group, sent["uuid"]))
    assert faults.lost == ["UpdateItem"] and len(faults.sent_of("UpdateItem")) == 2
    item = the_item(aws, sent["uuid"])
    assert item["deleted_at"] == deleted["deleted_at"] and "message" not in item
    assert ok(andrew.delete(group, sent["uuid"])) == deleted


def test_a_keyed_send_in_doubt_then_deleted_is_not_brought_back_by_its_retry(aws, monkeypatch) -> None:
    andrew, bayko, group, _ = conversation(aws)
    lose_responses(monkeypatch, writes_to("MSG#"), times=EVERY_ATTEMPT)
    assert_error(andrew.send("Regrettable", group=group, idempotency_key="doubt-1"), 503, "dependency_unavailable")
    [stored] = [item for item in messages_in(aws.table, group) if item.get("message") == "Regrettable"]
    deleted = ok(andrew.delete(group, stored["message_uuid"]))

    answer = ok(andrew.send("Regrettable", group=group, idempotency_key="doubt-1"))
    assert answer == {"uuid": stored["message_uuid"], "display_name": ANDREW.display_name,
                      "handle": ANDREW.handle, "message": "", "created_at": stored["sk"], "edited_at": None,
                      "deleted_at": deleted["deleted_at"]}
    item = the_item(aws, stored["message_uuid"])
    assert "message" not in item and item["deleted_at"] == deleted["deleted_at"]
    assert not any(item.get("message") == "Regrettable" for item in scan_all(aws.table))
    assert ok(bayko.list_messages(group))[-1]["deleted_at"] == deleted["deleted_at"]


def test_a_keyed_send_in_doubt_then_edited_keeps_the_edit_after_its_retry(aws, monkeypatch) -> None:
    andrew, _, group, _ = conversation(aws)
    lose_responses(monkeypatch, writes_to("MSG#"), times=EVERY_ATTEMPT)
    assert_error(andrew.send("Draft", group=group, idempotency_key="doubt-2"), 503, "dependency_unavailable")
    [stored] = [item for item in messages_in(aws.table, group) if item.get("message") == "Draft"]
    edited = ok(andrew.edit(group, stored["message_uuid"], "Final"))

    assert ok(andrew.send("Draft", group=group, idempotency_key="doubt-2")) == edited
    assert the_item(aws, stored["message_uuid"])["message"] == "Final"


def test_a_keyed_new_conversation_in_doubt_then_deleted_stays_deleted_after_its_retry(aws, monkeypatch) -> None:
    """The retry finds the pair naming its planned group (the transaction went through) and writes nothing."""
    andrew = Caller(aws, ANDREW)
    lose_responses(monkeypatch, operation_is("TransactWriteItems"), times=EVERY_ATTEMPT)
    assert_error(andrew.send("Hello Londo", handle="londo", idempotency_key="start-doubt"), 503,
                 "dependency_unavailable")
    [first] = [item for item in scan_all(aws.table)
               if item.get("message") == "Hello Londo" and item["pk"].startswith(keys.MESSAGE_PREFIX)]
    group = first["pk"].removeprefix(keys.MESSAGE_PREFIX)
    ok(andrew.delete(group, first["message_uuid"]))
    before = snapshot(aws.table)

    assert ok(andrew.send("Hello Londo", handle="londo", idempotency_key="start-doubt"))["message_group_uuid"] == group
    assert [item for item in snapshot(aws.table) if not item["pk"].startswith("IDEMPOTENCY#")] == [
        item for item in before if not item["pk"].startswith("IDEMPOTENCY#")]
    assert "message" not in the_item(aws, first["message_uuid"])


def test_a_resent_put_whose_message_was_deleted_meanwhile_writes_nothing(aws, monkeypatch) -> None:
    """The SDK's own resend of a put (its first response lost) meets the message deleted in between."""
    andrew, _, group, _ = conversation(aws)
    store = MessageStore(aws.table, template_context(aws.resources)["MessageGroupIndexName"])
    plan = SendPlan.fresh()
    item = store.put_message(group, ANDREW, "Gone soon", plan.message_uuid, plan.created_at)
    ok(andrew.delete(group, plan.message_uuid))
    again = store.put_message(group, ANDREW, "Gone soon", plan.message_uuid, plan.created_at)
    assert again["sk"] == item["sk"] and "message" not in again and "deleted_at" in again
    assert "message" not in the_item(aws, plan.message_uuid)


def test_concurrent_edits_and_deletes_end_deleted_and_every_answer_is_true(aws, monkeypatch,
                                                                           metrics_disabled) -> None:  # noqa: F811
    serialize_moto(monkeypatch)
    _, _, group, sent = conversation(aws)
    start = threading.Barrier(8)

    def change(number: int) -> dict[str, Any]:
        handler = separate_container(aws, "EditMessageFunction", f"race{number}")
        body = {"message": f"edit {number}"} if number % 2 else None
        event = change_message_event(ANDREW, group, sent["uuid"], body)
        start.wait()
        return handler(event)

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(change, range(8)))

    item = the_item(aws, sent["uuid"])
    assert "message" not in item and "edited_at" not in item
    deletes = [ok(answer) for number, answer in enumerate(answers) if number % 2 == 0]
    assert {answer["deleted_at"] for answer in deletes} == {item["deleted_at"]}
    for number, answer in enumerate(answers):
        if number % 2:
            assert answer["statusCode"] in (200, 404)
            if answer["statusCode"] == 200:
                assert ok(answer)["message"] == f"edit {number}"
                assert ok(answer)["edited_at"] <= item["deleted_at"]
            else:
                assert_error(answer, 404, "message_not_found")


def test_a_delete_racing_an_edit_is_final_whichever_write_comes_first(aws, monkeypatch) -> None:
    """The edit reads the message before the delete and writes after it: its condition refuses, it answers 404."""
    andrew, _, group, sent = conversation(aws)
    edit_message = MessageStore.edit_message

    def delete_first(store: MessageStore, message: dict[str, Any], *args: Any) -> Any:
        ok(andrew.delete(group, sent["uuid"]))
        return edit_message(store, message, *args)

    monkeypatch.setattr(MessageStore, "edit_message", delete_first)
    assert_error(andrew.edit(group, sent["uuid"], "Too late"), 404, "message_not_found")
    item = the_item(aws, sent["uuid"])
    assert "message" not in item and "deleted_at" in item
