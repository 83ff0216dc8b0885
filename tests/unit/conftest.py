"""Fixtures of the unit tests: the table's stream, call counting, fault injection; live delivery's connections;
a clock the test moves."""
from tests.support.clock import clock  # noqa: F401 - a fixture for tests/unit
from tests.support.live import connections, live, management_api  # noqa: F401 - fixtures for tests/unit
from tests.support.stream_fixtures import calls, ddb, hooks, stream  # noqa: F401 - fixtures for tests/unit
