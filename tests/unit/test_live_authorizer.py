"""The WebSocket API's ``$connect`` authorizer (``LiveAuthorizerFunction``) admits exactly what the HTTP API's JWT
authorizer admits: RS256 Cognito access tokens of the pool, for the app client, unexpired, with the user scope,
from either place a client may put them, and hands the routes the token's user uuid (or why there is none). The
JWKS comes from a real HTTP server, so fetches can be counted; the users are a fake directory (PostgreSQL's own
lookup runs in tests/integration/local_stack/test_live_e2e.py)."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from typing import Any, Iterator

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cruddur_messaging.data.jwks import KeysUnavailable
from cruddur_messaging.domain.access_tokens import JWKS_POLICY, AccessTokenVerifier, TokenRejected, jwks_url
from cruddur_messaging.domain.identity import CallerDirectory
from cruddur_messaging.models import User
from devtools.environment import LocalResources, function_environment, local_function_specs
from devtools.functions import context_for, handler_of, load_handler_module
from tests.support.containers import cold_start
from tests.support.events import load_event
from tests.support.jwks import JwksEndpoint, public_jwk
from tests.support.live import AUTHORIZER_FUNCTION
from tests.support.users import FakeUsers

POOL_ID = "us-east-1_LiveTest"
CLIENT_ID = "live-test-client"
ISSUER = f"https://cognito-idp.us-east-1.amazonaws.com/{POOL_ID}"
SUB = "5f0e1c2d-8a7b-4c3d-9e8f-0a1b2c3d4e01"
USER = User(uuid="8d1b9c3e-2f4a-4b6c-9d7e-0a1b2c3d4e01", handle="andrewbrown", display_name="Andrew Brown",
            cognito_user_id=SUB)
UNREGISTERED_SUB = "5f0e1c2d-8a7b-4c3d-9e8f-0a1b2c3d4eff"
SCOPE = "aws.cognito.signin.user.admin"
COOLDOWN_SECONDS = 1.5


@dataclass
class SigningKey:
    kid: str
    private: Any = field(default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048))

    def jwk(self) -> dict[str, Any]:
        return public_jwk(self.kid, self.private)

    def pem(self) -> bytes:
        return self.private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption())


class Jwks(JwksEndpoint):
    """The pool's JWKS endpoint, publishing ``keys``."""

    def __init__(self, keys: list[SigningKey]) -> None:
        self.keys = keys
        super().__init__(POOL_ID, lambda: [key.jwk() for key in self.keys])


def access_token(key: SigningKey, **overrides: Any) -> str:
    now = int(time.time())
    claims = {"sub": SUB, "iss": ISSUER, "client_id": CLIENT_ID, "token_use": "access", "scope": SCOPE,
              "auth_time": now, "iat": now, "exp": now + 3600, "jti": "jti-1", "username": SUB}
    claims.update(overrides)
    claims = {name: value for name, value in claims.items() if value is not None}
    return jwt.encode(claims, key.pem(), algorithm="RS256", headers={"kid": key.kid})


@pytest.fixture
def jwks() -> Iterator[tuple[Jwks, str]]:
    published = Jwks([SigningKey("key-1")])
    yield published, published.url
    published.close()


@pytest.fixture
def users() -> FakeUsers:
    return FakeUsers(USER)


@pytest.fixture
def authorize(jwks, users, monkeypatch: pytest.MonkeyPatch):
    """Calls the authorizer function as API Gateway does at ``$connect``, its JWKS served by ``jwks``."""
    _, endpoint = jwks
    resources = LocalResources(table_name="cruddur-messages", parameters={"CognitoUserPoolId": POOL_ID,
                                                                         "CognitoUserPoolClientId": CLIENT_ID})
    for name, value in function_environment(resources, endpoint, AUTHORIZER_FUNCTION).items():
        monkeypatch.setenv(name, value)
    cold_start()
    spec = local_function_specs(resources, "no-stream")[AUTHORIZER_FUNCTION]
    container = load_handler_module(spec).container  # the cold start: settings read, nothing connected yet
    container.callers = CallerDirectory(users, container.settings.caller_cache_ttl_seconds)

    def call(*, subprotocols: str | None = None, query: dict[str, str] | None = None) -> dict[str, Any]:
        event = load_event("live-authorizer-connect")
        for headers, value in ((event["headers"], subprotocols), (event["multiValueHeaders"], [subprotocols])):
            headers.pop("Sec-WebSocket-Protocol")
            if subprotocols is not None:
                headers["Sec-WebSocket-Protocol"] = value
        event["queryStringParameters"] = query
        return handler_of(spec)(event, context_for(spec))

    yield call
    cold_start()


def refused(call) -> bool:
    """API Gateway answers 401 exactly when the authorizer fails with ``Unauthorized``."""
    with pytest.raises(Exception) as raised:
        call()
    return str(raised.value) == "Unauthorized"


