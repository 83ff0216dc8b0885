"""``make dev`` end to end: the stack runs as a process of its own on free ports, and the test uses it the way
the Cruddur frontend does - Cognito sign-in, then plain HTTP with bearer tokens - down to SIGTERM, after which
no process it started may be left (on a stack of its own: the tests run in any order)."""
from __future__ import annotations

import base64
import json
import signal
import time
from pathlib import Path
from typing import Any, Callable

import boto3
import psutil
import requests

from devtools.local_stack.launch import RunningStack, running_stack
from devtools.local_stack.stack_file import StackInfo
from devtools.template import load_template, parameter_defaults

PATTERN_E_TIMEOUT_SECONDS = 15
FRONTEND_ORIGIN, = parameter_defaults(load_template())["CorsAllowedOrigins"]
"""The frontend's origin, the one the template allows by default (the local stack deploys the defaults)."""


def cognito(info: StackInfo) -> Any:
    return boto3.client("cognito-idp", endpoint_url=info.aws_endpoint_url, region_name=info.region,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def sign_in(info: StackInfo, handle: str, client_id: str | None = None) -> dict[str, str]:
    user = info.user(handle)
    result = cognito(info).initiate_auth(ClientId=client_id or info.user_pool_client_id,
                                         AuthFlow="USER_PASSWORD_AUTH",
                                         AuthParameters={"USERNAME": user.username, "PASSWORD": user.password})
    return result["AuthenticationResult"]


def get(info: StackInfo, path: str, token: str | None = None) -> requests.Response:
    headers = {"Origin": FRONTEND_ORIGIN, **({"Authorization": f"Bearer {token}"} if token else {})}
    return requests.get(f"{info.api_url}{path}", headers=headers, timeout=20)


def post(info: StackInfo, path: str, token: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(f"{info.api_url}{path}", json=body, timeout=20,
                         headers={"Origin": FRONTEND_ORIGIN, "Authorization": f"Bearer {token}"})


def eventually(check: Callable[[], bool], seconds: float = PATTERN_E_TIMEOUT_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        time.sleep(0.25)


def test_stack_json_describes_the_running_stack(stack: RunningStack) -> None:
    info = stack.info
    assert {user.handle for user in info.users} == {"andrewbrown", "bayko", "londo"}
    assert info.seed_message_group_uuid == "5ae290ed-55d1-47a0-bc6d-fe2bc2700399"
    assert info.table_name == "cruddur-messages"
    assert "Ctrl-C" in stack.stdout.read_text()  # the banner follows the ready line
    for user in info.users:
        assert user.username and user.password and user.uuid and user.cognito_user_id


def test_the_frontends_journeys_work_over_http_with_real_tokens(stack: RunningStack) -> None:
    info = stack.info
    group = info.seed_message_group_uuid
    andrew = sign_in(info, "andrewbrown")["AccessToken"]
    bayko = sign_in(info, "bayko")["AccessToken"]

    # The users lookup is public; the frontend calls it with a leading @.
    card = get(info, "/api/users/@bayko/short")
    assert card.status_code == 200, stack.logs()
    assert card.json() == {"uuid": info.user("bayko").uuid, "handle": "bayko", "display_name": "Andrew Bayko"}

    groups = get(info, "/api/message_groups", andrew)
    assert groups.status_code == 200, stack.logs()
    assert groups.headers["access-control-allow-origin"] == FRONTEND_ORIGIN
    (seeded,) = [item for item in groups.json() if item["uuid"] == group]
    assert (seeded["handle"], seeded["display_name"]) == ("bayko", "Andrew Bayko")

    page = get(info, f"/api/messages/{group}", andrew)
    assert page.status_code == 200, stack.logs()
    messages = page.json()
    assert len(messages) == 20 and [m["created_at"] for m in messages] == sorted(m["created_at"] for m in messages)
    assert messages[-1]["message"] == seeded["message"]
    assert 'rel="next"' in page.headers["link"] and "link" in page.headers["access-control-expose-headers"]

    sent = post(info, "/api/messages", andrew, {"message": "Ambassador, the e2e test is here.",
                                                "message_group_uuid": group})
    assert sent.status_code == 200, stack.logs()
    assert (sent.json()["message"], sent.json()["handle"]) == ("Ambassador, the e2e test is here.", "andrewbrown")
    assert "message_group_uuid" not in sent.json()

    # Pattern E: the stream poller moves both members' group rows to the new message.
    def both_lists_show_the_new_message() -> bool:
        for token in (andrew, bayko):
            rows = {row["uuid"]: row for row in get(info, "/api/message_groups", token).json()}
            if rows.get(group, {}).get("message") != "Ambassador, the e2e test is here.":
                return False
        return True

    eventually(both_lists_show_the_new_message)
    newest = get(info, f"/api/messages/{group}?limit=1", bayko).json()
    assert newest[0]["uuid"] == sent.json()["uuid"]

    started = post(info, "/api/messages", andrew, {"message": "Londo, a word.", "handle": "londo"})
    assert started.status_code == 200, stack.logs()
    new_group = started.json()["message_group_uuid"]
    londo = sign_in(info, "londo")["AccessToken"]
    eventually(lambda: any(row["uuid"] == new_group and row["handle"] == "andrewbrown"
                           for row in get(info, "/api/message_groups", londo).json()))
    assert [m["message"] for m in get(info, f"/api/messages/{new_group}", londo).json()] == ["Londo, a word."]
    again = post(info, "/api/messages", andrew, {"message": "And another.", "handle": "londo"})
    assert again.json()["message_group_uuid"] == new_group  # the pair's group is reused


def test_unread_counts_the_badge_and_marking_read_over_http(stack: RunningStack) -> None:
    """Three messages from londo to bayko: the stream poller counts them on bayko's row and badge; bayko marks
    the conversation read and both go back."""
    info = stack.info
    londo, bayko = sign_in(info, "londo")["AccessToken"], sign_in(info, "bayko")["AccessToken"]
    badge_before = get(info, "/api/message_groups/unread", bayko)
    assert badge_before.status_code == 200, stack.logs()
    before = badge_before.json()

    started = post(info, "/api/messages", londo, {"message": "Mr. Bayko.", "handle": "bayko"})
    assert started.status_code == 200, stack.logs()
    group = started.json()["message_group_uuid"]
    for text in ("A word, if I may.", "Three, as promised."):
        assert post(info, "/api/messages", londo, {"message": text, "message_group_uuid": group}).status_code == 200

    def conversation() -> dict[str, Any]:
        return {row["uuid"]: row for row in get(info, "/api/message_groups", bayko).json()}.get(group, {})

    eventually(lambda: conversation().get("unread_count") == 3)
    assert conversation()["last_read_at"] is None
    assert get(info, "/api/message_groups/unread", bayko).json() == {
        "conversations": before["conversations"] + 1, "messages": before["messages"] + 3}

    read = requests.post(f"{info.api_url}/api/message_groups/{group}/read", timeout=20,
                         headers={"Origin": FRONTEND_ORIGIN, "Authorization": f"Bearer {bayko}"})
    assert read.status_code == 200, stack.logs()
    assert read.json() == {"message_group_uuid": group, "last_read_at": conversation()["created_at"],
                           "unread_count": 0}
    assert get(info, "/api/message_groups/unread", bayko).json() == before
    stranger = requests.post(f"{info.api_url}/api/message_groups/{group}/read", timeout=20,
                             headers={"Authorization": f"Bearer {sign_in(info, 'andrewbrown')['AccessToken']}"})
    assert (stranger.status_code, stranger.json()["code"]) == (404, "message_group_not_found")


def tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "someone-else"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{header}.{forged}.{signature}"


def test_tokens_the_jwt_authorizer_refuses(stack: RunningStack) -> None:
    info = stack.info
    tokens = sign_in(info, "andrewbrown")
    foreign_client = cognito(info).create_user_pool_client(
        UserPoolId=info.user_pool_id, ClientName="another-app", GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])["UserPoolClient"]["ClientId"]
    refused = {
        "missing": None,
        "tampered": tampered(tokens["AccessToken"]),
        "foreign client": sign_in(info, "andrewbrown", client_id=foreign_client)["AccessToken"],
        "garbage": "not.a.jwt",
    }
    for name, token in refused.items():
        response = get(info, "/api/message_groups", token)
        assert (response.status_code, response.json()) == (401, {"message": "Unauthorized"}), name
    # A valid ID token carries no scope: the route's AuthorizationScopes refuse it, with API Gateway's 403.
    response = get(info, "/api/message_groups", tokens["IdToken"])
    assert (response.status_code, response.json()) == (403, {"message": "Forbidden"})
    assert get(info, "/api/message_groups", tokens["AccessToken"]).status_code == 200


def test_preflight_and_unknown_routes_are_answered_by_the_api(stack: RunningStack) -> None:
    info = stack.info
    preflight = requests.options(f"{info.api_url}/api/messages", timeout=10, headers={
        "Origin": FRONTEND_ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,idempotency-key"})
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == FRONTEND_ORIGIN
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "idempotency-key" in preflight.headers["access-control-allow-headers"]
    missing = get(info, "/api/nothing-here")
    assert (missing.status_code, missing.json()) == (404, {"message": "Not Found"})


def test_sigterm_stops_every_process_the_stack_started(tmp_path: Path) -> None:
    """A stack of its own: stopping the module's shared one would take it from the tests that run after this one
    (pytest-randomly shuffles them)."""
    with running_stack(tmp_path) as stack:
        assert_sigterm_stops_everything(stack)


def assert_sigterm_stops_everything(stack: RunningStack) -> None:
    children = psutil.Process(stack.process.pid).children(recursive=True)
    assert any("moto_launcher" in " ".join(child.cmdline()) for child in children)
    postmaster = int((stack.data_dir / "postgres" / "postmaster.pid").read_text().splitlines()[0])
    postgres = [psutil.Process(postmaster), *psutil.Process(postmaster).children(recursive=True)]

    stack.process.send_signal(signal.SIGTERM)
    assert stack.process.wait(30) == 0, stack.logs()

    _, alive = psutil.wait_procs([*children, *postgres], timeout=10)
    assert alive == [], f"left running: {[process.pid for process in alive]}"
    assert not (stack.data_dir / "stack.json").exists()
