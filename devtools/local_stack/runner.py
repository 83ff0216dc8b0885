"""Invokes the template's functions in-process, one request at a time per function.

Lambda runs one request per container at a time and the handlers are written for that (module-level clients,
caches), so concurrent HTTP requests to the same function are serialised here instead of racing in one module.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Mapping

from devtools.functions import context_for, handler_of
from devtools.template import FunctionSpec

log = logging.getLogger(__name__)


class FunctionTimedOut(Exception):
    """The handler ran past the function's Timeout: in Lambda the invocation would have failed."""


class FunctionRunner:
    def __init__(self, specs: Mapping[str, FunctionSpec]) -> None:
        self.specs = dict(specs)
        self._locks = {logical_id: threading.Lock() for logical_id in self.specs}

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        """Runs the handler once and returns what it returned; its exceptions propagate (an import error on the
        first call is a failed cold start, as in Lambda)."""
        spec = self.specs[logical_id]
        with self._locks[logical_id]:
            started = time.monotonic()
            result = handler_of(spec)(event, context_for(spec))
            elapsed = time.monotonic() - started
        if elapsed > spec.timeout_seconds:
            raise FunctionTimedOut(f"{logical_id} took {elapsed:.1f}s, over its {spec.timeout_seconds}s timeout")
        log.debug("%s returned in %.0f ms", logical_id, elapsed * 1000)
        return result
