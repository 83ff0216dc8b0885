"""The local JWT authorizer against a JWKS it fetches over HTTP, as API Gateway fetches the issuer's."""
from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any, Iterator

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from cruddur_messaging.data.jwks import KeysUnavailable
from devtools.local_stack.api_server import HttpApi
from devtools.local_stack.jwt_authorizer import (
    JWKS_POLICY,
    InsufficientScope,
    JwtAuthorizer,
    Unauthorized,
    claim_as_string,
    jwks_url,
)
from devtools.environment import LocalResources, template_context
from devtools.template import JwtAuthorizerSpec, function_specs, http_api_spec, load_template
from tests.support.jwks import JwksEndpoint, public_jwk

POOL = "us-east-1_Local"
ISSUER = f"https://cognito-idp.us-east-1.amazonaws.com/{POOL}"
CLIENT = "frontend-client"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


SIGNING_KEY = new_key()
OTHER_KEY = new_key()


class Jwks(JwksEndpoint):
    """The pool's endpoint, publishing the keys in ``keys`` (kid -> key)."""

    def __init__(self) -> None:
        self.keys: dict[str, rsa.RSAPrivateKey] = {"k1": SIGNING_KEY}
        super().__init__(POOL, lambda: [public_jwk(kid, key) for kid, key in self.keys.items()])


@pytest.fixture
def jwks() -> Iterator[Jwks]:
    served = Jwks()
    yield served
    served.close()


SPEC = JwtAuthorizerSpec(name="CognitoJwt", identity_source="$request.header.Authorization", issuer=ISSUER,
                         audience=[CLIENT])


@pytest.fixture
def authorizer(jwks: Jwks) -> JwtAuthorizer:
    return JwtAuthorizer(SPEC, jwks.url, replace(JWKS_POLICY, refetch_cooldown_seconds=0))


def token(key: rsa.RSAPrivateKey = SIGNING_KEY, kid: str = "k1", **claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "sub": "sub-1", "client_id": CLIENT, "token_use": "access", "iat": now,
               "exp": now + 3600, "username": "sub-1", "scope": "aws.cognito.signin.user.admin",
               "cognito:groups": ["a", "b"], **claims}
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, key, algorithm="RS256",
                      headers={"kid": kid})


def authorize(authorizer: JwtAuthorizer, value: str) -> Any:
    return authorizer.authorize({"authorization": value})


def test_a_valid_access_token_passes_its_claims_as_strings(authorizer: JwtAuthorizer) -> None:
    authorization = authorize(authorizer, f"Bearer {token()}")
    claims = authorization.claims
    assert claims["sub"] == "sub-1" and claims["client_id"] == CLIENT
    assert claims["exp"].isdigit() and claims["cognito:groups"] == "[a b]"
    assert all(isinstance(value, str) for value in claims.values())
    assert authorization.as_request_context() == {"jwt": {"claims": claims, "scopes": None}}
    assert authorize(authorizer, token()).claims["sub"] == "sub-1"  # the Bearer prefix is optional


@pytest.mark.parametrize("claims", [
    {"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other"},
    {"client_id": "another-client"},
    {"client_id": None, "aud": "another-client"},
    {"exp": int(time.time()) - 10},
    {"exp": None},
    {"nbf": int(time.time()) + 600},
])
def test_tokens_the_http_api_would_refuse(authorizer: JwtAuthorizer, claims: dict[str, Any]) -> None:
    with pytest.raises(Unauthorized):
        authorize(authorizer, f"Bearer {token(**claims)}")


# A Cognito ID token: the app client in ``aud``, no ``client_id`` and no ``scope``.
ID_TOKEN_CLAIMS = {"token_use": "id", "client_id": None, "aud": CLIENT, "scope": None, "email": "a@example.com"}


