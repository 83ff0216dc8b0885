"""Cold starts on demand: forget every per-container cache of the shared layer (clients, settings, caches)."""
from __future__ import annotations

import sys

from aws_lambda_powertools.utilities import parameters


def cold_start() -> None:
    for name, module in list(sys.modules.items()):
        if not name.startswith("cruddur_messaging"):
            continue
        for value in vars(module).values():
            if callable(getattr(value, "cache_clear", None)) and getattr(value, "__module__", None) == name:
                value.cache_clear()
    parameters.clear_caches()
