"""``make smoke`` against the local stack: ``make dev`` as a process of its own, smoke as another (the command
``make smoke`` runs), reading only the stack file. Every check passes on a working stack, and on a broken one
smoke exits non-zero naming the checks that failed and the ones it could not run."""
from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import boto3
import psycopg2

from devtools.local_stack.launch import RunningStack, free_port
from devtools.local_stack.stack_file import write_stack_file
from devtools.smoke.checks import Smoke
from devtools.smoke.target import CREATE_USERS_VARIABLE, LOCAL_HANDLES, local_target
from devtools.template import REPO_ROOT

SMOKE_TIMEOUT_SECONDS = 180
WAIT_ON_A_BROKEN_STACK = "3"
"""--wait: a broken stack shows nothing however long smoke waits."""


def check_names(stack: RunningStack) -> list[str]:
    smoke = Smoke(local_target(stack.environment))
    smoke.close()
    return [check.name for check in smoke.checks()]


def run_smoke(environment: dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "devtools.smoke", *arguments], cwd=REPO_ROOT, env=environment,
                          capture_output=True, text=True, timeout=SMOKE_TIMEOUT_SECONDS)


def outcomes(stdout: str) -> dict[str, tuple[str, str]]:
    """check name -> (PASS/FAIL/SKIP, detail), from smoke's report."""
    return {match["name"]: (match["status"], match["detail"])
            for match in re.finditer(r"^(?P<status>PASS|FAIL|SKIP) (?P<name>[^:]+): (?P<detail>.*)$", stdout, re.M)}


def broken_copy(stack: RunningStack, directory: Path, **changes: object) -> dict[str, str]:
    """The environment of a smoke run against a stack file like the running stack's, with ``changes``."""
    write_stack_file(directory / "stack.json", dataclasses.replace(stack.info, **changes))
    return {**stack.environment, "CRUDDUR_LOCAL_DIR": str(directory)}


def test_every_check_passes_against_the_local_stack_twice(stack: RunningStack) -> None:
    names = check_names(stack)
    for _ in range(2):  # the second run reuses the conversation the first one started
        result = run_smoke(stack.environment)
        assert result.returncode == 0, f"{result.stdout}\n{result.stderr}\n{stack.logs()}"
        seen = outcomes(result.stdout)
        assert list(seen) == names
        assert {status for status, _ in seen.values()} == {"PASS"}
        assert result.stdout.rstrip().endswith(f"smoke: {len(names)} of {len(names)} checks passed")
        sender, recipient = LOCAL_HANDLES["sender"], LOCAL_HANDLES["recipient"]
        assert re.search(rf"^left behind: the conversation \S+ between {sender} and {recipient} keeps the 3 "
                         rf"messages of run \S+ and the tombstone of the 1 it deleted; {recipient} read them$",
                         result.stdout, re.M)


def test_with_the_http_api_down_smoke_names_what_failed_and_exits_1(stack: RunningStack, tmp_path: Path) -> None:
    environment = broken_copy(stack, tmp_path, api_url=f"http://127.0.0.1:{free_port()}")
    result = run_smoke(environment, "--wait", WAIT_ON_A_BROKEN_STACK)
    assert result.returncode == 1, result.stdout
    seen = outcomes(result.stdout)
    assert list(seen) == check_names(stack)
    # Cognito and the WebSocket API still answer; every HTTP call fails, and what needs a sent message is skipped.
    assert {name for name, (status, _) in seen.items() if status == "PASS"} == {
        "sign-in", "websocket connect", "websocket ping"}
    assert {name for name, (status, _) in seen.items() if status == "FAIL"} == {
        "users-short", "sync start", "start conversation", "bad token"}
    assert seen["users-short"][1].startswith(f"GET /api/users/@{LOCAL_HANDLES['recipient']}/short: ConnectionError")
    assert seen["send"] == ("SKIP", "needs start conversation")
    assert seen["websocket read"] == ("SKIP", "needs mark read")
    assert seen["sync"] == ("SKIP", "needs sync start, send")
    assert "left behind: nothing was written" in result.stdout
    assert re.search(r"^smoke: 3 of \d+ checks passed; not passed: users-short, sync start, start conversation, send",
                     result.stdout, re.M)