def test_id_tokens_are_refused_by_the_routes_scopes_only_as_api_gateway_does(authorizer: JwtAuthorizer) -> None:
    # API Gateway's JWT authorizer has no token_use check: a valid ID token passes a route without
    # AuthorizationScopes, and a route with them answers 403 (not 401), as for any valid token without the scope.
    id_token = token(**ID_TOKEN_CLAIMS)
    assert authorize(authorizer, f"Bearer {id_token}").claims["token_use"] == "id"
    with pytest.raises(InsufficientScope):
        authorizer.authorize({"authorization": f"Bearer {id_token}"}, ("aws.cognito.signin.user.admin",))
    assert authorize(authorizer, f"Bearer {token(token_use=None)}").claims["sub"] == "sub-1"


def test_every_authorized_route_of_the_template_declares_scopes() -> None:
    # Without AuthorizationScopes a route accepts Cognito ID tokens in AWS (see the test above).
    specs = function_specs(load_template(), template_context(LocalResources(table_name="t"), stream_arn="-"))
    routes = [route for spec in specs.values() for route in spec.routes]
    authorized = [route for route in routes if route.authorized]
    assert authorized, "the template has no authorized routes: the check below would check nothing"
    assert [route.route_key for route in authorized if not route.scopes] == []
    assert http_api_spec(load_template(), template_context(LocalResources(table_name="t"))).default_authorizer


def test_routes_with_authorization_scopes_need_one_of_them(authorizer: JwtAuthorizer) -> None:
    required = ("aws.cognito.signin.user.admin",)
    authorization = authorizer.authorize({"authorization": f"Bearer {token()}"}, required)
    assert authorization.as_request_context()["jwt"]["scopes"] == ["aws.cognito.signin.user.admin"]
    with pytest.raises(InsufficientScope):
        authorizer.authorize({"authorization": f"Bearer {token(scope='openid profile')}"}, required)
    with pytest.raises(InsufficientScope):
        authorizer.authorize({"authorization": f"Bearer {token(scope=None)}"}, required)


def test_tampered_foreign_and_malformed_tokens_are_refused(authorizer: JwtAuthorizer) -> None:
    header, payload, signature = token().split(".")
    forged_payload = jwt.utils.base64url_encode(json.dumps(
        {**jwt.decode(token(), options={"verify_signature": False}), "sub": "someone-else"}).encode()).decode()
    for value in (f"Bearer {header}.{forged_payload}.{signature}", f"Bearer {token(key=OTHER_KEY)}",
                  "Bearer not-a-jwt", "Bearer ", "", f"Basic {token()}x"):
        with pytest.raises(Unauthorized):
            authorize(authorizer, value)
    hs256 = jwt.encode({"iss": ISSUER, "client_id": CLIENT, "token_use": "access", "exp": int(time.time()) + 60},
                       "a-shared-secret-long-enough-for-hs256!", algorithm="HS256", headers={"kid": "k1"})
    with pytest.raises(Unauthorized):
        authorize(authorizer, hs256)


def test_a_key_the_jwks_did_not_have_is_fetched_again(authorizer: JwtAuthorizer, jwks: Jwks) -> None:
    authorize(authorizer, token())
    jwks.keys["k2"] = OTHER_KEY
    assert authorize(authorizer, token(key=OTHER_KEY, kid="k2")).claims["sub"] == "sub-1"
    assert jwks.fetches == 2
    with pytest.raises(Unauthorized):
        authorize(authorizer, token(kid="k3"))


def test_unknown_key_ids_refetch_at_most_once_per_cooldown(jwks: Jwks) -> None:
    authorizer = JwtAuthorizer(SPEC, jwks.url)
    authorize(authorizer, token())
    for _ in range(3):
        with pytest.raises(Unauthorized):
            authorize(authorizer, token(kid="made-up"))
    assert jwks.fetches == 1


def test_the_jwks_is_fetched_where_the_issuer_keeps_it_on_the_local_endpoint() -> None:
    assert jwks_url(ISSUER, "http://127.0.0.1:8000/") == f"http://127.0.0.1:8000/{POOL}/.well-known/jwks.json"


def test_claims_are_rendered_as_api_gateway_renders_them() -> None:
    assert [claim_as_string(value) for value in (1700000000, True, ["x", 2], "s")] == ["1700000000", "true", "[x 2]",
                                                                                     "s"]


