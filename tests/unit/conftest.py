"""Fixtures of the unit tests: the table's stream, call counting, fault injection; live delivery's connections."""
from tests.support.live import connections, live, management_api  # noqa: F401 - fixtures for tests/unit
from tests.support.stream_fixtures import calls, ddb, hooks, stream  # noqa: F401 - fixtures for tests/unit
