"""Cognito access tokens, checked as API Gateway's JWT authorizer checks them, for the WebSocket API's
``$connect`` authorizer (``LiveAuthorizerFunction``).

A token is admitted when it is an RS256 JWT signed by a key of the pool's JWKS, from the pool's issuer, for the
app client (``client_id``; Cognito access tokens carry no ``aud``), unexpired, a Cognito *access* token
(``token_use``) with the scope ``aws.cognito.signin.user.admin`` (ID tokens carry no scope: the HTTP API keeps
them out with the routes' ``AuthorizationScopes``). The JWKS is fetched once per container and cached, and
fetched again when a token names a key id it has not seen (key rotation), at most once per cooldown so that
made-up key ids cannot make every connect fetch it.

PyJWT and ``cryptography`` come with the authorizer function (its own ``requirements.txt``), not with the shared
layer: no other function imports this module.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import urlsplit

import jwt

from cruddur_messaging.config import AuthorizerSettings

REQUIRED_SCOPE = "aws.cognito.signin.user.admin"
JWKS_CACHE_SECONDS = 3600
UNKNOWN_KEY_REFETCH_COOLDOWN_SECONDS = 30.0
JWKS_TIMEOUT_SECONDS = 3
LEEWAY_SECONDS = 0


class TokenRejected(Exception):
    """Not an admissible access token; the message says why (for the log, never for the client)."""


def jwks_url(issuer: str, environ: Mapping[str, str] = os.environ) -> str:
    """``{issuer}/.well-known/jwks.json``, from the Cognito endpoint the SDK would use: a local stand-in named by
    ``AWS_ENDPOINT_URL_COGNITO_IDP`` or ``AWS_ENDPOINT_URL`` serves it under the issuer's path."""
    endpoint = environ.get("AWS_ENDPOINT_URL_COGNITO_IDP") or environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        return f"{endpoint.rstrip('/')}{urlsplit(issuer).path.rstrip('/')}/.well-known/jwks.json"
    return f"{issuer.rstrip('/')}/.well-known/jwks.json"


@dataclass(frozen=True)
class AccessToken:
    sub: str
    username: str
    scopes: tuple[str, ...]


class AccessTokenVerifier:
    def __init__(self, issuer: str, app_client_id: str, jwks_url: str,
                 refetch_cooldown_seconds: float = UNKNOWN_KEY_REFETCH_COOLDOWN_SECONDS) -> None:
        self._issuer = issuer
        self._app_client_id = app_client_id
        self._jwks = jwt.PyJWKClient(jwks_url, cache_jwk_set=True, lifespan=JWKS_CACHE_SECONDS,
                                     timeout=JWKS_TIMEOUT_SECONDS, cooldown_duration=refetch_cooldown_seconds)

    @classmethod
    def of(cls, settings: AuthorizerSettings) -> "AccessTokenVerifier":
        """The verifier of the configured pool and app client (a container's: its JWKS cache lives as long)."""
        return cls(settings.issuer, settings.app_client_id, jwks_url(settings.issuer))

    def verify(self, token: str) -> AccessToken:
        try:
            key = self._jwks.get_signing_key_from_jwt(token)
            claims = jwt.decode(token, key.key, algorithms=["RS256"], issuer=self._issuer, leeway=LEEWAY_SECONDS,
                                options={"require": ["exp", "iss", "sub", "token_use"], "verify_aud": False})
        except jwt.PyJWKClientConnectionError as error:
            raise TokenRejected(f"cannot fetch the JWKS: {type(error).__name__}") from error
        except (jwt.PyJWKClientError, jwt.InvalidTokenError) as error:
            raise TokenRejected(str(error) or type(error).__name__) from error
        if claims.get("token_use") != "access":
            raise TokenRejected("not an access token")
        if claims.get("client_id") != self._app_client_id:
            raise TokenRejected("the token is for another app client")
        scopes = tuple(str(claims.get("scope", "")).split())
        if REQUIRED_SCOPE not in scopes:
            raise TokenRejected(f"the token lacks the scope {REQUIRED_SCOPE}")
        return AccessToken(sub=str(claims["sub"]), username=str(claims.get("username", "")), scopes=scopes)


def allow_policy(token: AccessToken, method_arn: str, caller: Mapping[str, str]) -> dict[str, Any]:
    """The authorizer's answer for an admitted token; ``context`` reaches every route of the connection, with the
    caller's entries (``domain.live_callers.caller_context``)."""
    return {
        "principalId": token.sub,
        "policyDocument": {"Version": "2012-10-17", "Statement": [
            {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": method_arn}]},
        "context": {"sub": token.sub, "username": token.username, "scope": " ".join(token.scopes), **caller},
    }
