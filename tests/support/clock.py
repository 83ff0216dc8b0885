"""Clocks the test moves by hand: ``FakeClock`` for the warm containers' caches (they take ``clock=`` for
time.monotonic), ``MicrosecondClock`` for the send limits (microseconds since the epoch, as
``clock.epoch_microseconds``)."""
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


SECOND = 1_000_000
"""A second, in microseconds."""


class MicrosecondClock:
    """Now, in microseconds since the epoch, moved by the test."""

    def __init__(self) -> None:
        self.now_us = 1_800_000_000 * SECOND

    def __call__(self) -> int:
        return self.now_us

    def advance(self, seconds: float) -> None:
        self.now_us += int(seconds * SECOND)
