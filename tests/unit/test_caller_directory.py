"""The caller's user row, cached per warm container for a bounded time (an injectable clock drives time)."""
from __future__ import annotations

import pytest

from cruddur_messaging.domain.identity import UNKNOWN_CALLER_TTL_SECONDS, CallerDirectory
from cruddur_messaging.errors import DependencyUnavailable, Forbidden, Unauthorized
from cruddur_messaging.models import User
from tests.support.clock import FakeClock
from tests.support.users import FakeUsers

TTL = 300.0
ANDREW = User(uuid="u-1", handle="andrewbrown", display_name="Andrew Brown", cognito_user_id="sub-1")
BAYKO = User(uuid="u-2", handle="bayko", display_name="Andrew Bayko", cognito_user_id="sub-2")


@pytest.fixture
def users() -> FakeUsers:
    return FakeUsers(ANDREW, BAYKO)


@pytest.fixture
def directory(users: FakeUsers, clock: FakeClock) -> CallerDirectory:
    return CallerDirectory(users, ttl_seconds=TTL, clock=clock)


def test_first_request_looks_the_caller_up(directory: CallerDirectory, users: FakeUsers) -> None:
    assert directory.resolve("sub-1") == ANDREW
    assert users.lookups == ["sub-1"]


def test_warm_requests_within_the_ttl_make_no_lookup(directory: CallerDirectory, users: FakeUsers,
                                                     clock: FakeClock) -> None:
    directory.resolve("sub-1")
    for _ in range(5):
        clock.advance(TTL / 6)
        assert directory.resolve("sub-1") == ANDREW
    assert users.lookups == ["sub-1"]


def test_entry_expires_after_the_ttl_and_sees_changes(directory: CallerDirectory, users: FakeUsers,
                                                      clock: FakeClock) -> None:
    directory.resolve("sub-1")
    renamed = User(uuid="u-1", handle="andrewbrown", display_name="Andrew B.", cognito_user_id="sub-1")
    users.rows["sub-1"] = renamed
    clock.advance(TTL - 0.001)
    assert directory.resolve("sub-1") == ANDREW
    clock.advance(0.001)  # exactly the TTL: expired
    assert directory.resolve("sub-1") == renamed
    assert users.lookups == ["sub-1", "sub-1"]


def test_each_caller_is_cached_separately(directory: CallerDirectory, users: FakeUsers) -> None:
    assert directory.resolve("sub-1") == ANDREW
    assert directory.resolve("sub-2") == BAYKO
    assert directory.resolve("sub-1") == ANDREW
    assert directory.resolve("sub-2") == BAYKO
    assert users.lookups == ["sub-1", "sub-2"]


@pytest.mark.parametrize("sub", [None, ""])
def test_no_sub_is_401_without_a_lookup(directory: CallerDirectory, users: FakeUsers, sub: str | None) -> None:
    with pytest.raises(Unauthorized) as raised:
        directory.resolve(sub)
    assert (raised.value.status, raised.value.code) == (401, "unauthorized")
    assert users.lookups == []


def test_unknown_sub_is_403_and_remembered_only_briefly(directory: CallerDirectory, users: FakeUsers,
                                                         clock: FakeClock) -> None:
    for _ in range(3):
        with pytest.raises(Forbidden) as raised:
            directory.resolve("sub-unknown")
        assert (raised.value.status, raised.value.code) == (403, "caller_not_registered")
        clock.advance(UNKNOWN_CALLER_TTL_SECONDS / 4)
    assert users.lookups == ["sub-unknown"]  # a burst of its requests costs one query
    # A user who signs up a moment later must not be locked out for a whole TTL.
    users.rows["sub-unknown"] = User(uuid="u-9", handle="newcomer", display_name="New", cognito_user_id="sub-unknown")
    clock.advance(UNKNOWN_CALLER_TTL_SECONDS / 4)
    assert directory.resolve("sub-unknown").handle == "newcomer"
    assert users.lookups == ["sub-unknown"] * 2
    clock.advance(UNKNOWN_CALLER_TTL_SECONDS)
    assert directory.resolve("sub-unknown").handle == "newcomer"  # and now cached for the full TTL
    assert users.lookups == ["sub-unknown"] * 2


def test_outage_propagates_and_does_not_poison_the_cache(directory: CallerDirectory, users: FakeUsers) -> None:
    users.down = True
    with pytest.raises(DependencyUnavailable):
        directory.resolve("sub-1")
    users.down = False
    assert directory.resolve("sub-1") == ANDREW
    assert directory.resolve("sub-1") == ANDREW
    assert users.lookups == ["sub-1", "sub-1"]


def test_cached_caller_survives_an_outage_until_the_ttl(directory: CallerDirectory, users: FakeUsers,
                                                        clock: FakeClock) -> None:
    directory.resolve("sub-1")
    users.down = True
    clock.advance(TTL / 2)
    assert directory.resolve("sub-1") == ANDREW
    clock.advance(TTL / 2)
    with pytest.raises(DependencyUnavailable):
        directory.resolve("sub-1")


def test_expired_entries_are_evicted_when_others_are_added(directory: CallerDirectory, clock: FakeClock) -> None:
    directory.resolve("sub-1")
    clock.advance(TTL + 1)
    directory.resolve("sub-2")
    assert set(directory._cache) == {"sub-2"}
