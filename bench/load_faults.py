"""``make load --kill-every``: SIGKILLs a busy CreateMessageFunction execution environment of the stack under test at
a fixed interval, as a crash, an out-of-memory kill or a ``kill -9`` would end it mid-invocation.

The local stack runs each execution environment as a process of its own (``devtools.local_stack.execution_environment``:
``python -m devtools.lambda_runtime`` with exactly the function's environment). The stack under test is the one whose
functions talk to the stack file's ``aws_endpoint_url``: a worker is one of its send workers when its command line
runs the runtime module and its environment names the function (``AWS_LAMBDA_FUNCTION_NAME``) and that endpoint
(``AWS_ENDPOINT_URL``), so other engineers' stacks on the same machine are never touched; it is busy unless it
waits on its input pipe for the next event (its kernel wait channel). The stack notices the death at once (end of
file on the worker's output), answers that request with API Gateway's 500 and starts a fresh environment for the
next one, as Lambda does.
"""
from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import psutil

from devtools.environment import LocalResources, local_function_specs
from devtools.local_stack.execution_environment import RUNTIME_MODULE

SEND_FUNCTION = "CreateMessageFunction"
BUSY_SAMPLE_SECONDS = 0.02  # how often one tick looks at the workers while none is busy
MAX_SEARCH_SECONDS = 1.0  # how long one tick looks for a busy worker before it counts a miss
# An idle worker waits for its next event in read() on its input pipe; Linux names that wait in /proc/PID/wchan
# (anon_pipe_read since 6.x, pipe_read or pipe_wait before). A busy one is running or waits on a socket.
IDLE_WAITS = ("pipe_read", "pipe_wait")


def function_timeout_seconds(logical_id: str = SEND_FUNCTION) -> int:
    """The function's ``Timeout`` as SAM merges it from the template (its Globals included)."""
    return local_function_specs(LocalResources(table_name="any"), "no-stream-needed")[logical_id].timeout_seconds


class WorkerKiller(threading.Thread):
    """Every ``interval`` seconds until ``until`` (``time.monotonic()``), SIGKILLs one busy worker of ``function`` of
    the stack at ``aws_endpoint_url``. It stops with the load: the retries that settle the last sends afterwards
    are most of the traffic then, and killing them again and again is no fault a fleet of environments sees."""

    def __init__(self, aws_endpoint_url: str, interval: float, until: float, rng: random.Random,
                 function: str = SEND_FUNCTION) -> None:
        super().__init__(name="load-worker-killer", daemon=True)
        self.aws_endpoint_url = aws_endpoint_url
        self.interval = interval
        self.until = until
        self.rng = rng
        self.function = function
        self.kills = 0
        self.misses = 0  # ticks that found no busy worker within MAX_SEARCH_SECONDS
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval) and time.monotonic() < self.until:
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
        """Looks at the workers until some are inside an invocation (or their init phase), then kills one of those
        at random."""
        give_up = time.monotonic() + min(MAX_SEARCH_SECONDS, self.interval / 2)
        workers = self.workers()
        while time.monotonic() < give_up and not self.stopped.is_set():
            busy = [process for process in workers if _busy(process)]
            self.rng.shuffle(busy)
            for process in busy:
                try:
                    process.kill()  # SIGKILL; psutil refuses if the pid now belongs to another process
                    return True
                except psutil.Error:
                    continue
            time.sleep(BUSY_SAMPLE_SECONDS)
            workers = self.workers() if not workers else workers
        return False


def _busy(process: psutil.Process) -> bool:
    try:
        wait = Path(f"/proc/{process.pid}/wchan").read_text().strip()
    except OSError:  # gone
        return False
    return process.is_running() and not any(idle in wait for idle in IDLE_WAITS)
