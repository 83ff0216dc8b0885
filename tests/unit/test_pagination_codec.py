"""Cursors and page requests: a cursor is opaque, tamper-proof and bound to the list it came from."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from cruddur_messaging.errors import BadRequest
from cruddur_messaging.pagination import DEFAULT_LIMIT, MAX_CURSOR_LENGTH, CursorCodec, parse_page_request

KEY = b"k" * 48
GROUPS = "GRP#8d1b9c3e-2f4a-4b6c-9d7e-0a1b2c3d4e01"
OTHER_GROUPS = "GRP#8d1b9c3e-2f4a-4b6c-9d7e-0a1b2c3d4e02"
POSITION = {"pk": GROUPS, "sk": "2025-06-01T10:00:00.000001+00:00"}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed(payload: str, key: bytes = KEY) -> str:
    """A cursor with a valid signature over any payload: what only the holder of the key could make."""
    return f"{payload}.{b64(hmac.new(key, payload.encode(), hashlib.sha256).digest()[:16])}"


def flip(text: str, index: int) -> str:
    replacement = "A" if text[index] != "A" else "B"
    return text[:index] + replacement + text[index + 1:]


def refused(codec: CursorCodec, cursor: str, partition: str = GROUPS) -> None:
    with pytest.raises(BadRequest) as raised:
        codec.decode(cursor, partition)
    assert raised.value.code == "invalid_cursor"
    assert raised.value.status == 400


def signed_parts() -> tuple[CursorCodec, str, str]:
    """A codec, and the payload and signature of its cursor for ``POSITION``."""
    codec = CursorCodec(KEY)
    payload, signature = codec.encode(GROUPS, POSITION).split(".")
    return codec, payload, signature


class TestCursorCodec:
    def test_round_trip_returns_the_position(self) -> None:
        codec = CursorCodec(KEY)
        cursor = codec.encode(GROUPS, POSITION)
        assert codec.decode(cursor, GROUPS) == POSITION

    def test_cursor_is_opaque_url_safe_ascii(self) -> None:
        cursor = CursorCodec(KEY).encode(GROUPS, POSITION)
        assert cursor.isascii() and "=" not in cursor and "+" not in cursor and "/" not in cursor
        assert len(cursor) <= MAX_CURSOR_LENGTH

    @pytest.mark.parametrize("index", [0, 5, 20, -3])
    def test_tampered_payload_is_refused(self, index: int) -> None:
        codec, payload, signature = signed_parts()
        refused(codec, f"{flip(payload, index)}.{signature}")

    def test_payload_edited_to_another_position_is_refused(self) -> None:
        codec, _, signature = signed_parts()
        forged = b64(json.dumps({"p": GROUPS, "k": {**POSITION, "sk": "2099"}}, separators=(",", ":")).encode())
        refused(codec, f"{forged}.{signature}")

    @pytest.mark.parametrize("index", [0, 10, -1])
    def test_tampered_signature_is_refused(self, index: int) -> None:
        codec, payload, signature = signed_parts()
        refused(codec, f"{payload}.{flip(signature, index)}")

    def test_missing_or_empty_signature_is_refused(self) -> None:
        codec, payload, _ = signed_parts()
        refused(codec, payload)
        refused(codec, f"{payload}.")
        refused(codec, ".")

    def test_cursor_signed_with_another_key_is_refused(self) -> None:
        cursor = CursorCodec(b"another deployment's key").encode(GROUPS, POSITION)
        refused(CursorCodec(KEY), cursor)

    def test_cursor_of_another_partition_is_refused(self) -> None:
        codec = CursorCodec(KEY)
        refused(codec, codec.encode(GROUPS, POSITION), partition=OTHER_GROUPS)
        refused(codec, codec.encode(GROUPS, POSITION), partition="MSG#5ae290ed-55d1-47a0-bc6d-fe2bc2700399")

    def test_position_outside_its_own_partition_is_refused(self) -> None:
        # Signed as GROUPS but pointing into another user's rows: the key must belong to the partition.
        codec = CursorCodec(KEY)
        refused(codec, codec.encode(GROUPS, {"pk": OTHER_GROUPS, "sk": POSITION["sk"]}))

    @pytest.mark.parametrize("payload", [
        "!!!!",                                    # not base64 at all
        "a",                                       # impossible base64 length
        b64(b"\xff\xfe\xfd"),                      # base64 of bytes that are not UTF-8
        b64(b"not json"),
        b64(b"[1, 2]"),                            # JSON, but not an object
        b64(b'"GRP#x"'),
        b64(b'{"p": "' + GROUPS.encode() + b'"}'),  # no position
        b64(json.dumps({"p": GROUPS, "k": {"pk": GROUPS}}).encode()),
        b64(json.dumps({"p": GROUPS, "k": {"pk": GROUPS, "sk": 5}}).encode()),
        b64(json.dumps({"p": GROUPS, "k": {**POSITION, "extra": "x"}}).encode()),
    ])
    def test_validly_signed_garbage_is_refused_not_crashed(self, payload: str) -> None:
        refused(CursorCodec(KEY), signed(payload))

    @pytest.mark.parametrize("cursor", ["abc.é", "é", "eyJw.AAAA\u0000", "\ud800.x", "x" * 50 + ".💥"])
    def test_non_ascii_cursor_is_refused_not_crashed(self, cursor: str) -> None:
        refused(CursorCodec(KEY), cursor)

    def test_malformed_base64_with_a_forged_signature_is_refused(self) -> None:
        refused(CursorCodec(KEY), "%%%%.AAAAAAAAAAAAAAAAAAAAAA")


class TestParsePageRequest:
    def test_defaults(self) -> None:
        assert parse_page_request(None).limit == DEFAULT_LIMIT == 20
        assert parse_page_request({}).cursor is None

    @pytest.mark.parametrize("raw, limit", [("1", 1), ("20", 20), ("99", 99), ("100", 100), ("007", 7)])
    def test_limits_in_range(self, raw: str, limit: int) -> None:
        assert parse_page_request({"limit": raw}).limit == limit

    @pytest.mark.parametrize("raw", ["0", "101", "500", "-1", "+5", " 5", "5 ", "1.5", "1e2", "", "abc",
                                     "²", "٣", "１０", pytest.param("9" * 5000, id="5000-digits"), "0x10"])
    def test_limits_out_of_range_or_not_integers_are_400(self, raw: str) -> None:
        with pytest.raises(BadRequest) as raised:
            parse_page_request({"limit": raw})
        assert raised.value.code == "invalid_limit"

    def test_cursor_passes_through(self) -> None:
        assert parse_page_request({"cursor": "abc.def", "limit": "3"}).cursor == "abc.def"

    @pytest.mark.parametrize("cursor", ["", "x" * (MAX_CURSOR_LENGTH + 1)])
    def test_empty_or_oversized_cursor_is_400(self, cursor: str) -> None:
        with pytest.raises(BadRequest) as raised:
            parse_page_request({"cursor": cursor})
        assert raised.value.code == "invalid_cursor"
