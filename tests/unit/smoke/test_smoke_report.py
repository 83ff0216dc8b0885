"""Smoke's report: a check whose prerequisite did not pass is skipped, a crash is that check's failure and the run
goes on, everything opened is closed; the documented checks are the checks; an answer's failure names the request."""
from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest
import requests

from devtools.smoke.checks import FAIL, PASS, SKIP, Check, Smoke
from devtools.smoke.clients import CheckFailed, expect
from devtools.smoke.runner import main
from devtools.smoke.target import SmokeTarget, UserStore
from devtools.template import REPO_ROOT

TARGET = SmokeTarget(description="nowhere", api_url="http://127.0.0.1:9", websocket_url="ws://127.0.0.1:9",
                     region="us-east-1", cognito_endpoint_url=None, user_pool_client_id="client", users={})


class Scripted(Smoke):
    """Checks that pass, fail or crash as told, in this order."""

    def checks(self) -> list[Check]:
        def fails() -> str:
            raise CheckFailed("saw 500")

        def crashes() -> str:
            raise KeyError("uuid")

        return [Check("first", lambda: "fine"), Check("second", fails, ("first",)), Check("third", crashes),
                Check("fourth", lambda: "fine", ("first", "second", "third")), Check("fifth", lambda: "ok", ("first",))]


def test_failures_are_named_and_what_needs_them_is_skipped() -> None:
    smoke = Scripted(TARGET)
    closed = []
    smoke.close = lambda: closed.append(True)  # type: ignore[method-assign]
    lines = [outcome.line() for outcome in smoke.run()]
    assert lines == [f"{PASS} first: fine", f"{FAIL} second: saw 500", f"{FAIL} third: unexpected KeyError: 'uuid'",
                     f"{SKIP} fourth: needs second, third", f"{PASS} fifth: ok"]
    assert closed == [True]
    assert smoke.left_behind() == "nothing was written"


def test_the_local_stack_page_documents_exactly_the_checks() -> None:
    page = (REPO_ROOT / "docs" / "local-stack.md").read_text()
    section = page.split("## `make smoke`", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `([a-z.\- ]+)` \|", section, re.MULTILINE)
    making = dataclasses.replace(TARGET, user_store=UserStore(cognito=None, user_pool_id="pool", database_url="x"))
    assert documented == [check.name for check in Smoke(making).checks()] + ["remove users"]
    assert [check.name for check in Smoke(TARGET).checks()] == documented[1:-1]


def answer(status: int, body: str) -> requests.Response:
    response = requests.Response()
    response.status_code, response._content = status, body.encode()
    response.request = requests.Request("GET", "http://api.example/api/message_groups?limit=100").prepare()
    return response


def test_an_unexpected_answer_names_the_request_status_and_body() -> None:
    with pytest.raises(CheckFailed, match=r"^GET /api/message_groups answered 503 \(expected 200\): "
                                          r'\{"code": "dependency_unavailable"\}$'):
        expect(answer(503, '{"code": "dependency_unavailable"}'), 200)
    with pytest.raises(CheckFailed, match="no row in PostgreSQL's users table"):
        expect(answer(403, '{"code": "caller_not_registered", "message": "..."}'), 200)
    with pytest.raises(CheckFailed, match="answered 200 without JSON"):
        expect(answer(200, "<html>"), 200)
    assert expect(answer(200, "[]"), 200) == []


def test_a_deployed_target_without_users_exits_2_naming_the_variables(capsys: Any) -> None:
    assert main(["--stack", "s", "--region", "eu-west-1"], {}) == 2
    assert "set SMOKE_USER_A, SMOKE_PASSWORD_A, SMOKE_USER_B" in capsys.readouterr().err