# --- the JWKS cannot be fetched ---------------------------------------------------------------------------------

# A JWKS kept 0.3 s, fetched with a 0.5 s timeout, retried 1 s after a failure (then 2 s, ...).
SHORT = replace(JWKS_POLICY, lifespan_seconds=0.3, timeout_seconds=0.5, refetch_cooldown_seconds=0,
                first_backoff_seconds=1.0)


class Echo:
    """The functions of the template, each answering 200; counts the calls."""

    specs = function_specs(load_template(), template_context(LocalResources(table_name="t"), stream_arn="-"))

    def __init__(self) -> None:
        self.calls = 0

    def invoke(self, logical_id: str, event: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        return {"statusCode": 200, "body": "[]"}


def get_groups(api: HttpApi, value: str) -> Any:
    return api.handle(method="GET", raw_path="/api/message_groups", raw_query="", headers=[("Authorization", value)],
                      body=b"", source_ip="127.0.0.1", protocol="HTTP/1.1")


def test_while_the_jwks_fails_the_known_keys_keep_serving_and_a_new_key_is_a_503_never_a_401(jwks: Jwks) -> None:
    runner = Echo()
    api = HttpApi(runner=runner, authorizer=JwtAuthorizer(SPEC, jwks.url, SHORT), cors=None)
    assert get_groups(api, f"Bearer {token()}").status == 200
    jwks.outage = "error"
    time.sleep(SHORT.lifespan_seconds + 0.05)  # the cached set is stale: the next request fetches, and fails

    assert get_groups(api, f"Bearer {token()}").status == 200  # served with the key it knew
    rotated = get_groups(api, f"Bearer {token(key=OTHER_KEY, kid='k2')}")  # a key it cannot know yet
    assert (rotated.status, json.loads(rotated.body)) == (503, {"message": "Service Unavailable"})
    assert dict(rotated.headers)["retry-after"] == "1"  # the back-off's end
    # A token refused whatever the keys is still a 401: expired, or for another client.
    for refused in (token(exp=int(time.time()) - 10), token(client_id="another-client", key=OTHER_KEY, kid="k2")):
        assert get_groups(api, f"Bearer {refused}").status == 401
    assert (runner.calls, jwks.fetches) == (2, 2)  # one failed fetch; the back-off holds the others

    jwks.keys["k2"] = OTHER_KEY  # the issuer is back, with its new key
    jwks.outage = None
    time.sleep(SHORT.first_backoff_seconds)
    assert get_groups(api, f"Bearer {token(key=OTHER_KEY, kid='k2')}").status == 200
    assert jwks.fetches == 3


def test_a_hanging_jwks_costs_one_timeout_per_back_off_not_one_per_request(jwks: Jwks) -> None:
    authorizer = JwtAuthorizer(SPEC, jwks.url, SHORT)
    authorize(authorizer, token())
    jwks.outage = "hang"
    time.sleep(SHORT.lifespan_seconds + 0.05)

    started = time.monotonic()
    assert authorize(authorizer, token()).claims["sub"] == "sub-1"
    waited = time.monotonic() - started
    for _ in range(20):
        assert authorize(authorizer, token()).claims["sub"] == "sub-1"
    then = time.monotonic() - started - waited

    assert SHORT.timeout_seconds <= waited < SHORT.timeout_seconds + 0.5
    assert then < 0.5 and jwks.fetches == 2
    with pytest.raises(KeysUnavailable):
        authorize(authorizer, token(key=OTHER_KEY, kid="k2"))


def test_an_authorizer_that_never_had_the_keys_answers_every_plausible_token_with_a_503(jwks: Jwks) -> None:
    jwks.outage = "error"
    api = HttpApi(runner=Echo(), authorizer=JwtAuthorizer(SPEC, jwks.url, SHORT), cors=None)

    response = get_groups(api, f"Bearer {token()}")

    assert response.status == 503 and int(dict(response.headers)["retry-after"]) >= 1
    assert get_groups(api, "Bearer not-a-jwt").status == 401
