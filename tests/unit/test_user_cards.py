"""users-short's cards, cached per warm container: a minute for a user, a few seconds for a handle of nobody."""
from __future__ import annotations

import pytest

from cruddur_messaging.domain.users_short import CARD_MAX_AGE_SECONDS, UNKNOWN_HANDLE_TTL_SECONDS, UserCards
from cruddur_messaging.errors import BadRequest, DependencyUnavailable, NotFound
from cruddur_messaging.models import User, UserShort
from tests.support.clock import FakeClock
from tests.support.users import FakeUsers

BAYKO = User(uuid="u-2", handle="bayko", display_name="Andrew Bayko", cognito_user_id="sub-2")


@pytest.fixture
def users() -> FakeUsers:
    return FakeUsers(BAYKO, by="handle")


@pytest.fixture
def cards(users: FakeUsers, clock: FakeClock) -> UserCards:
    return UserCards(users, clock=clock)


def test_a_card_is_looked_up_once_per_minute_whatever_the_spelling(cards, users, clock) -> None:
    assert cards.find("@bayko") == UserShort(uuid="u-2", handle="bayko", display_name="Andrew Bayko")
    clock.advance(CARD_MAX_AGE_SECONDS - 1)
    assert cards.find("bayko") == cards.find("@BAYKO") == UserShort.of(BAYKO)
    assert users.lookups == ["bayko"]
    users.rows["bayko"] = User(uuid="u-2", handle="bayko", display_name="Bayko", cognito_user_id="sub-2")
    clock.advance(1)
    assert cards.find("@bayko").display_name == "Bayko"  # a change shows after the minute
    assert users.lookups == ["bayko", "bayko"]


def test_a_handle_of_nobody_is_remembered_for_seconds_only(cards, users, clock) -> None:
    for _ in range(3):
        with pytest.raises(NotFound) as raised:
            cards.find("@newcomer")
        assert raised.value.code == "user_not_found"
    assert users.lookups == ["newcomer"]
    users.rows["newcomer"] = User(uuid="u-9", handle="newcomer", display_name="New", cognito_user_id="sub-9")
    clock.advance(UNKNOWN_HANDLE_TTL_SECONDS)
    assert cards.find("@newcomer").handle == "newcomer"
    assert users.lookups == ["newcomer", "newcomer"]


def test_an_outage_is_not_cached(cards, users) -> None:
    users.down = True
    with pytest.raises(DependencyUnavailable):
        cards.find("@bayko")
    users.down = False
    assert cards.find("@bayko").handle == "bayko"
    assert users.lookups == ["bayko", "bayko"]


def test_a_malformed_handle_is_a_400_without_a_lookup(cards, users) -> None:
    with pytest.raises(BadRequest):
        cards.find("@not a handle")
    assert users.lookups == []
