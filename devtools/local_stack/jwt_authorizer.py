"""The HTTP API JWT authorizer, locally: what API Gateway checks before a protected route's function runs.

The token (from the authorizer's identity source, with or without ``Bearer``) must be an RS256 JWT signed by a
key of the issuer's JWKS, from the configured ``issuer``, for one of the configured audiences (``aud``, or
``client_id`` in Cognito access tokens), unexpired and not before its ``nbf``, and carry one of the route's
``AuthorizationScopes`` in ``scope`` when the route declares any. Nothing else: like API Gateway, no ``token_use``
check, so a Cognito ID token (which has no ``scope``) is refused only by a route's scopes; every authorized route
of ``template.yaml`` declares them (tests/unit/local_stack/test_local_jwt_authorizer.py). The JWKS is
fetched from the local endpoint where AWS would fetch ``{issuer}/.well-known/jwks.json``, cached for five
minutes, and fetched again when a token names a key it has not seen (at most once per cooldown, so that tokens
with made-up key ids cannot make it fetch on every request): the layer's ``data.jwks``, as the WebSocket API's
authorizer does. While the JWKS cannot be fetched, the keys already known keep serving, and a token naming
another key gets ``KeysUnavailable`` (the HTTP API answers 503 with ``Retry-After``), never a 401: it may be
valid, and a client signs its user out on a 401.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Mapping, Sequence
from urllib.parse import urlsplit

import jwt

from cruddur_messaging.data.jwks import JwksPolicy, SigningKeys, UnknownKey
from devtools.template import JwtAuthorizerSpec

HEADER_SOURCE_PREFIX = "$request.header."
JWKS_POLICY = JwksPolicy(lifespan_seconds=300, timeout_seconds=5, refetch_cooldown_seconds=30.0)

log = logging.getLogger(__name__)


class Unauthorized(Exception):
    """The request is rejected with 401; the message says why (for the log and ``www-authenticate``)."""


class InsufficientScope(Exception):
    """A valid token without any of the route's AuthorizationScopes: API Gateway answers 403."""


@dataclass(frozen=True)
class Authorization:
    """What the authorizer hands to the function in ``requestContext.authorizer``."""

    claims: dict[str, str]
    scopes: list[str] | None

    def as_request_context(self) -> dict[str, Any]:
        return {"jwt": {"claims": self.claims, "scopes": self.scopes}}


def jwks_url(issuer: str, aws_endpoint_url: str) -> str:
    """``{issuer}/.well-known/jwks.json`` with the issuer's host replaced by the local endpoint."""
    return f"{aws_endpoint_url.rstrip('/')}{urlsplit(issuer).path.rstrip('/')}/.well-known/jwks.json"


def claim_as_string(value: Any) -> str:
    """API Gateway passes every claim as a string: numbers as digits, arrays as ``[a b]``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + " ".join(claim_as_string(item) for item in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


class JwtAuthorizer:
    def __init__(self, spec: JwtAuthorizerSpec, aws_endpoint_url: str, jwks_policy: JwksPolicy = JWKS_POLICY) -> None:
        if not spec.identity_source.lower().startswith(HEADER_SOURCE_PREFIX.lower()):
            raise ValueError(f"unsupported identity source {spec.identity_source!r} (only request headers)")
        self.spec = spec
        self.header_name = spec.identity_source[len(HEADER_SOURCE_PREFIX):].lower()
        self._jwks = SigningKeys(jwks_url(spec.issuer, aws_endpoint_url), jwks_policy,
                                 on_fetch_failure=lambda reason: log.warning("cannot fetch the JWKS: %s", reason))

    def authorize(self, headers: Mapping[str, str], required_scopes: Sequence[str] = ()) -> Authorization:
        """``headers`` with lower-case names. Raises :class:`Unauthorized`, :class:`InsufficientScope` or
        ``KeysUnavailable`` (the token cannot be checked now)."""
        value = headers.get(self.header_name, "").strip()
        if not value:
            raise Unauthorized("no token")
        scheme, _, rest = value.partition(" ")
        token = rest.strip() if scheme.lower() == "bearer" else value
        try:
            # The claims before the signature (the same bytes either way): a token refused whatever the keys is a
            # 401 even while the JWKS cannot be fetched.
            claims = jwt.decode(token, issuer=self.spec.issuer, options={
                "verify_signature": False, "verify_exp": True, "verify_nbf": True, "verify_iss": True,
                "require": ["exp", "iss"]})
            audience = claims.get("aud", claims.get("client_id"))
            audiences = audience if isinstance(audience, list) else [audience]
            if not any(item in self.spec.audience for item in audiences):
                raise Unauthorized("the token is for another client")
            key = self._jwks.key_for(jwt.get_unverified_header(token).get("kid"))
            jwt.decode(token, key.key, algorithms=["RS256"], issuer=self.spec.issuer,
                       options={"require": ["exp", "iss"], "verify_aud": False})
        except (UnknownKey, jwt.InvalidTokenError) as error:
            raise Unauthorized(str(error) or type(error).__name__) from error
        token_scopes = str(claims.get("scope", "")).split()
        if required_scopes and not set(required_scopes) & set(token_scopes):
            raise InsufficientScope(f"none of the scopes {list(required_scopes)}")
        # API Gateway passes the token's scopes only to routes that declare AuthorizationScopes.
        return Authorization(claims={name: claim_as_string(value) for name, value in claims.items()},
                             scopes=token_scopes if required_scopes else None)
