"""What a client may send: the body of POST /api/messages, handles and group uuids.

Malformed input is a 400, a well-formed request that breaks a rule is a 422, and nothing here ever raises
anything but an ApiError.
"""
from __future__ import annotations

from typing import Any

import pytest

from cruddur_messaging.domain.create_message import NewMessageRequest
from cruddur_messaging.domain.validation import normalize_handle, parse_message_group_uuid
from cruddur_messaging.errors import ApiError, BadRequest
from cruddur_messaging.models import MESSAGE_MAX_CHARS

GROUP = "5ae290ed-55d1-47a0-bc6d-fe2bc2700399"


def refused(body: Any, status: int, code: str) -> None:
    with pytest.raises(ApiError) as raised:
        NewMessageRequest.parse(body)
    assert (raised.value.status, raised.value.code) == (status, code)


class TestNewMessageRequest:
    def test_message_into_a_group(self) -> None:
        request = NewMessageRequest.parse({"message": "Hi", "message_group_uuid": GROUP})
        assert request == NewMessageRequest(message="Hi", message_group_uuid=GROUP, handle=None)

    def test_group_uuid_is_canonicalised(self) -> None:
        request = NewMessageRequest.parse({"message": "Hi", "message_group_uuid": GROUP.upper()})
        assert request.message_group_uuid == GROUP

    def test_message_to_a_handle_drops_the_at_sign(self) -> None:
        request = NewMessageRequest.parse({"message": "Hi", "handle": "@londo"})
        assert request == NewMessageRequest(message="Hi", message_group_uuid=None, handle="londo")

    def test_message_text_is_kept_verbatim(self) -> None:
        text = "  Two spaces before, a newline after\n"
        assert NewMessageRequest.parse({"message": text, "handle": "bayko"}).message == text

    def test_unknown_fields_are_ignored(self) -> None:
        assert NewMessageRequest.parse({"message": "Hi", "handle": "bayko", "extra": 1}).handle == "bayko"

    def test_exactly_the_maximum_length_is_accepted(self) -> None:
        text = "x" * MESSAGE_MAX_CHARS
        assert NewMessageRequest.parse({"message": text, "handle": "bayko"}).message == text

    @pytest.mark.parametrize("body", [None, [], ["message"], "message", 42, True])
    def test_body_that_is_not_an_object_is_400(self, body: Any) -> None:
        refused(body, 400, "invalid_body")

    @pytest.mark.parametrize("message", [42, ["Hi"], {"text": "Hi"}, False, "\ud800", "ok \udfff"])
    def test_message_that_is_not_a_string_of_unicode_text_is_400(self, message: Any) -> None:
        refused({"message": message, "handle": "bayko"}, 400, "invalid_message")

    @pytest.mark.parametrize("body", [
        {"message": "Hi"},
        {"message": "Hi", "handle": None, "message_group_uuid": None},
        {"message": "Hi", "handle": "bayko", "message_group_uuid": GROUP},
    ])
    def test_neither_or_both_targets_is_400(self, body: dict[str, Any]) -> None:
        refused(body, 400, "message_group_uuid_or_handle_required")

    @pytest.mark.parametrize("group", ["not-a-uuid", "", 42, ["x"], GROUP[:-1], GROUP + "0"])
    def test_malformed_group_uuid_is_400(self, group: Any) -> None:
        refused({"message": "Hi", "message_group_uuid": group}, 400, "invalid_message_group_uuid")

    @pytest.mark.parametrize("handle", ["", "@", "two words", "semi;colon", "x" * 65, 42, ["bayko"], "bäyko"])
    def test_malformed_handle_is_400(self, handle: Any) -> None:
        refused({"message": "Hi", "handle": handle}, 400, "invalid_handle")

    @pytest.mark.parametrize("message", [None, "", " ", "   ", "\n\t  \r\n", "\u3000"])
    def test_blank_or_missing_message_is_422_message_blank(self, message: Any) -> None:
        body = {"handle": "bayko"} if message is None else {"handle": "bayko", "message": message}
        refused(body, 422, "message_blank")

    def test_message_over_the_maximum_is_422_message_exceed_max_chars(self) -> None:
        refused({"message": "x" * (MESSAGE_MAX_CHARS + 1), "message_group_uuid": GROUP}, 422,
                "message_exceed_max_chars")

    def test_length_counts_characters_not_bytes(self) -> None:
        text = "é" * MESSAGE_MAX_CHARS  # 2048 bytes in UTF-8
        assert NewMessageRequest.parse({"message": text, "handle": "bayko"}).message == text

    def test_malformed_request_is_refused_before_the_rules(self) -> None:
        # A blank message to a malformed target: the 400 wins, the client must fix the request first.
        refused({"message": " ", "message_group_uuid": "nope"}, 400, "invalid_message_group_uuid")


class TestNormalizeHandle:
    @pytest.mark.parametrize("raw, handle", [
        ("bayko", "bayko"), ("@bayko", "bayko"), ("  @bayko ", "bayko"), ("Andrew.Brown_2-x", "Andrew.Brown_2-x"),
        ("x" * 64, "x" * 64),
    ])
    def test_valid_handles(self, raw: str, handle: str) -> None:
        assert normalize_handle(raw) == handle

    @pytest.mark.parametrize("raw", [None, 7, "", "@", "@@bayko", "x" * 65, "bay ko", "bay/ko", "../etc", "bäyko",
                                     "bayko\u0000", "<script>"])
    def test_invalid_handles_are_400(self, raw: Any) -> None:
        with pytest.raises(BadRequest) as raised:
            normalize_handle(raw)
        assert raised.value.code == "invalid_handle"


class TestParseMessageGroupUuid:
    @pytest.mark.parametrize("raw", [GROUP, GROUP.upper(), GROUP.replace("-", ""), "{" + GROUP + "}"])
    def test_canonical_form(self, raw: str) -> None:
        assert parse_message_group_uuid(raw) == GROUP

    @pytest.mark.parametrize("raw", [None, 1, "", "not-a-uuid", "5ae290ed", GROUP + "x", "ñ" * 36])
    def test_invalid_uuids_are_400(self, raw: Any) -> None:
        with pytest.raises(BadRequest) as raised:
            parse_message_group_uuid(raw)
        assert raised.value.code == "invalid_message_group_uuid"
