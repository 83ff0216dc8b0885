"""``make load --kill-every``: SIGKILLs a busy CreateMessageFunction execution environment of the stack under test at
a fixed interval, as a crash, an out-of-memory kill or a ``kill -9`` would end it mid-invocation.

The local stack runs each execution environment as a process of its own (``devtools.local_stack.execution_environment``:
``python -m devtools.lambda_runtime`` with exactly the function's environment). The stack under test is the one whose
functions talk to the stack file's ``aws_endpoint_url``: a worker is one of its send workers when its command line
runs the runtime module and its environment names the function (``AWS_LAMBDA_FUNCTION_NAME``) and that endpoint
(``AWS_ENDPOINT_URL``), so other engineers' stacks on the same machine are never touched. The stack notices the
death at once (end of file on the worker's output), answers that request with API Gateway's 500 and starts a fresh
environment for the next one, as Lambda does.
"""
from __future__ import annotations

import random
import threading
import time

import psutil

from devtools.environment import LocalResources, local_function_specs
from devtools.local_stack.execution_environment import RUNTIME_MODULE

SEND_FUNCTION = "CreateMessageFunction"
BUSY_SAMPLE_SECONDS = 0.05  # a worker that used CPU or did I/O within this is inside an invocation
MAX_SEARCH_SECONDS = 1.0  # how long one tick looks for a busy worker before it counts a miss


def function_timeout_seconds(logical_id: str = SEND_FUNCTION) -> int:
    """The function's ``Timeout`` as SAM merges it from the template (its Globals included)."""
    return local_function_specs(LocalResources(table_name="any"), "no-stream-needed")[logical_id].timeout_seconds


class WorkerKiller(threading.Thread):
    """Every ``interval`` seconds, SIGKILLs one busy worker of ``function`` of the stack at ``aws_endpoint_url``."""

    def __init__(self, aws_endpoint_url: str, interval: float, rng: random.Random,
                 function: str = SEND_FUNCTION) -> None:
        super().__init__(name="load-worker-killer", daemon=True)
        self.aws_endpoint_url = aws_endpoint_url
        self.interval = interval
        self.rng = rng
        self.function = function
        self.kills = 0
        self.misses = 0  # ticks that found no busy worker within MAX_SEARCH_SECONDS
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            if self.kill_one_busy():
                self.kills += 1
            else:
                self.misses += 1

    def stop(self) -> None:
        self.stopped.set()
        self.join()

    def workers(self) -> list[psutil.Process]:
        """The stack's live execution environments of the function."""
        found = []
        for process in psutil.process_iter(["cmdline"]):
            try:
                if RUNTIME_MODULE not in (process.info["cmdline"] or ()):
                    continue
                environment = process.environ()
            except psutil.Error:  # gone, or another user's process
                continue
            if (environment.get("AWS_LAMBDA_FUNCTION_NAME"), environment.get("AWS_ENDPOINT_URL")) == (
                    self.function, self.aws_endpoint_url):
                found.append(process)
        return found

    def kill_one_busy(self) -> bool:
        """Samples the workers' CPU time and I/O until some moved between two samples, then kills one of those at
        random. An idle worker blocks on its input pipe and moves neither."""
        workers = self.workers()
        previous = self._usage(workers)
        give_up = time.monotonic() + min(MAX_SEARCH_SECONDS, self.interval / 2)
        while time.monotonic() < give_up and not self.stopped.is_set():
            time.sleep(BUSY_SAMPLE_SECONDS)
            current = self._usage(workers)
            busy = [process for process in workers if process.pid in current and process.pid in previous
                    and current[process.pid] != previous[process.pid]]
            previous = current
            self.rng.shuffle(busy)
            for process in busy:
                try:
                    process.kill()  # SIGKILL; psutil refuses if the pid now belongs to another process
                    return True
                except psutil.Error:
                    continue
        return False

    @staticmethod
    def _usage(workers: list[psutil.Process]) -> dict[int, tuple[float, int, int]]:
        usage = {}
        for process in workers:
            try:
                with process.oneshot():
                    times = process.cpu_times()
                    io = process.io_counters()
                usage[process.pid] = (times.user + times.system, io.read_chars, io.write_chars)
            except psutil.Error:
                continue
        return usage
