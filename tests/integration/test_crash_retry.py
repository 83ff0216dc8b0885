"""A keyed send whose execution environment dies at any step, then is retried: exactly one message.

The first attempt runs in a real execution environment of the local stack (a worker process,
``devtools.local_stack.execution_environment``) started as ``tests.support.crashing_runtime``, which ends the
process at one DynamoDB call of the send: before it is sent (nothing of it applied) or after DynamoDB applied it
and before the code saw the answer - a kill *during* a write is one of the two, since DynamoDB applies a request
(a transaction included) whole or not at all. ``exit`` is a crash or a ``kill -9``; ``hang`` leaves the
runtime to kill the process at the function's timeout, as Lambda does. The retry, same key and body, runs in a
fresh environment and keeps retrying while it is told 409 ``request_in_progress`` (``Retry-After``), as a client
would; the in-progress lock follows the dead attempt's timeout, so that lasts no longer than its timeout. A death
after the send was counted against the sender's limits leaves a retry that resumes it without counting it again.

The table is the local stack's moto server, in a process of its own; it serves one DynamoDB request at a time
(moto is not atomic under concurrent requests, see ``devtools.local_stack.moto_launcher``). Here the requests
do not overlap anyway: the first attempt is dead before its retry starts.
"""
from __future__ import annotations

import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator

import boto3
import pytest

from devtools.environment import LocalResources, function_environment, local_function_specs, provision
from devtools.local_stack import execution_environment
from devtools.local_stack.execution_environment import ExecutionEnvironment, FunctionCrashed, FunctionTimedOut
from devtools.local_stack.launch import free_port
from devtools.local_stack.moto_server import MotoServer
from devtools.template import REPO_ROOT, FunctionSpec
from tests.support.api import assert_error, header, ok
from tests.support.client import create_message_event
from tests.support.crashing_runtime import CRASH_AT_VARIABLE
from tests.support.people import ANDREW, LONDO
from tests.support.table import census, messages_in

FUNCTION = "CreateMessageFunction"
# The dead attempt's timeout: its in-progress lock expires this long after its record was written.
CRASHED_TIMEOUT_SECONDS = 4
# A 409 may be answered a little past the lock's expiry as the retry sees it (its requests take some time).
LOCK_SLACK_SECONDS = 2.0


def keyed_send(not_sent: str, written: str, operation: str, call: int,
               limits: tuple[str, ...]) -> dict[str, tuple[str, str, int]]:
    """(event, DynamoDB operation, which call of it): every write of a keyed send, before it and once applied:
    the idempotency record, the count against each of the sender's ``limits`` (one UpdateItem each: the crashing
    environment's rate is one no send outpaces), the send's own write (``not_sent``, ``written``), the record's
    completion."""
    counts = {point: (event, "UpdateItem", number) for number, limit in enumerate(limits, 1)
              for point, event in ((f"{limit}-not-counted", "before-call"), (f"{limit}-counted", "after-call"))}
    return {
        "idempotency-record-not-sent": ("before-call", "PutItem", 1),
        "idempotency-record-written": ("after-call", "PutItem", 1),
        **counts,
        not_sent: ("before-call", operation, call),
        written: ("after-call", operation, call),
        "record-completion-not-sent": ("before-call", "UpdateItem", len(limits) + 1),
        "record-completed": ("after-call", "UpdateItem", len(limits) + 1),
    }


INTO_A_GROUP = keyed_send("message-not-sent", "message-written", "PutItem", 2, ("send",))
NEW_CONVERSATION = keyed_send("transaction-not-sent", "transaction-committed", "TransactWriteItems", 1,
                              ("new-conversation", "send"))
# The crashing environment's limits come back at once: each counts with one UpdateItem, whatever came before.
ALLOWANCE_ALWAYS_WHOLE = {"SEND_RATE_PER_SECOND": "1000000", "NEW_CONVERSATION_RATE_PER_MINUTE": "60000000"}