def test_with_a_wrong_password_sign_in_fails_and_nothing_else_runs(stack: RunningStack, tmp_path: Path) -> None:
    recipient = stack.info.user(LOCAL_HANDLES["recipient"])
    wrong = dataclasses.replace(recipient, password="Not-the-password-1")
    users = [wrong if user.handle == recipient.handle else user for user in stack.info.users]
    result = run_smoke(broken_copy(stack, tmp_path, users=users), "--wait", WAIT_ON_A_BROKEN_STACK)
    assert result.returncode == 1, result.stdout
    seen = outcomes(result.stdout)
    assert seen.pop("sign-in")[0] == "FAIL"
    assert re.search(rf"^FAIL sign-in: recipient {re.escape(recipient.username)}: .*NotAuthorizedException",
                     result.stdout, re.M)
    assert {status for status, _ in seen.values()} == {"SKIP"}


def smoke_users_left(stack: RunningStack) -> tuple[list[str], list[str]]:
    """Handles in PostgreSQL and emails in the pool that a smoke run made (``smoke-*``)."""
    with psycopg2.connect(stack.info.database_url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT handle FROM public.users WHERE handle LIKE 'smoke-%'")
        rows = [handle for (handle,) in cursor.fetchall()]
    connection.close()
    cognito = boto3.client("cognito-idp", endpoint_url=stack.info.aws_endpoint_url, region_name=stack.info.region,
                           aws_access_key_id="testing", aws_secret_access_key="testing")
    emails = [attribute["Value"] for page in cognito.get_paginator("list_users").paginate(
        UserPoolId=stack.info.user_pool_id) for user in page["Users"] for attribute in user["Attributes"]
        if attribute["Name"] == "email" and attribute["Value"].startswith("smoke-")]
    return rows, emails


def test_with_users_of_its_own_every_check_passes_and_the_users_are_gone_after(stack: RunningStack) -> None:
    result = run_smoke({**stack.environment, CREATE_USERS_VARIABLE: "1"})
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}\n{stack.logs()}"
    seen = outcomes(result.stdout)
    assert list(seen) == ["create users", *check_names(stack), "remove users"]
    assert {status for status, _ in seen.values()} == {"PASS"}
    made = re.findall(r"smoke-[0-9a-f]{6}-[abc]", seen["create users"][1])
    assert len(set(made)) == 3 and f"sender {made[0]}" in seen["sign-in"][1]
    assert seen["remove users"][1].startswith("3 Cognito users and 3 users rows removed")
    assert smoke_users_left(stack) == ([], [])


def test_when_a_user_cannot_be_made_smoke_fails_and_removes_what_it_made(stack: RunningStack,
                                                                          tmp_path: Path) -> None:
    closed = f"postgresql://127.0.0.1:{free_port()}/cruddur"
    environment = {**broken_copy(stack, tmp_path, database_url=closed), CREATE_USERS_VARIABLE: "1"}
    result = run_smoke(environment, "--wait", WAIT_ON_A_BROKEN_STACK)
    assert result.returncode == 1, result.stdout
    seen = outcomes(result.stdout)
    assert seen["create users"][0] == "FAIL"
    assert re.match(r"cannot add smoke-[0-9a-f]{6}-a to the users table: .*connect", seen["create users"][1])
    assert {status for name, (status, _) in seen.items() if name not in ("create users", "remove users")} == {
        "SKIP"}
    # The Cognito user made before the database refused is removed all the same.
    assert seen["remove users"] == ("PASS", f"1 Cognito users and 0 users rows removed "
                                            f"({re.search(r'smoke-[0-9a-f]{6}', seen['create users'][1])[0]}-*)")
    assert smoke_users_left(stack) == ([], [])
