"""A per-container cache whose entries expire, for lookups a warm container may repeat for a while.

Lambda runs one request at a time per container, so no locking. Expired entries are dropped whenever an entry
is added, so the cache holds at most what was looked up within the longest TTL.
"""
from __future__ import annotations

import time
from typing import Callable, Generic, Hashable, Iterator, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

MISSING = object()
"""What ``get`` returns for a key never cached, or whose entry expired (``None`` is a value: "known absent")."""


class TtlCache(Generic[K, V]):
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._entries: dict[K, tuple[float, V]] = {}

    def get(self, key: K) -> V | object:
        entry = self._entries.get(key)
        if entry is None or entry[0] <= self._clock():
            return MISSING
        return entry[1]

    def put(self, key: K, value: V, ttl_seconds: float) -> None:
        now = self._clock()
        for expired in [key for key, (expires_at, _) in self._entries.items() if expires_at <= now]:
            del self._entries[expired]
        self._entries[key] = (now + ttl_seconds, value)

    def get_or_load(self, key: K, load: Callable[[], V | None], ttl_seconds: float,
                    absent_ttl_seconds: float) -> V | None:
        """The cached result for ``key``, else ``load()``'s, kept for ``ttl_seconds`` - or for
        ``absent_ttl_seconds`` when it is ``None`` (nothing found). A ``load`` that raises caches nothing."""
        value = self.get(key)
        if value is MISSING:
            value = load()
            self.put(key, value, ttl_seconds if value is not None else absent_ttl_seconds)
        return value  # type: ignore[return-value]

    def __iter__(self) -> Iterator[K]:
        return iter(self._entries)


class LookupCache(Generic[K, V]):
    """The results of one kind of lookup (a user by ``sub``, a card by handle): what was found is kept for
    ``ttl_seconds``, "nothing found" (``None``) for ``absent_ttl_seconds``, usually much shorter."""

    def __init__(self, ttl_seconds: float, absent_ttl_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: TtlCache[K, V | None] = TtlCache(clock)
        self._ttl_seconds = ttl_seconds
        self._absent_ttl_seconds = absent_ttl_seconds

    def get_or_load(self, key: K, load: Callable[[], V | None]) -> V | None:
        return self._entries.get_or_load(key, load, self._ttl_seconds, self._absent_ttl_seconds)

    def __iter__(self) -> Iterator[K]:
        return iter(self._entries)
