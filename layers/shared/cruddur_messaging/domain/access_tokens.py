"""Cognito access tokens, checked as API Gateway's JWT authorizer checks them, for the WebSocket API's
``$connect`` authorizer (``LiveAuthorizerFunction``).

A token is admitted when it is an RS256 JWT signed by a key of the pool's JWKS, from the pool's issuer, for the
app client (``client_id``; Cognito access tokens carry no ``aud``), unexpired, a Cognito *access* token
(``token_use``) with the scope ``aws.cognito.signin.user.admin`` (ID tokens carry no scope: the HTTP API keeps
them out with the routes' ``AuthorizationScopes``). The JWKS is fetched once per container and cached for an hour,
and fetched again when a token names a key id it has not seen (key rotation), at most once per cooldown so that
made-up key ids cannot make every connect fetch it (``data.jwks``). While it cannot be fetched, the keys already
known keep serving; a token naming another key is then ``KeysUnavailable``, not a rejection: it may be
valid, and the client must be told to retry, not to sign in again.

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
from cruddur_messaging.data.jwks import JwksPolicy, SigningKeys, UnknownKey
from cruddur_messaging.observability import logger

REQUIRED_SCOPE = "aws.cognito.signin.user.admin"
JWKS_POLICY = JwksPolicy(lifespan_seconds=3600, timeout_seconds=3, refetch_cooldown_seconds=30.0)
LEEWAY_SECONDS = 0
REQUIRED_CLAIMS = ["exp", "iss", "sub", "token_use"]


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
    def __init__(self, issuer: str, app_client_id: str, jwks_url: str, jwks_policy: JwksPolicy = JWKS_POLICY) -> None:
        self._issuer = issuer
        self._app_client_id = app_client_id
        self._jwks = SigningKeys(jwks_url, jwks_policy, on_fetch_failure=_log_jwks_failure)

    @classmethod
    def of(cls, settings: AuthorizerSettings) -> "AccessTokenVerifier":
        """The verifier of the configured pool and app client (a container's: its JWKS cache lives as long)."""
        return cls(settings.issuer, settings.app_client_id, jwks_url(settings.issuer))

    def verify(self, token: str) -> AccessToken:
        """Raises :class:`TokenRejected`, or ``data.jwks.KeysUnavailable`` when the token cannot be checked now.

        The claims are checked before the signature (the same bytes either way), so a token that is refused
        whatever the keys (expired, another pool or app client, no scope) is refused even while the JWKS cannot
        be fetched; only one that would pass but names an unknown key waits for the keys.
        """
        try:
            claims = jwt.decode(token, issuer=self._issuer, leeway=LEEWAY_SECONDS, options={
                "verify_signature": False, "verify_exp": True, "verify_iss": True, "require": REQUIRED_CLAIMS})
            scopes = self._access_scopes(claims)
            key = self._jwks.key_for(jwt.get_unverified_header(token).get("kid"))
            jwt.decode(token, key.key, algorithms=["RS256"], issuer=self._issuer, leeway=LEEWAY_SECONDS,
                       options={"require": REQUIRED_CLAIMS, "verify_aud": False})
        except (UnknownKey, jwt.InvalidTokenError) as error:
            raise TokenRejected(str(error) or type(error).__name__) from error
        return AccessToken(sub=str(claims["sub"]), username=str(claims.get("username", "")), scopes=scopes)

    def _access_scopes(self, claims: dict[str, Any]) -> tuple[str, ...]:
        """The scopes of a Cognito access token of the app client with the user scope; else :class:`TokenRejected`."""
        if claims.get("token_use") != "access":
            raise TokenRejected("not an access token")
        if claims.get("client_id") != self._app_client_id:
            raise TokenRejected("the token is for another app client")
        scopes = tuple(str(claims.get("scope", "")).split())
        if REQUIRED_SCOPE not in scopes:
            raise TokenRejected(f"the token lacks the scope {REQUIRED_SCOPE}")
        return scopes


def _log_jwks_failure(reason: str) -> None:
    logger.warning("cannot fetch the JWKS", extra={"reason": reason})


def allow_policy(token: AccessToken, method_arn: str, caller: Mapping[str, str]) -> dict[str, Any]:
    """The authorizer's answer for an admitted token; ``context`` reaches every route of the connection, with the
    caller's entries (``domain.live_callers.caller_context``)."""
    return {
        "principalId": token.sub,
        "policyDocument": {"Version": "2012-10-17", "Statement": [
            {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": method_arn}]},
        "context": {"sub": token.sub, "username": token.username, "scope": " ".join(token.scopes), **caller},
    }
