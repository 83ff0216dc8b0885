"""Cold starts on demand: what a new Lambda container has is a fresh import of its handler module.

Every per-container object - settings, clients, stores, caches, the PostgreSQL connection - belongs to the
container that handler module builds at import (``cruddur_messaging.containers``), so forgetting the imported
handler modules forgets all of it; ``tests/unit/test_containers.py`` fails if a layer module keeps a cache of its
own. Powertools' default parameter providers are process-wide, hence cleared too.
"""
from __future__ import annotations

from aws_lambda_powertools.utilities import parameters

from devtools.functions import forget_handler_modules


def cold_start() -> None:
    forget_handler_modules()
    parameters.clear_caches()