def test_an_access_token_as_subprotocol_is_allowed_with_its_sub(authorize, jwks) -> None:
    token = access_token(jwks[0].keys[0])
    answer = authorize(subprotocols=f"cruddur.v1, {token}")
    method_arn = load_event("live-authorizer-connect")["methodArn"]
    assert answer["principalId"] == SUB
    assert answer["policyDocument"]["Statement"] == [
        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": method_arn}]
    assert answer["context"] == {"sub": SUB, "username": SUB, "scope": SCOPE, "user_uuid": USER.uuid}
    assert token not in json.dumps(answer)


def test_the_context_holds_only_strings(authorize, jwks, users) -> None:
    """API Gateway accepts only strings, numbers and booleans as context values, and the routes read strings."""
    users.down = True
    for subject in (SUB, UNREGISTERED_SUB):
        answer = authorize(subprotocols=f"cruddur.v1, {access_token(jwks[0].keys[0], sub=subject)}")
        assert all(isinstance(value, str) for value in answer["context"].values())


def test_the_user_is_looked_up_once_per_warm_container(authorize, jwks, users) -> None:
    token = access_token(jwks[0].keys[0])
    for _ in range(3):
        assert authorize(subprotocols=f"cruddur.v1, {token}")["context"]["user_uuid"] == USER.uuid
    assert len(users.lookups) == 1


@pytest.mark.parametrize("down, status, code", [(False, "403", "caller_not_registered"),
                                                (True, "503", "dependency_unavailable")],
                         ids=["unregistered", "database-down"])
def test_a_valid_token_without_a_user_is_admitted_with_the_reason_for_connect(authorize, jwks, users, down, status,
                                                                            code) -> None:
    """An authorizer can answer only 401, 403 or 500: $connect gives the refusal its own status and message."""
    users.down = down
    subject = SUB if down else UNREGISTERED_SUB
    answer = authorize(subprotocols=f"cruddur.v1, {access_token(jwks[0].keys[0], sub=subject)}")
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    context = answer["context"]
    assert "user_uuid" not in context
    assert (context["refusal_status"], context["refusal_code"]) == (status, code) and context["refusal_message"]


def test_an_access_token_in_the_query_string_is_allowed(authorize, jwks) -> None:
    assert authorize(query={"access_token": access_token(jwks[0].keys[0])})["principalId"] == SUB


@pytest.mark.parametrize("claims", [
    pytest.param({"exp": int(time.time()) - 5}, id="expired"),
    pytest.param({"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other"}, id="another-pool"),
    pytest.param({"client_id": "another-client"}, id="another-client"),
    pytest.param({"token_use": "id", "client_id": None, "scope": None, "aud": CLIENT_ID}, id="id-token"),
    pytest.param({"scope": "openid email"}, id="without-the-user-scope"),
    pytest.param({"token_use": None}, id="without-token-use"),
])
def test_tokens_the_http_apis_authorizer_refuses_are_refused(authorize, jwks, claims) -> None:
    token = access_token(jwks[0].keys[0], **claims)
    assert refused(lambda: authorize(subprotocols=f"cruddur.v1, {token}"))
    assert refused(lambda: authorize(query={"access_token": token}))


def test_a_token_signed_by_a_key_outside_the_jwks_is_refused(authorize, jwks) -> None:
    impostor = SigningKey("key-1")  # the published key's id, another private key
    assert refused(lambda: authorize(subprotocols=f"cruddur.v1, {access_token(impostor)}"))
    unsigned = jwt.encode({"sub": SUB, "iss": ISSUER, "client_id": CLIENT_ID, "token_use": "access", "scope": SCOPE,
                           "exp": int(time.time()) + 60}, key=None, algorithm="none", headers={"kid": "key-1"})
    assert refused(lambda: authorize(subprotocols=f"cruddur.v1, {unsigned}"))


def test_missing_or_misplaced_tokens_are_refused(authorize, jwks) -> None:
    token = access_token(jwks[0].keys[0])
    assert refused(lambda: authorize())
    assert refused(lambda: authorize(subprotocols="cruddur.v1"))
    assert refused(lambda: authorize(subprotocols=f"graphql-ws, {token}"))  # not next to cruddur.v1
    assert refused(lambda: authorize(query={"access_token": ""}))
    assert refused(lambda: authorize(subprotocols="cruddur.v1, not-a-jwt"))


def test_the_jwks_is_fetched_once_per_container(authorize, jwks) -> None:
    published, _ = jwks
    for _ in range(3):
        authorize(subprotocols=f"cruddur.v1, {access_token(published.keys[0])}")
    assert published.fetches == 1


def test_a_new_key_id_fetches_the_jwks_again_at_most_once_per_cooldown(jwks) -> None:
    """Key rotation: a token naming a key id not seen yet makes the verifier fetch the JWKS again - but not more
    than once per cooldown (30 s in the function, shortened here), so made-up key ids cannot make every connect
    fetch it. Tested on the verifier itself, whose cooldown can be shortened."""
    published, endpoint = jwks
    rotated = SigningKey("key-2")
    made_up = [access_token(SigningKey(f"made-up-{number}", rotated.private)) for number in range(5)]
    verifier = AccessTokenVerifier(ISSUER, CLIENT_ID, jwks_url(ISSUER, {"AWS_ENDPOINT_URL": endpoint}),
                                   replace(JWKS_POLICY, refetch_cooldown_seconds=COOLDOWN_SECONDS))
    assert verifier.verify(access_token(published.keys[0])).sub == SUB
    assert published.fetches == 1

    for token in made_up:  # made-up key ids, right after a fetch: refused without fetching again
        with pytest.raises(TokenRejected):
            verifier.verify(token)
    assert published.fetches == 1

    published.keys.append(rotated)  # Cognito rotated its keys
    time.sleep(COOLDOWN_SECONDS + 0.1)
    assert verifier.verify(access_token(rotated)).sub == SUB
    assert published.fetches == 2
    verifier.verify(access_token(rotated))
    assert published.fetches == 2


def test_the_jwks_comes_from_the_issuer_or_the_local_cognito_endpoint() -> None:
    assert jwks_url(ISSUER, {}) == f"{ISSUER}/.well-known/jwks.json"
    assert jwks_url(ISSUER, {"AWS_ENDPOINT_URL": "http://127.0.0.1:8000/"}) == \
        f"http://127.0.0.1:8000/{POOL_ID}/.well-known/jwks.json"
    assert jwks_url(ISSUER, {"AWS_ENDPOINT_URL": "http://a:1", "AWS_ENDPOINT_URL_COGNITO_IDP": "http://b:2"}) == \
        f"http://b:2/{POOL_ID}/.well-known/jwks.json"


# --- the JWKS cannot be fetched ---------------------------------------------------------------------------------

# A JWKS kept 0.3 s, fetched with a 0.5 s timeout, retried 1 s after a failure (then 2 s, ...).
SHORT = replace(JWKS_POLICY, lifespan_seconds=0.3, timeout_seconds=0.5, refetch_cooldown_seconds=0,
                first_backoff_seconds=1.0)


def retried(call) -> bool:
    """API Gateway answers 500 when the authorizer fails with any other message than ``Unauthorized``
    (docs/websocket-api.md): a client retries the handshake instead of signing its user out."""
    with pytest.raises(Exception) as raised:
        call()
    return str(raised.value) != "Unauthorized"


def test_a_container_that_cannot_fetch_the_jwks_defers_a_valid_token_with_a_500_never_a_401(authorize, jwks) -> None:
    published, _ = jwks
    published.outage = "error"
    valid = access_token(published.keys[0])

    assert retried(lambda: authorize(subprotocols=f"cruddur.v1, {valid}"))
    # A token refused whatever the keys is still refused: expired, of another app client, not a token.
    for token in (access_token(published.keys[0], exp=int(time.time()) - 5),
                  access_token(published.keys[0], client_id="another-client"), "not-a-jwt"):
        assert refused(lambda token=token: authorize(subprotocols=f"cruddur.v1, {token}"))
    assert published.fetches == 1  # the failed fetch; the back-off holds the others


def test_while_the_jwks_fails_the_known_keys_keep_serving_and_a_new_key_waits(jwks) -> None:
    published, endpoint = jwks
    verifier = AccessTokenVerifier(ISSUER, CLIENT_ID, jwks_url(ISSUER, {"AWS_ENDPOINT_URL": endpoint}), SHORT)
    assert verifier.verify(access_token(published.keys[0])).sub == SUB
    published.outage = "error"
    time.sleep(SHORT.lifespan_seconds + 0.05)  # the cached set is stale: the next verify fetches, and fails

    assert verifier.verify(access_token(published.keys[0])).sub == SUB  # served with the key it knew
    rotated = SigningKey("key-2")
    with pytest.raises(KeysUnavailable) as unavailable:
        verifier.verify(access_token(rotated))
    assert unavailable.value.retry_after_seconds == 1
    assert published.fetches == 2  # one failed fetch; the back-off holds the others

    published.keys.append(rotated)  # the pool is back, with its new key
    published.outage = None
    time.sleep(SHORT.first_backoff_seconds)
    assert verifier.verify(access_token(rotated)).sub == SUB
    assert published.fetches == 3


def test_a_hanging_jwks_costs_one_timeout_per_back_off_not_one_per_connect(jwks) -> None:
    published, endpoint = jwks
    verifier = AccessTokenVerifier(ISSUER, CLIENT_ID, jwks_url(ISSUER, {"AWS_ENDPOINT_URL": endpoint}), SHORT)
    token = access_token(published.keys[0])
    verifier.verify(token)
    published.outage = "hang"
    time.sleep(SHORT.lifespan_seconds + 0.05)

    started = time.monotonic()
    assert verifier.verify(token).sub == SUB
    waited = time.monotonic() - started
    for _ in range(20):
        assert verifier.verify(token).sub == SUB
    then = time.monotonic() - started - waited

    assert SHORT.timeout_seconds <= waited < SHORT.timeout_seconds + 0.5
    assert then < 0.5 and published.fetches == 2
