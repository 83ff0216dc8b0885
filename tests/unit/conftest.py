"""Fixtures of the stream function's tests (the table's stream, call counting, fault injection)."""
from tests.support.stream_fixtures import calls, ddb, hooks, stream  # noqa: F401 - fixtures for tests/unit
