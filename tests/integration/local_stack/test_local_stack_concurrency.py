"""``make dev`` under concurrent clients, as the frontend and API clients use it: every response carries its own
request's data (the Link header of its own route, its own caller's rows), concurrent invocations run in execution
environments of their own - worker processes with exactly their function's environment - and sequential ones reuse
a warm one; ``make invoke`` and the stream poller go through the same environments; the API's own answers are JSON
on the real port too."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from typing import Any, Callable, Iterator

import psutil
import pytest
import requests

from devtools.environment import LocalResources, template_context
from devtools.local_stack.launch import RunningStack, running_stack
from devtools.template import REPO_ROOT, function_specs, load_template

MAX_ENVIRONMENTS = 3
CLIENTS = 12
REQUESTS_PER_CLIENT = 12
FUNCTIONS = set(function_specs(load_template(), template_context(LocalResources(table_name="t"), stream_arn="s")))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    with running_stack(tmp_path_factory.mktemp("local-stack-concurrency"),
                       variables={"CRUDDUR_MAX_ENVIRONMENTS": str(MAX_ENVIRONMENTS)}) as running:
        yield running


@pytest.fixture(scope="module")
def tokens(stack: RunningStack) -> dict[str, str]:
    return {handle: stack.access_token(handle) for handle in ("andrewbrown", "bayko", "londo")}


def call(stack: RunningStack, method: str, path: str, token: str | None = None,
         body: dict[str, Any] | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(method, f"{stack.info.api_url}{path}", json=body, headers=headers, timeout=60)


def eventually(check: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        time.sleep(0.25)


def test_concurrent_requests_never_carry_another_requests_data(stack: RunningStack, tokens: dict[str, str]) -> None:
    group = stack.info.seed_message_group_uuid
    started = call(stack, "POST", "/api/messages", tokens["andrewbrown"], {"message": "Londo, a word.",
                                                                           "handle": "londo"})
    assert started.status_code == 200, stack.logs()
    eventually(lambda: len(call(stack, "GET", "/api/message_groups", tokens["andrewbrown"]).json()) == 2)

    def list_messages(caller: str) -> list[str]:
        response = call(stack, "GET", f"/api/messages/{group}?limit=5", tokens[caller])
        problems = [] if response.status_code == 200 else [f"{response.status_code} {response.text}"]
        if f"</api/messages/{group}?limit=5&cursor=" not in response.headers.get("link", ""):
            problems.append(f"list-messages Link: {response.headers.get('link')!r}")
        if response.status_code == 200 and {item["handle"] for item in response.json()} - {"andrewbrown", "bayko"}:
            problems.append(f"list-messages of another group: {response.text}")
        return problems

    def list_groups(caller: str) -> list[str]:
        response = call(stack, "GET", "/api/message_groups?limit=1", tokens[caller])
        problems = [] if response.status_code == 200 else [f"{response.status_code} {response.text}"]
        if caller == "andrewbrown" and "</api/message_groups?limit=1&cursor=" not in response.headers.get("link", ""):
            problems.append(f"list-groups Link: {response.headers.get('link')!r}")
        if caller != "andrewbrown" and "link" in response.headers:
            problems.append(f"list-groups of {caller}, who has one group, has a Link: {response.headers['link']!r}")
        if response.status_code == 200 and any(item["handle"] == caller for item in response.json()):
            problems.append(f"list-groups of {caller} shows someone else's rows: {response.text}")
        return problems

    def users_short(handle: str) -> list[str]:
        response = call(stack, "GET", f"/api/users/@{handle}/short")
        if response.status_code != 200 or response.json().get("handle") != handle or "link" in response.headers:
            return [f"users-short {handle}: {response.status_code} {response.text} {response.headers.get('link')}"]
        return []

    def send(caller: str) -> list[str]:
        text = f"from {caller} {uuid.uuid4()}"
        response = call(stack, "POST", "/api/messages", tokens[caller], {"message": text, "message_group_uuid": group})
        if response.status_code != 200 or (response.json()["handle"], response.json()["message"]) != (caller, text):
            return [f"send by {caller}: {response.status_code} {response.text}"]
        return []

    kinds = [lambda: list_messages("andrewbrown"), lambda: list_groups("andrewbrown"), lambda: users_short("bayko"),
             lambda: send("bayko"), lambda: list_messages("bayko"), lambda: list_groups("londo"),
             lambda: users_short("londo"), lambda: list_groups("bayko"), lambda: send("andrewbrown")]
    problems: list[str] = []
    barrier = threading.Barrier(CLIENTS)

    def client(index: int) -> None:
        barrier.wait()
        for round_ in range(REQUESTS_PER_CLIENT):
            found = kinds[(index + round_) % len(kinds)]()
            problems.extend(found)

    threads = [threading.Thread(target=client, args=(index,)) for index in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert problems == [], f"{len(problems)} of {CLIENTS * REQUESTS_PER_CLIENT} responses: {problems[:5]}"


def test_concurrent_invocations_get_environments_of_their_own(stack: RunningStack, tokens: dict[str, str]) -> None:
    group = stack.info.seed_message_group_uuid

    def burst() -> None:
        threads = [threading.Thread(target=call, args=(stack, "GET", f"/api/messages/{group}", tokens["bayko"]))
                   for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)

    def list_messages_environments() -> list[int]:
        return [pid for pid, name in stack.function_workers().items() if name == "ListMessagesFunction"]

    deadline = time.monotonic() + 60
    while len(list_messages_environments()) < 2:
        assert time.monotonic() < deadline, f"one environment for concurrent requests\n{stack.logs()}"
        burst()
    workers = stack.function_workers()
    assert set(workers.values()) <= FUNCTIONS
    assert len(list_messages_environments()) <= MAX_ENVIRONMENTS
    for pid, name in workers.items():
        environ = psutil.Process(pid).environ()
        assert environ["AWS_LAMBDA_FUNCTION_NAME"] == name
        assert environ["AWS_ENDPOINT_URL"] == stack.info.aws_endpoint_url
        assert environ["AWS_LAMBDA_LOG_GROUP_NAME"] == f"/aws/lambda/{name}"
        assert not [variable for variable in environ if variable.startswith(("CRUDDUR_", "PYTEST", "VIRTUAL_ENV"))]


def test_sequential_invocations_reuse_a_warm_environment(stack: RunningStack) -> None:
    assert call(stack, "GET", "/api/users/@bayko/short").status_code == 200

    def users_short_environments() -> set[int]:
        return {pid for pid, name in stack.function_workers().items() if name == "UsersShortFunction"}

    warm = users_short_environments()
    assert warm
    for _ in range(5):
        assert call(stack, "GET", "/api/users/@londo/short").json()["handle"] == "londo"
    assert users_short_environments() == warm


def test_the_stream_poller_invokes_through_an_execution_environment(stack: RunningStack,
                                                                     tokens: dict[str, str]) -> None:
    text = f"poller check {uuid.uuid4()}"
    sent = call(stack, "POST", "/api/messages", tokens["bayko"],
                {"message": text, "message_group_uuid": stack.info.seed_message_group_uuid})
    assert sent.status_code == 200
    eventually(lambda: any(row["message"] == text
                           for row in call(stack, "GET", "/api/message_groups", tokens["andrewbrown"]).json()))
    assert "MessageStreamFunction" in stack.function_workers().values()


def test_make_invoke_runs_the_function_in_an_execution_environment(stack: RunningStack) -> None:
    environment = {name: value for name, value in os.environ.items() if not name.startswith("CRUDDUR_")}
    result = subprocess.run([sys.executable, "-m", "devtools.local_stack.invoke", "UsersShortFunction",
                             "events/users-short.json"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
                            env={**environment, "CRUDDUR_LOCAL_DIR": str(stack.data_dir)})
    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout)
    assert response["statusCode"] == 200 and json.loads(response["body"])["handle"] == "bayko"
    assert "UsersShortFunction: new execution environment" in result.stderr
    assert "devtools.lambda_runtime" not in result.stdout


@pytest.mark.parametrize(("raw", "status", "message"), [
    (b"TRACE /api/messages HTTP/1.1\r\nHost: x\r\n\r\n", 404, "Not Found"),
    (b"GET /api/message_groups HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400, "Bad Request"),
])
def test_the_apis_own_answers_are_json(stack: RunningStack, raw: bytes, status: int, message: str) -> None:
    port = int(stack.info.api_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(raw)
        received = b""
        while chunk := client.recv(65536):
            received += chunk
            if b"\r\n\r\n" in received and received.endswith(b"}"):
                break
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(f"HTTP/1.1 {status} ".encode()), received
    assert b"content-type: application/json" in head.lower()
    assert json.loads(body) == {"message": message}
