"""Work the local stack repeats in the background (the stream pollers, the PostgreSQL supervisor): a round every
interval, in a daemon thread of its own, until stopped."""
from __future__ import annotations

import threading
from typing import Callable


class EveryInterval:
    """Runs ``one_round`` every ``interval_seconds`` until :meth:`stop`. A round that takes long can watch (or
    wait on) ``stopping`` to end early; stop waits for the current round, up to its timeout."""

    def __init__(self, name: str, interval_seconds: float, one_round: Callable[[], None]) -> None:
        self.name = name
        self.interval_seconds = interval_seconds
        self.stopping = threading.Event()
        self._one_round = one_round
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self.stopping.wait(self.interval_seconds):
            self._one_round()
