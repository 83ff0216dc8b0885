"""bin/cognito/list-users: every page, users without a handle reported and skipped."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import pytest

from devtools.ops.errors import OpsError
from devtools.ops.target import prod_target
from tests.integration.ops.support import Stack

MANY = tuple((f"user-{number:03}", f"handle{number:03}") for number in range(65))


def test_list_users_reads_every_page_and_skips_users_without_a_handle(make_stack: Callable[..., Stack],
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    stack = make_stack(cognito_users=(*MANY[:30], ("no-handle", None), *MANY[30:]))
    subs = stack.cognito_subs()
    result = stack.call(capsys, "cognito/list-users")
    assert result.returncode == 0, result.stderr
    rows = sorted(line.split() for line in result.stdout.splitlines())
    assert rows == [[handle, subs[handle], username, "FORCE_CHANGE_PASSWORD"] for username, handle in MANY]
    warning, = result.stderr.splitlines()
    assert warning.startswith("WARNING: skipping Cognito user no-handle (sub ")


def test_list_users_in_prod_takes_the_pool_from_the_environment_then_the_stack(stack: Stack, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    result = stack.call_in_prod(capsys, monkeypatch, "cognito/list-users", COGNITO_USER_POOL_ID=stack.user_pool_id)
    assert result.returncode == 0, result.stderr
    assert [line.split()[0] for line in result.stdout.splitlines()] == ["andrewbrown", "bayko"]

    monkeypatch.delenv("COGNITO_USER_POOL_ID")
    monkeypatch.setenv("STACK", "never-deployed")
    with pytest.raises(OpsError, match="^no stack never-deployed in us-east-1; "):
        prod_target(os.environ, samconfig=tmp_path / "samconfig.toml").user_pool_id()
    # Without the variable, the pool is the one the stack was deployed with.
    name = f"pool-{stack.directory.name}"
    stack.deploy(name)
    monkeypatch.setenv("STACK", name)
    assert prod_target(os.environ, samconfig=tmp_path / "samconfig.toml").user_pool_id() == stack.user_pool_id


def test_list_users_of_a_missing_pool_is_one_line(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    stack.stack_file.write_text(stack.stack_file.read_text().replace(stack.user_pool_id, "us-east-1_gone"))
    result = stack.call(capsys, "cognito/list-users")
    assert stack.error_line(result, "cognito/list-users") == (
        "ListUsers: User pool us-east-1_gone does not exist. (ResourceNotFoundException)")
