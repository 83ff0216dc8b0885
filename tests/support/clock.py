"""A clock the test moves by hand, for the warm containers' caches (they take ``clock=`` for time.monotonic)."""
from __future__ import annotations

import pytest


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
