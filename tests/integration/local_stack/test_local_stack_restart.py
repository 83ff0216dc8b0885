"""``make dev`` stopped the hard way and started again on the same directory, as a developer's machine sees it:
a browser's token from before still works, the data is still there, a ``Link`` cursor from before still leads to
the next page, the seed is not duplicated; and an embedded PostgreSQL that dies comes back without a restart of
the stack."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import boto3
import psutil
import pytest
import requests

from devtools.local_stack.stack import CURSOR_KEY_FILE
from devtools.local_stack.stack_file import StackInfo, read_stack_file
from devtools.template import REPO_ROOT
from devtools.local_stack.launch import READY_TIMEOUT_SECONDS, free_port
from tests.integration.local_stack.test_local_stack_e2e import eventually, get, post, sign_in

MESSAGE = "Sent before the restart."


@dataclass
class Stack:
    process: subprocess.Popen[bytes]
    info: StackInfo
    stderr: Path


def start_stack(data_dir: Path, aws_port: int, api_port: int, run: int) -> Stack:
    stdout, stderr = data_dir.parent / f"stdout-{run}.log", data_dir.parent / f"stderr-{run}.log"
    environment = {name: value for name, value in os.environ.items() if not name.startswith("CRUDDUR_")}
    environment.update(CRUDDUR_WS_PORT=str(free_port()), CRUDDUR_WS_MANAGEMENT_PORT=str(free_port()))
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "devtools.local_stack", "--aws-port", str(aws_port), "--api-port", str(api_port),
             "--data-dir", str(data_dir)],
            cwd=REPO_ROOT, env=environment, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while not stdout.read_text().startswith("ready"):
        assert process.poll() is None, f"the stack exited with {process.returncode}\n{stderr.read_text()}"
        assert time.monotonic() < deadline, f"no ready line in {READY_TIMEOUT_SECONDS}s\n{stderr.read_text()}"
        time.sleep(0.1)
    return Stack(process, read_stack_file(data_dir / "stack.json"), stderr)


def wait_until_free(port: int, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
                return
            except OSError:
                assert time.monotonic() < deadline, f"port {port} still in use"
                time.sleep(0.1)


def all_items(info: StackInfo) -> list[dict[str, Any]]:
    dynamodb = boto3.client("dynamodb", endpoint_url=info.aws_endpoint_url, region_name=info.region,
                            aws_access_key_id="testing", aws_secret_access_key="testing")
    pages = dynamodb.get_paginator("scan").paginate(TableName=info.table_name, ConsistentRead=True)
    return sorted((item for page in pages for item in page["Items"]), key=lambda item: (item["pk"]["S"],
                                                                                       item["sk"]["S"]))


@dataclass
class Restart:
    before: StackInfo
    after: Stack
    token: str
    items_before: list[dict[str, Any]]
    sent_uuid: str
    data_dir: Path
    # What the restarted stack answered and held before any test wrote to it (the tests run in any order).
    groups_after: requests.Response
    newest_after: requests.Response
    items_after: list[dict[str, Any]]
    # A reader scrolling back: the next (older) page of the seeded conversation, by the cursor of a page served
    # before the restart, followed before it and after it.
    older_before: requests.Response
    older_after: requests.Response


@pytest.fixture(scope="module")
def restart(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Restart]:
    data_dir = tmp_path_factory.mktemp("restart") / "local"
    aws_port, api_port = free_port(), free_port()
    first = start_stack(data_dir, aws_port, api_port, 1)
    second: Stack | None = None
    try:
        info = first.info
        token = sign_in(info, "andrewbrown")["AccessToken"]
        sent = post(info, "/api/messages", token, {"message": MESSAGE,
                                                   "message_group_uuid": info.seed_message_group_uuid})
        assert sent.status_code == 200, first.stderr.read_text()[-4000:]
        eventually(lambda: get(info, "/api/message_groups", token).json()[0]["message"] == MESSAGE)
        items_before = all_items(info)
        first_page = get(info, f"/api/messages/{info.seed_message_group_uuid}?limit=2", token)
        older_page = first_page.links["next"]["url"]
        older_before = get(info, older_page, token)

        # kill -9: no cleanup, no chance to save anything on the way out. moto dies with it (parent-death
        # signal); the embedded PostgreSQL stays up and the next start adopts it.
        first.process.kill()
        first.process.wait(10)
        wait_until_free(aws_port)
        wait_until_free(api_port)
        second = start_stack(data_dir, aws_port, api_port, 2)
        after = second.info
        groups_after = get(after, "/api/message_groups", token)  # the browser's token, issued before the restart
        newest_after = get(after, f"/api/messages/{after.seed_message_group_uuid}?limit=1", token)
        older_after = get(after, older_page, token)
        yield Restart(info, second, token, items_before, sent.json()["uuid"], data_dir,
                      groups_after, newest_after, all_items(after), older_before, older_after)
    finally:
        for stack in (second, first):
            if stack is not None and stack.process.poll() is None:
                stack.process.send_signal(signal.SIGTERM)
                stack.process.wait(30)


def test_a_token_from_before_a_restart_works_after_it_and_the_data_is_still_there(restart: Restart) -> None:
    before, after = restart.before, restart.after.info
    assert (after.user_pool_id, after.user_pool_client_id) == (before.user_pool_id, before.user_pool_client_id)
    assert {user.handle: user.cognito_user_id for user in after.users} == \
        {user.handle: user.cognito_user_id for user in before.users}

    assert restart.groups_after.status_code == 200, restart.after.stderr.read_text()[-4000:]
    assert restart.groups_after.json()[0]["message"] == MESSAGE
    assert restart.newest_after.status_code == 200 and restart.newest_after.json()[0]["uuid"] == restart.sent_uuid
    # The seed ran again and found its items: nothing added, nothing duplicated, nothing lost.
    assert restart.items_after == restart.items_before
    # The token still works now, whatever the other tests did to the stack since.
    assert get(after, "/api/message_groups", restart.token).status_code == 200


def test_a_cursor_from_before_a_restart_leads_to_the_same_next_page_after_it(restart: Restart) -> None:
    assert restart.older_before.status_code == 200 and len(restart.older_before.json()) == 2
    assert restart.older_after.status_code == 200, restart.older_after.text  # not a 400 invalid_cursor
    assert restart.older_after.json() == restart.older_before.json()
    # The key is kept with the rest of the local state, readable by its owner only (make clean deletes it).
    assert (restart.data_dir / CURSOR_KEY_FILE).stat().st_mode & 0o777 == 0o600


def test_the_stream_goes_on_after_a_restart(restart: Restart) -> None:
    after = restart.after.info
    sent = post(after, "/api/messages", restart.token, {"message": "And after it.",
                                                        "message_group_uuid": after.seed_message_group_uuid})
    assert sent.status_code == 200
    bayko = sign_in(after, "bayko")["AccessToken"]
    eventually(lambda: get(after, "/api/message_groups", bayko).json()[0]["message"] == "And after it.")


def test_a_killed_postgresql_is_restarted_and_requests_recover(restart: Restart) -> None:
    after = restart.after.info
    postgres_dir = restart.data_dir / "postgres"
    postmaster = psutil.Process(int((postgres_dir / "postmaster.pid").read_text().splitlines()[0]))
    assert get(after, "/api/users/@bayko/short").status_code == 200
    postmaster.kill()
    postmaster.wait(10)

    def answers_again() -> bool:
        # A card not asked for before the kill: users-short caches the cards it has served (bayko's above).
        response = get(after, "/api/users/@londo/short")
        assert response.status_code in (200, 503), response.text
        return response.status_code == 200

    eventually(answers_again, seconds=60)
    new_postmaster = int((postgres_dir / "postmaster.pid").read_text().splitlines()[0])
    assert new_postmaster != postmaster.pid
    assert restart.after.process.poll() is None  # the stack itself never stopped
    token = sign_in(after, "londo")["AccessToken"]
    assert get(after, "/api/message_groups", token).status_code == 200
