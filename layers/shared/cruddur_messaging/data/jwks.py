"""An issuer's JWKS over HTTP, cached, and kept through the issuer's outages (stale-if-error).

The WebSocket ``$connect`` authorizer (``domain.access_tokens``) checks tokens against it, and so does the local
stack's stand-in for the HTTP API's JWT authorizer (``devtools/local_stack/jwt_authorizer.py``). PyJWT comes with
the authorizer function (its own ``requirements.txt``), not with the layer: no other function imports this module.

- The key set is fetched when first needed and kept ``lifespan_seconds``; after that it is fetched again when next
  needed.
- A fetch that fails (refused, timed out, an HTTP error, not a key set) never drops the keys already known: they
  keep serving. The next fetch waits for a back-off that doubles with each failure in a row (``first_backoff``
  up to ``max_backoff``), so an issuer that hangs costs one timeout per back-off, not one per request.
- A key id the known set lacks (the issuer rotated its keys) makes a fetch, at most once per
  ``refetch_cooldown`` after a successful one, so made-up key ids cannot make every request fetch. Then it is
  :class:`UnknownKey` if the issuer's set, as last fetched, lacks it, and :class:`KeysUnavailable` if the set
  cannot be had now: the token may be valid, so the answer must be "try again", never "sign in again".
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Callable

import jwt


class UnknownKey(Exception):
    """The token names no key of the issuer's current key set."""


class KeysUnavailable(Exception):
    """The token names a key this cache does not know, and the issuer's key set cannot be fetched now."""

    def __init__(self, reason: str, retry_after_seconds: int) -> None:
        super().__init__(reason)
        self.retry_after_seconds = retry_after_seconds


@dataclass(frozen=True)
class JwksPolicy:
    lifespan_seconds: float
    timeout_seconds: float
    refetch_cooldown_seconds: float = 30.0
    """After a successful fetch, how long an unknown key id is refused without fetching again."""
    first_backoff_seconds: float = 2.0
    max_backoff_seconds: float = 30.0


class SigningKeys:
    """The signing keys of one JWKS URL (safe to share between threads: one fetch at a time)."""

    def __init__(self, url: str, policy: JwksPolicy, on_fetch_failure: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._client = jwt.PyJWKClient(url, cache_jwk_set=False, timeout=policy.timeout_seconds)
        self._policy = policy
        self._on_fetch_failure = on_fetch_failure
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, jwt.PyJWK] | None = None
        self._fresh_until = 0.0
        self._fetched_at: float | None = None
        self._failures = 0
        self._next_attempt_at = 0.0

    def key_for(self, kid: object) -> jwt.PyJWK:
        """The key named ``kid``. Raises :class:`UnknownKey` or :class:`KeysUnavailable`."""
        if not isinstance(kid, str) or not kid:
            raise UnknownKey("the token names no key id")
        with self._lock:
            attempted = False
            if self._keys is None or self._clock() >= self._fresh_until:
                attempted = self._fetch_unless_backing_off()
            key = (self._keys or {}).get(kid)
            if key is None and not attempted and self._may_refetch_for_unknown_key():
                self._fetch_unless_backing_off()
                key = (self._keys or {}).get(kid)
            if key is not None:
                return key
            if self._failures:
                raise KeysUnavailable("the JWKS cannot be fetched", self._retry_after())
            raise UnknownKey(f"no key {kid!r} in the JWKS")

    def _may_refetch_for_unknown_key(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at >= self._policy.refetch_cooldown_seconds

    def _fetch_unless_backing_off(self) -> bool:
        """Fetches the key set unless a failed fetch a moment ago says to wait; True if it tried."""
        if self._clock() < self._next_attempt_at:
            return False
        try:
            keys = {key.key_id: key for key in self._client.get_signing_keys(refresh=True) if key.key_id}
        except (jwt.PyJWTError, ValueError, OSError) as error:  # ValueError: a body that is not JSON
            self._failures += 1
            backoff = min(self._policy.first_backoff_seconds * 2 ** (self._failures - 1),
                          self._policy.max_backoff_seconds)
            self._next_attempt_at = self._clock() + backoff
            if self._on_fetch_failure is not None:
                self._on_fetch_failure(f"{type(error).__name__}; {len(self._keys or {})} keys kept, "
                                       f"next fetch in {backoff:g} s")
            return True
        now = self._clock()
        self._keys, self._fetched_at, self._fresh_until = keys, now, now + self._policy.lifespan_seconds
        self._failures, self._next_attempt_at = 0, 0.0
        return True

    def _retry_after(self) -> int:
        return max(1, math.ceil(self._next_attempt_at - self._clock()))
