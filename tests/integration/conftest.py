"""Fixtures of the integration tests: the call log, and the tutorial's seeded conversation."""
from __future__ import annotations

import pytest

from tests.support.calls import CallLog, record_calls
from tests.support.events import SEED_GROUP_UUID
from tests.support.live import connections, live, management_api  # noqa: F401 - fixtures of the live functions
from tests.support.people import ANDREW, BAYKO
from tests.support.stream_fixtures import stream  # noqa: F401 - the table's stream, for tests that run pattern E
from tests.support.tutorial import SEEDED_AT, seed_conversation, tutorial_client


@pytest.fixture
def calls(aws, monkeypatch: pytest.MonkeyPatch) -> CallLog:
    return record_calls(monkeypatch)


@pytest.fixture
def seeded(aws) -> list[dict[str, str]]:
    """The tutorial's Babylon 5 conversation between andrewbrown and bayko in the seed group, from 2023,
    written the tutorial's way (only GRP# rows and MSG# items). The files in ``events/`` point at it."""
    return seed_conversation(tutorial_client(aws), SEED_GROUP_UUID, ANDREW, BAYKO, SEEDED_AT)
