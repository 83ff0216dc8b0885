"""Invokes the template's functions as Lambda does: in execution environments, one invocation at a time each.

Every function has a pool of execution environments (worker processes, see ``execution_environment.py``). An
invocation takes the most recently used idle environment (so sequential calls stay warm in one), starts a new one
when all are busy and the function has fewer than ``max_environments`` (``CRUDDUR_MAX_ENVIRONMENTS``), and
otherwise waits for one to come free - where Lambda, at its concurrency limit, would throttle. An environment that
timed out or crashed is discarded and the next invocation starts a fresh one. Environments live until
:meth:`FunctionRunner.stop`.

One difference from Lambda, for two shared cores: a function starts one environment at a time. A burst of
concurrent requests would otherwise start a dozen interpreters at once, each importing boto3 and Powertools, and
every one of them would wait seconds for the CPU; instead the burst is served by the environments that come free
while the next one starts, and the pool grows as long as the load lasts.

The HTTP API, the stream poller and ``make invoke`` all invoke through here.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Mapping

from devtools.local_stack.execution_environment import (
    STOP_GRACE_SECONDS,
    ExecutionEnvironment,
    FunctionCrashed,
    FunctionError,
    FunctionTimedOut,
    InitFailed,
    InvocationFailed,
)
from devtools.template import FunctionSpec

__all__ = ["DEFAULT_MAX_ENVIRONMENTS", "FunctionCrashed", "FunctionError", "FunctionRunner", "FunctionTimedOut",
           "InitFailed", "InvocationFailed", "RunnerStopped"]

log = logging.getLogger(__name__)

# Per function. Two cores serve the whole stack (moto, PostgreSQL, the API): more environments than this only
# queue for the CPU, and each costs about 70 MB.
DEFAULT_MAX_ENVIRONMENTS = 4


class RunnerStopped(Exception):
    """The runner was stopped: no more invocations."""


class _EnvironmentPool:
    """The execution environments of one function."""

    def __init__(self, spec: FunctionSpec, environment: Mapping[str, str], max_environments: int) -> None:
        self.spec = spec
        self.environment = dict(environment)
        self.max_environments = max_environments
        self._idle: list[ExecutionEnvironment] = []  # most recently used last
        self._all: set[ExecutionEnvironment] = set()
        self._starting = False  # one cold start at a time: see the module's docstring
        self._stopped = False
        self._changed = threading.Condition()

    def invoke(self, event: Any) -> Any:
        environment = self._acquire()
        try:
            return environment.invoke(event)
        finally:
            self._release(environment)

    def environments(self) -> list[ExecutionEnvironment]:
        with self._changed:
            return list(self._all)

    def _acquire(self) -> ExecutionEnvironment:
        with self._changed:
            while True:
                if self._stopped:
                    raise RunnerStopped(self.spec.logical_id)
                while self._idle:
                    environment = self._idle.pop()
                    if environment.alive:
                        return environment
                    self._discard(environment)
                if not self._starting and len(self._all) < self.max_environments:
                    self._starting = True
                    break
                self._changed.wait()
        try:
            environment = ExecutionEnvironment.start(self.spec, self.environment)
        except BaseException:
            with self._changed:
                self._starting = False
                self._changed.notify_all()
            raise
        with self._changed:  # counted in _all as it stops counting as starting: the limit holds
            self._starting = False
            self._changed.notify_all()
            if not self._stopped:
                self._all.add(environment)
                return environment
        environment.close()
        raise RunnerStopped(self.spec.logical_id)

    def _release(self, environment: ExecutionEnvironment) -> None:
        with self._changed:
            if environment.alive and not self._stopped:
                self._idle.append(environment)
            else:
                self._discard(environment)
            self._changed.notify_all()

    def _discard(self, environment: ExecutionEnvironment) -> None:
        environment.close()
        if environment in self._all:
            self._all.discard(environment)
            log.info("%s: execution environment (pid %d) discarded after %d invocations", self.spec.logical_id,
                     environment.pid, environment.invocations)

    def stop(self) -> tuple[list[ExecutionEnvironment], list[ExecutionEnvironment]]:
        """Refuses further invocations; returns the idle environments (now the caller's) and the busy ones (still
        their invocation's: only :meth:`ExecutionEnvironment.kill` may touch them)."""
        with self._changed:
            self._stopped = True
            idle = self._idle
            busy = [environment for environment in self._all if environment not in idle]
            self._all, self._idle = set(), []
            self._changed.notify_all()
        return idle, busy


class FunctionRunner:
    """Runs invocations of ``specs`` in execution environments with ``environments[logical_id]`` (the function's
    variables, as ``devtools.environment.function_environment`` gives them)."""

    def __init__(self, specs: Mapping[str, FunctionSpec], environments: Mapping[str, Mapping[str, str]],
                 max_environments: int = DEFAULT_MAX_ENVIRONMENTS) -> None:
        if max_environments < 1:
            raise ValueError("max_environments must be at least 1")
        self.specs = dict(specs)
        self._pools = {logical_id: _EnvironmentPool(spec, environments[logical_id], max_environments)
                       for logical_id, spec in self.specs.items()}

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        """Runs the function once and returns what its handler returned.

        Raises an :class:`InvocationFailed` with Lambda's error object when the handler raised, timed out or
        crashed, or when the init phase failed; :class:`RunnerStopped` once the runner is stopped.
        """
        started = time.monotonic()
        result = self._pools[logical_id].invoke(event)
        log.debug("%s returned in %.0f ms", logical_id, (time.monotonic() - started) * 1000)
        return result

    def environments(self, logical_id: str) -> list[ExecutionEnvironment]:
        """The function's live execution environments, idle or busy."""
        return self._pools[logical_id].environments()

    def stop(self) -> None:
        """Stops every environment: each finishes and exits on the end of its input, or is killed after a grace
        period (a busy one's invocation then fails). Safe to call twice."""
        idle: list[ExecutionEnvironment] = []
        busy: list[ExecutionEnvironment] = []
        for pool in self._pools.values():
            pool_idle, pool_busy = pool.stop()
            idle.extend(pool_idle)
            busy.extend(pool_busy)
        for environment in idle:
            environment.finish()
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for environment in [*idle, *busy]:
            environment.wait(deadline - time.monotonic())
        for environment in idle:
            environment.close()
        for environment in busy:
            environment.kill()
