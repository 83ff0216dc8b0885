"""One local execution environment: a worker process that runs one function, one invocation at a time.

Lambda runs each invocation alone in its execution environment and reuses the environment warm for the next
one. The handlers rely on both: Powertools keeps the current event on the resolver, the layer caches clients, the
caller's user row and the PostgreSQL connection in module state, the logger names the function from the
environment. So each environment here is a process of its own:

- started as ``python -m devtools.lambda_runtime`` (``subprocess``, not ``multiprocessing``): a fresh interpreter
  that inherits nothing from ``make dev`` - no imported module, no thread, no variable - and gets exactly the
  environment Lambda would give the function (``Popen(env=...)``), down to ``AWS_LAMBDA_FUNCTION_NAME``;
- spoken to in JSON lines over its stdin and stdout, which is also how Lambda hands events and results across
  (anything not JSON cannot cross it here either);
- killed and discarded when it outlives the function's ``Timeout`` or when it dies on its own: both are plain
  process handling (a deadline on the pipe, end of file on the pipe), and the invocation fails with the error
  Lambda reports for it.

The handler module is imported only in the worker (its init phase), never in ``make dev``'s own process.
"""
from __future__ import annotations

import json
import logging
import math
import os
import select
import signal
import subprocess
import sys
import time
import uuid
from typing import Any, Mapping

from devtools.lambda_runtime import to_json
from devtools.functions import LAYER_PATH
from devtools.template import REPO_ROOT, FunctionSpec

log = logging.getLogger(__name__)

RUNTIME_MODULE = "devtools.lambda_runtime"
# A hung init phase (the handler module's import) is given up on after this. Lambda allows 10 s on a CPU of its
# own; here a cold start shares two cores with the whole stack and the test suite, so the bound is generous.
INIT_TIMEOUT_SECONDS = 60.0
STOP_GRACE_SECONDS = 2.0
_READ_SIZE = 1 << 16


class InvocationFailed(Exception):
    """The invocation failed; ``error`` is the error object Lambda would report for it."""

    def __init__(self, error: Mapping[str, Any]) -> None:
        super().__init__(error.get("errorMessage", "the invocation failed"))
        self.error = dict(error)


class FunctionError(InvocationFailed):
    """The handler raised. The environment stays warm, as in Lambda."""


class FunctionTimedOut(InvocationFailed):
    """The handler ran past the function's Timeout: its environment was killed."""


class FunctionCrashed(InvocationFailed):
    """The runtime process exited during the invocation (``sys.exit``, a crash, a kill)."""


class InitFailed(InvocationFailed):
    """The init phase failed (the handler module did not import): no environment was created."""


class _PastDeadline(Exception):
    pass


def lambda_environment(spec: FunctionSpec, function_environment: Mapping[str, str]) -> dict[str, str]:
    """The whole environment of one execution environment: the function's variables and the ones Lambda's Python
    runtime defines (``_HANDLER``, ``LAMBDA_TASK_ROOT``, memory, log group and stream, ...). ``PYTHONPATH`` is
    ``/opt/python`` (the layer) and ``/var/runtime`` (this repository, for ``devtools.lambda_runtime``)."""
    name = function_environment.get("AWS_LAMBDA_FUNCTION_NAME", spec.logical_id)
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "LANG": "C.UTF-8",  # Lambda's is en_US.UTF-8; C.UTF-8 is the same encoding and always installed
        "TZ": ":UTC",
        "PYTHONPATH": os.pathsep.join([str(LAYER_PATH), str(REPO_ROOT)]),
        "LAMBDA_TASK_ROOT": str(spec.code_dir),
        "LAMBDA_RUNTIME_DIR": str(REPO_ROOT),
        "_HANDLER": f"{spec.handler_module}.{spec.handler_function}",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": f"{time.strftime('%Y/%m/%d', time.gmtime())}/[$LATEST]{uuid.uuid4().hex}",
        **function_environment,
    }


