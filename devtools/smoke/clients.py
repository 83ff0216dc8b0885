"""The three ways smoke talks to a stack, as the frontend does: Cognito sign-in, HTTP with a bearer token, and a
WebSocket opened with the ``cruddur.v1`` subprotocol."""
from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable

import boto3
import requests
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from websockets.exceptions import InvalidStatus, WebSocketException
from websockets.sync.client import ClientConnection, connect

from devtools.local_stack.cognito import SignInChallenge, sign_in as cognito_sign_in
from devtools.smoke.target import ROLE_SUFFIXES, SmokeTarget, SmokeUser

HTTP_TIMEOUT_SECONDS = 30
CONNECT_TIMEOUT_SECONDS = 30
SUBPROTOCOL = "cruddur.v1"
SEND_ATTEMPTS = 3
"""A send answered 503 or 409 is retried with the same Idempotency-Key (docs/errors.md): never stored twice."""


class CheckFailed(Exception):
    """What a check saw instead of what it expected; the message is the report's detail."""


@dataclass(frozen=True)
class SignedIn:
    user: SmokeUser
    handle: str
    access_token: str


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a token Cognito just returned over TLS (read, not verified: the API verifies)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def tampered(token: str) -> str:
    """The token with one character of its signature changed: well-formed, signed by no one."""
    header, payload, signature = token.split(".")
    middle = len(signature) // 2
    swapped = "A" if signature[middle] != "A" else "B"
    return ".".join((header, payload, signature[:middle] + swapped + signature[middle + 1:]))


def sign_in(target: SmokeTarget, user: SmokeUser) -> SignedIn:
    """InitiateAuth with USER_PASSWORD_AUTH, as the frontend's app client allows: an unsigned call (Cognito
    evaluates no IAM policy for it, per its API reference), so it needs no AWS credentials. A user in
    FORCE_CHANGE_PASSWORD, or with MFA, gets a challenge instead of tokens: smoke cannot answer it."""
    cognito = boto3.client("cognito-idp", region_name=target.region, endpoint_url=target.cognito_endpoint_url,
                           config=Config(signature_version=UNSIGNED, retries={"mode": "standard"}))
    try:
        tokens = cognito_sign_in(cognito, target.user_pool_client_id, user.username, user.password)
    except (ClientError, BotoCoreError) as error:
        raise CheckFailed(f"{user.role} {user.username}: {error}") from None
    except SignInChallenge as challenge:
        raise CheckFailed(f"{user.role} {user.username}: {challenge} (a smoke user needs a permanent password "
                          "and no MFA)") from None
    # The ID token carries the attributes the app client may read, the standard ones (preferred_username among
    # them) by default (Cognito Developer Guide, "Understanding the identity (ID) token"; ReadAttributes).
    handle = user.handle or jwt_claims(tokens["IdToken"]).get("preferred_username")
    if not handle:
        raise CheckFailed(f"{user.role} {user.username} has no preferred_username: "
                          f"set SMOKE_HANDLE_{ROLE_SUFFIXES[user.role]}")
    return SignedIn(user, handle, tokens["AccessToken"])


class Api:
    """The HTTP API; every answer is returned, whatever its status (checks decide what is wrong)."""

    def __init__(self, target: SmokeTarget) -> None:
        self.base_url = target.api_url
        self.session = requests.Session()

    def request(self, method: str, path: str, token: str | None = None, body: Any = None,
                headers: dict[str, str] | None = None) -> requests.Response:
        all_headers = {**({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})}
        try:
            return self.session.request(method, f"{self.base_url}{path}", json=body, headers=all_headers,
                                        timeout=HTTP_TIMEOUT_SECONDS)
        except requests.RequestException as error:
            raise CheckFailed(f"{method} {path}: {type(error).__name__}: {error}") from None

    def send(self, token: str, body: dict[str, Any]) -> requests.Response:
        """POST /api/messages with an Idempotency-Key, retried on 503/409 after Retry-After."""
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        for _ in range(SEND_ATTEMPTS - 1):
            response = self.request("POST", "/api/messages", token, body, headers)
            if response.status_code not in (409, 503):
                return response
            time.sleep(min(float(response.headers.get("Retry-After", "1")), 5.0))
        return self.request("POST", "/api/messages", token, body, headers)

    def close(self) -> None:
        self.session.close()


def expect(response: requests.Response, status: int) -> Any:
    """The JSON body of an answer with ``status``, else CheckFailed naming the request and what came back."""
    if response.status_code != status:
        hint = " (this Cognito user has no row in PostgreSQL's users table: docs/deploying.md, make smoke)" \
            if "caller_not_registered" in response.text else ""
        raise CheckFailed(f"{response.request.method} {path_of(response)} answered {response.status_code} "
                          f"(expected {status}): {response.text[:300]}{hint}")
    try:
        return response.json()
    except ValueError:
        raise CheckFailed(f"{response.request.method} {path_of(response)} answered {status} without JSON: "
                          f"{response.text[:300]!r}") from None


def path_of(response: requests.Response) -> str:
    return requests.utils.urlparse(response.request.url).path


class LiveSocket:
    """An open WebSocket and every frame it has received so far (frames of other kinds arrive in between)."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.frames: list[dict[str, Any]] = []

    @classmethod
    def open(cls, target: SmokeTarget, token: str) -> "LiveSocket":
        """``Sec-WebSocket-Protocol: cruddur.v1, <token>``, as browsers send it; the server selects cruddur.v1."""
        try:
            connection = connect(target.websocket_url, subprotocols=[SUBPROTOCOL, token],
                                 open_timeout=CONNECT_TIMEOUT_SECONDS)
        except InvalidStatus as refused:
            raise CheckFailed(f"the handshake was refused with {refused.response.status_code}") from None
        except (OSError, TimeoutError, WebSocketException) as error:
            raise CheckFailed(f"cannot connect to {target.websocket_url}: {type(error).__name__}: {error}") from None
        if connection.subprotocol != SUBPROTOCOL:
            connection.close()
            raise CheckFailed(f"the server selected the subprotocol {connection.subprotocol!r}, not {SUBPROTOCOL}")
        return cls(connection)

    def send(self, frame: dict[str, Any]) -> None:
        try:
            self.connection.send(json.dumps(frame))
        except WebSocketException as error:
            raise CheckFailed(f"the socket closed: {error}") from None

    def wait_for(self, wanted: Callable[[dict[str, Any]], bool], seconds: float) -> dict[str, Any] | None:
        """The first frame (received before or within ``seconds``) for which ``wanted`` holds, else None."""
        for frame in self.frames:
            if wanted(frame):
                return frame
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                frame = json.loads(self.connection.recv(timeout=remaining))
            except TimeoutError:
                return None
            except WebSocketException as error:
                raise CheckFailed(f"the socket closed: {error}") from None
            self.frames.append(frame)
            if wanted(frame):
                return frame
        return None

    def types(self) -> list[str]:
        return [str(frame.get("type")) for frame in self.frames]

    def close(self) -> None:
        self.connection.close()


def handshake_status(target: SmokeTarget, token: str) -> int | None:
    """The HTTP status a handshake with ``token`` is refused with; None when it is accepted."""
    try:
        connect(target.websocket_url, subprotocols=[SUBPROTOCOL, token], open_timeout=CONNECT_TIMEOUT_SECONDS).close()
    except InvalidStatus as refused:
        return refused.response.status_code
    except (OSError, TimeoutError, WebSocketException) as error:
        raise CheckFailed(f"cannot connect to {target.websocket_url}: {type(error).__name__}: {error}") from None
    return None