def crashes(points: dict[str, tuple[str, str, int]], timed_out: str) -> list[Any]:
    """A crash (``exit``) at every point, and a timeout (``hang``) once the main write is applied."""
    return [pytest.param(point, "exit", id=f"{name}-exit") for name, point in points.items()] + [
        pytest.param(points[timed_out], "hang", id=f"{timed_out}-timeout")]


CRASHES_INTO_A_GROUP = crashes(INTO_A_GROUP, "message-written")
CRASHES_STARTING_A_CONVERSATION = crashes(NEW_CONVERSATION, "transaction-committed")


@dataclass
class LocalFunction:
    """CreateMessageFunction against a table of its own on the moto server, in real execution environments."""

    spec: FunctionSpec
    environment: dict[str, str]
    table: Any
    started: list[ExecutionEnvironment] = field(default_factory=list)

    def environment_crashing_at(self, monkeypatch: pytest.MonkeyPatch, point: tuple[str, str, int],
                                how: str) -> ExecutionEnvironment:
        event, operation, nth = point
        with monkeypatch.context() as patch:
            patch.setattr(execution_environment, "RUNTIME_MODULE", "tests.support.crashing_runtime")
            crashing = self._start(self.spec,
                                   {**self.environment, **ALLOWANCE_ALWAYS_WHOLE,
                                    CRASH_AT_VARIABLE: f"{event}:{operation}:{nth}:{how}"})
        # Warm, as most environments are (its caller cached, PostgreSQL connected), so that a loaded machine
        # reaches the crash point within the short timeout: a blank message is refused before any DynamoDB call.
        assert_error(crashing.invoke(create_message_event(ANDREW, {"message": " ", "handle": "bayko"})), 422,
                     "message_blank")
        # The next invocation (the send) gets a short timeout: its lock expires soon, and the test with it.
        crashing.spec = replace(self.spec, timeout_seconds=CRASHED_TIMEOUT_SECONDS)
        return crashing

    def healthy_environment(self) -> ExecutionEnvironment:
        return self._start(self.spec, self.environment)

    def _start(self, spec: FunctionSpec, environment: dict[str, str]) -> ExecutionEnvironment:
        started = ExecutionEnvironment.start(spec, environment)
        self.started.append(started)
        return started


@pytest.fixture(scope="module")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    server = MotoServer("127.0.0.1", free_port(), Path(tmp_path_factory.mktemp("moto")) / "moto.log").start()
    yield server
    server.stop()


@contextmanager
def function_on_a_new_table(moto_server: MotoServer, database_url: str) -> Iterator[LocalFunction]:
    resources = LocalResources(table_name=f"crash-{uuid.uuid4().hex[:12]}")
    session = boto3.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name=resources.region)
    created = provision(resources, database_url, session=session, endpoint_url=moto_server.url)
    table = session.resource("dynamodb", endpoint_url=moto_server.url).Table(resources.table_name)
    function = LocalFunction(local_function_specs(resources, created["stream_arn"])[FUNCTION],
                             function_environment(resources, moto_server.url, FUNCTION), table)
    try:
        yield function
    finally:
        for environment in function.started:
            environment.close()


@pytest.fixture(scope="module")
def group_chat(moto_server: MotoServer, postgres) -> Iterator[tuple[LocalFunction, ExecutionEnvironment, str]]:
    """A table shared by the module's sends into a group (each with its own text and key), a warm environment
    for the retries, and the group."""
    with function_on_a_new_table(moto_server, postgres.database_url) as function:
        healthy = function.healthy_environment()
        group = ok(healthy.invoke(create_message_event(ANDREW, {"message": "Hi Bayko", "handle": "bayko"})))[
            "message_group_uuid"]
        yield function, healthy, group


@pytest.fixture
def local_function(moto_server: MotoServer, postgres) -> Iterator[LocalFunction]:
    """A table of the test's own: a new conversation needs a pair that has none yet."""
    with function_on_a_new_table(moto_server, postgres.database_url) as function:
        yield function


