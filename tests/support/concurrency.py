"""Concurrent requests in one process: one container per request, and a moto that is atomic per request.

Containers. ``Aws.invoke`` runs every request through one module per function, as one container would; Lambda
never sends a container two requests at once, and the Powertools resolver keeps the current event on the
module's ``app``.
Concurrent requests therefore each get a container of their own here: a separate import of the function's
``app.py``, with its own container (``cruddur_messaging.containers``: clients, caches, idempotency layer).

Atomic moto. DynamoDB applies each request - a TransactWriteItems included - atomically. moto (5.x) does not
when requests arrive from several threads, in-process or as ``ThreadedMotoServer`` alike:
``transact_write_items`` checks and puts item by item, and rolls a failed transaction back by restoring a deep
copy of the whole table taken when it began, which erases whatever other requests wrote meanwhile (and the
deep copy itself fails with "dictionary changed size during iteration" while another thread writes). Races
run against it show lost messages, lost group rows and stray membership items that no code of ours wrote.
``serialize_moto`` makes moto handle one request at a time, which is what DynamoDB's per-request atomicity
looks like from outside; the requests still interleave freely between calls, which is the race under test.
"""
from __future__ import annotations

import importlib.util
import sys
import threading
from typing import Any, Callable, Iterator

import pytest
from moto.core.botocore_stubber import BotocoreStubber

from devtools.environment import local_function_specs
from devtools.functions import context_for, ensure_layer_on_path

Handler = Callable[[dict[str, Any]], dict[str, Any]]


def separate_container(aws: Any, logical_id: str, name: str) -> Handler:
    ensure_layer_on_path()
    spec = local_function_specs(aws.resources, aws.stream_arn)[logical_id]
    module_name = f"cruddur_container_{logical_id}_{name}"
    source = spec.code_dir / f"{spec.handler_module.replace('.', '/')}.py"
    module_spec = importlib.util.spec_from_file_location(module_name, source)
    assert module_spec and module_spec.loader
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    handler = getattr(module, spec.handler_function)
    sys.modules.pop(module_name, None)
    return lambda event: handler(event, context_for(spec))


def serialize_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    lock = threading.Lock()
    process_request = BotocoreStubber.process_request

    def one_at_a_time(self: BotocoreStubber, request: Any) -> Any:
        with lock:
            return process_request(self, request)

    monkeypatch.setattr(BotocoreStubber, "process_request", one_at_a_time)


@pytest.fixture
def metrics_disabled(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The layer's metrics off while threads share them (Lambda runs one invocation at a time in a container, so
    their flushes would race). A disabled flush keeps what was added, which the next test's flush would print as
    its own: it is dropped when the test ends."""
    from cruddur_messaging.observability import metrics

    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    yield
    metrics.clear_metrics()
