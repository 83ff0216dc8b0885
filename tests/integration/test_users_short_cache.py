"""users-short through its handler: the card's Cache-Control, and a warm container that answers repeated lookups,
known or unknown, without PostgreSQL."""
from __future__ import annotations

from cruddur_messaging.domain.users_short import CARD_MAX_AGE_SECONDS
from tests.support.api import assert_error, header, ok
from tests.support.calls import record_calls
from tests.support.events import load_event


def test_the_card_may_be_cached_by_the_browser_for_a_minute(aws) -> None:
    response = aws.invoke("UsersShortFunction", load_event("users-short"))
    assert ok(response)["handle"] == "bayko"
    assert header(response, "Cache-Control") == f"public, max-age={CARD_MAX_AGE_SECONDS}"


def test_an_unknown_handle_is_not_cached_by_the_browser(aws) -> None:
    response = aws.invoke("UsersShortFunction", load_event("users-short-unknown"))
    assert_error(response, 404, "user_not_found")
    assert header(response, "Cache-Control") is None


def test_repeated_lookups_reach_postgres_once(aws, monkeypatch) -> None:
    calls = record_calls(monkeypatch)
    for _ in range(3):
        assert ok(aws.invoke("UsersShortFunction", load_event("users-short")))["handle"] == "bayko"
        assert_error(aws.invoke("UsersShortFunction", load_event("users-short-unknown")), 404, "user_not_found")
    assert calls.sql == ["user_by_handle", "user_by_handle"]
