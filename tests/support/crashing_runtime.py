"""``python -m tests.support.crashing_runtime``: the local Lambda runtime (``devtools.lambda_runtime``) with one
crash point, for tests that kill an execution environment at an exact step of an invocation.

``CRUDDUR_TEST_CRASH_AT=<event>:<operation>:<n>:<how>`` - at botocore's ``<event>`` (``before-call``: the
request is not sent yet; ``after-call``: DynamoDB applied it and answered, the code has not seen the answer) of
the ``n``-th DynamoDB ``<operation>`` call of this process (any client: the table's, the idempotency layer's),
the process ``exit``s at once (``os._exit``: no handler, no ``finally``, no flush, as a ``kill -9`` or a crash
of the sandbox) or ``hang``s until the runtime kills it at the function's timeout (Lambda's timeout). The hooks
are registered on every botocore client the process creates; nothing of this is in the layer or the runtime.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from collections import Counter
from typing import Any

import botocore.session

from devtools.lambda_runtime import main

CRASH_AT_VARIABLE = "CRUDDUR_TEST_CRASH_AT"
EVENTS = ("before-call", "after-call")
CRASH_EXIT_STATUS = 70


def install(spec: str) -> None:
    event, operation, nth, how = spec.split(":")
    if event not in EVENTS or how not in ("exit", "hang"):
        raise ValueError(f"bad {CRASH_AT_VARIABLE}: {spec}")
    calls: Counter[str] = Counter()
    lock = threading.Lock()

    def crash_point(**_: Any) -> None:
        with lock:
            calls[operation] += 1
            reached = calls[operation] == int(nth)
        if not reached:
            return
        if how == "exit":
            os._exit(CRASH_EXIT_STATUS)
        while True:
            time.sleep(60)

    create_client = botocore.session.Session.create_client

    def create_client_with_crash_point(session: botocore.session.Session, service_name: str,
                                       *args: Any, **kwargs: Any) -> Any:
        client = create_client(session, service_name, *args, **kwargs)
        if service_name == "dynamodb":
            client.meta.events.register(f"{event}.dynamodb.{operation}", crash_point)
        return client

    botocore.session.Session.create_client = create_client_with_crash_point  # type: ignore[method-assign]


if __name__ == "__main__":
    install(os.environ[CRASH_AT_VARIABLE])
    sys.exit(main())