class ExecutionEnvironment:
    """A started worker process for ``spec``; use :meth:`start`."""

    def __init__(self, spec: FunctionSpec, process: subprocess.Popen[bytes]) -> None:
        self.spec = spec
        self.process = process
        self.invocations = 0
        self._buffer = bytearray()
        self._poll = select.poll()
        assert process.stdout is not None
        self._poll.register(process.stdout.fileno(), select.POLLIN)

    @classmethod
    def start(cls, spec: FunctionSpec, function_environment: Mapping[str, str]) -> "ExecutionEnvironment":
        """Starts a worker with ``function_environment`` (the template's variables and the AWS ones, see
        ``devtools.environment.function_environment``) plus what the Lambda runtime adds, and waits for its init
        phase; raises :class:`InitFailed` if the handler did not load (the worker is gone then)."""
        process = subprocess.Popen([sys.executable, "-m", RUNTIME_MODULE], cwd=spec.code_dir,
                                   env=lambda_environment(spec, function_environment),
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        started = time.monotonic()
        created = cls(spec, process)
        try:
            message = created._receive(started + INIT_TIMEOUT_SECONDS)
        except _PastDeadline:
            created.close()
            raise InitFailed({"errorType": "Runtime.InitTimeout",
                              "errorMessage": f"{spec.logical_id}: init did not finish in {INIT_TIMEOUT_SECONDS:.0f}s"},
                             ) from None
        if message is None or "init_error" in message:
            created.close()
            raise InitFailed(message["init_error"] if message else {
                "errorType": "Runtime.ExitError",
                "errorMessage": f"{spec.logical_id}: the runtime exited during init ({created._exit_status()})"})
        log.info("%s: new execution environment (pid %d), init %.0f ms", spec.logical_id, process.pid,
                 (time.monotonic() - started) * 1000)
        return created

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def invoke(self, event: Any) -> Any:
        """Runs one invocation and returns the handler's result.

        Raises :class:`FunctionError` (environment still usable), :class:`FunctionTimedOut` or
        :class:`FunctionCrashed` (the environment is dead: discard it).
        """
        request_id = str(uuid.uuid4())
        timeout = self.spec.timeout_seconds
        started = time.monotonic()
        self.invocations += 1
        line = to_json({"request_id": request_id, "event": event, "remaining_ms": int(timeout * 1000)})
        try:
            assert self.process.stdin is not None
            self.process.stdin.write(line.encode() + b"\n")
            self.process.stdin.flush()
            reply = self._receive(started + timeout)
        except BrokenPipeError:
            reply = None
        except _PastDeadline:
            self.kill()
            raise FunctionTimedOut({"errorType": "Sandbox.Timedout", "requestId": request_id,
                                    "errorMessage": f"RequestId: {request_id} Error: Task timed out after "
                                                    f"{timeout:.2f} seconds"}) from None
        if reply is None:
            self.kill()
            raise FunctionCrashed({"errorType": "Runtime.ExitError", "requestId": request_id,
                                   "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: "
                                                   f"{self._exit_status()}"})
        if "error" in reply:
            raise FunctionError(reply["error"])
        return reply["result"]

    def finish(self) -> None:
        """Asks an idle worker to finish (the end of its input), so that it closes its connections cleanly."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            try:
                self.process.stdin.close()
            except BrokenPipeError:
                pass

    def wait(self, seconds: float) -> bool:
        try:
            self.process.wait(max(0.0, seconds))
        except subprocess.TimeoutExpired:
            return False
        return True

    def kill(self) -> None:
        """Ends the worker at once. Safe from any thread: an invocation waiting on it fails as a crash."""
        if self.alive:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def close(self) -> None:
        """Kills the worker if need be and releases its pipes; only by the thread that holds the environment."""
        self.kill()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None and not pipe.closed:
                try:
                    pipe.close()
                except BrokenPipeError:
                    pass

    def _exit_status(self) -> str:
        code = self.process.wait()
        return f"signal: {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"

    def _receive(self, deadline: float) -> dict[str, Any] | None:
        """The worker's next message, or ``None`` once its output is closed (it exited)."""
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        scanned = 0
        while (end := self._buffer.find(b"\n", scanned)) < 0:
            scanned = len(self._buffer)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _PastDeadline
            if not self._poll.poll(math.ceil(remaining * 1000)):
                continue
            chunk = os.read(fd, _READ_SIZE)
            if not chunk:
                return None
            self._buffer += chunk
        line = bytes(self._buffer[:end])
        del self._buffer[:end + 1]
        return json.loads(line)