def crash(environment: ExecutionEnvironment, event: dict[str, Any], how: str) -> None:
    """The first attempt: its environment must die at its crash point (no answer reaches the client)."""
    expected = FunctionCrashed if how == "exit" else FunctionTimedOut
    with pytest.raises(expected):
        environment.invoke(event)
    assert not environment.alive


def retry_until_answered(environment: ExecutionEnvironment, event: dict[str, Any]) -> dict[str, Any]:
    """Retries as a client does: after a 409, again after its ``Retry-After``. The 409s end with the dead
    attempt's lock."""
    first_try = time.monotonic()
    while True:
        response = environment.invoke(event)
        if response["statusCode"] != 409:
            return ok(response)
        assert_error(response, 409, "request_in_progress")
        assert time.monotonic() - first_try < CRASHED_TIMEOUT_SECONDS + LOCK_SLACK_SECONDS, "409 past the lock"
        time.sleep(float(header(response, "Retry-After") or 1))


@pytest.mark.parametrize("point, how", CRASHES_INTO_A_GROUP)
def test_a_send_into_a_group_retried_after_its_environment_died_is_stored_once(
        group_chat: tuple[LocalFunction, ExecutionEnvironment, str], monkeypatch: pytest.MonkeyPatch,
        point: tuple[str, str, int], how: str) -> None:
    function, healthy, group = group_chat
    text = f"Sent once through a crash ({uuid.uuid4()})."
    send = create_message_event(ANDREW, {"message": text, "message_group_uuid": group},
                                idempotency_key=f"crash-{uuid.uuid4()}")

    crash(function.environment_crashing_at(monkeypatch, point, how), send, how)
    answer = retry_until_answered(healthy, send)

    [stored] = [item for item in messages_in(function.table, group) if item["message"] == text]
    assert (answer["uuid"], answer["created_at"]) == (stored["message_uuid"], stored["sk"])
    assert ok(healthy.invoke(send)) == answer
    assert [item for item in messages_in(function.table, group) if item["message"] == text] == [stored]


@pytest.mark.parametrize("point, how", CRASHES_STARTING_A_CONVERSATION)
def test_a_new_conversation_retried_after_its_environment_died_is_started_once(
        local_function: LocalFunction, monkeypatch: pytest.MonkeyPatch, point: tuple[str, str, int],
        how: str) -> None:
    send = create_message_event(ANDREW, {"message": "Hello Londo, once.", "handle": "londo"},
                                idempotency_key=f"crash-{uuid.uuid4()}")
    healthy = local_function.healthy_environment()

    crash(local_function.environment_crashing_at(monkeypatch, point, how), send, how)
    answer = retry_until_answered(healthy, send)

    table = local_function.table
    assert census(table) == {"PAIR#": 1, "GROUP#": 1, "GRP#": 2, "MSG#": 1, "IDEMPOTENCY#": 1}
    [stored] = messages_in(table, answer["message_group_uuid"])
    assert (answer["uuid"], answer["created_at"]) == (stored["message_uuid"], stored["sk"])
    assert ok(healthy.invoke(send)) == answer
    # the conversation is the pair's: the other member finds it
    assert ok(healthy.invoke(create_message_event(LONDO, {"message": "Hi Andrew", "handle": ANDREW.handle})))[
        "message_group_uuid"] == answer["message_group_uuid"]
    assert census(table)["MSG#"] == 2


def test_the_409_window_the_api_documents_is_the_functions_timeout() -> None:
    """docs/http-api.md states how long a dead first attempt holds its key: the template's Timeout."""
    timeout = local_function_specs(LocalResources(table_name="any"), "no-stream")[FUNCTION].timeout_seconds
    documented = (REPO_ROOT / "docs" / "http-api.md").read_text()
    assert f"`Timeout` (`{FUNCTION}`: {timeout} s)" in documented
