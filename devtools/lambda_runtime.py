"""The runtime inside one local execution environment: what Lambda's runtime interface client does in AWS.

The local stack's ``FunctionRunner`` (``devtools/local_stack/runner.py``) starts ``python -m
devtools.lambda_runtime`` once per execution environment, in the function's code directory and with exactly the
environment variables Lambda gives that function. This process then

1. imports the handler that ``_HANDLER`` names from ``LAMBDA_TASK_ROOT`` (the init phase, a cold start) and says
   ``{"ready": true}``, or reports ``{"init_error": <Lambda's error object>}`` and exits;
2. runs invocations one at a time, each one JSON line in on stdin (``{"request_id", "event", "remaining_ms"}``)
   and one JSON line out (``{"result": ...}``, or ``{"error": <Lambda's error object>}`` for a handler that
   raised), until stdin closes. Module state - clients, caches, the PostgreSQL connection - stays warm between
   invocations, as in a reused Lambda container.

The protocol has the process's original stdout to itself: the handler's own prints and logs go to stderr, which
is ``make dev``'s log. The parent enforces the function's timeout and notices a crash (the pipe closes), so
neither is handled here. This module imports only the standard library: the rest of ``devtools`` pulls in the
SAM CLI, which would slow every cold start.
"""
from __future__ import annotations

import base64
import importlib
import json
import os
import signal
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from typing import IO, Any, Callable

PARENT_CHECK_SECONDS = 1.0


@dataclass
class LambdaContext:
    """The context object a Python handler gets; ``timeout_seconds`` is the time the invocation had at its start."""

    function_name: str
    memory_limit_in_mb: int
    timeout_seconds: float
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started_at: float = field(default_factory=time.monotonic)
    log_stream_name: str = "local"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        elapsed = time.monotonic() - self.started_at
        return max(0, int((self.timeout_seconds - elapsed) * 1000))


def error_object(error: BaseException, request_id: str | None = None, error_type: str | None = None) -> dict[str, Any]:
    """What Lambda reports for an unhandled error."""
    reported: dict[str, Any] = {
        "errorMessage": str(error),
        "errorType": error_type or type(error).__name__,
        "stackTrace": traceback.format_tb(error.__traceback__),
    }
    if request_id:
        reported["requestId"] = request_id
    return reported


def to_json(value: Any) -> str:
    """One protocol line. Binary values travel base64-encoded, as Lambda serialises a stream record's ``B``."""
    def encode(item: Any) -> str:
        if isinstance(item, (bytes, bytearray)):
            return base64.b64encode(item).decode("ascii")
        raise TypeError(f"Object of type {type(item).__name__} is not JSON serializable")

    return json.dumps(value, default=encode, separators=(",", ":"))


def _load_handler() -> Callable[[Any, LambdaContext], Any]:
    module_name, function_name = os.environ["_HANDLER"].rsplit(".", 1)
    sys.path.insert(0, os.environ["LAMBDA_TASK_ROOT"])
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise _InitError(f"Unable to import module '{module_name}': {error}", "Runtime.ImportModuleError") from error
    handler = getattr(module, function_name, None)
    if not callable(handler):
        raise _InitError(f"Handler '{function_name}' missing on module '{module_name}'", "Runtime.HandlerNotFound")
    return handler


class _InitError(Exception):
    def __init__(self, message: str, error_type: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def _exit_with_parent(parent_pid: int) -> None:
    """Ends this environment when ``make dev`` is gone, even mid-invocation (no orphans after a kill -9)."""
    while os.getppid() == parent_pid:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(1)


def _invoke(handler: Callable[[Any, LambdaContext], Any], request: dict[str, Any]) -> str:
    request_id = request["request_id"]
    environ = os.environ
    context = LambdaContext(function_name=environ["AWS_LAMBDA_FUNCTION_NAME"],
                            memory_limit_in_mb=int(environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]),
                            timeout_seconds=request["remaining_ms"] / 1000,
                            function_version=environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
                            aws_request_id=request_id,
                            log_stream_name=environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "local"))
    try:
        result = handler(request["event"], context)
    except Exception as error:  # noqa: BLE001 - reported the way Lambda reports it; the environment stays warm
        traceback.print_exc()
        return to_json({"error": error_object(error, request_id)})
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    try:
        return to_json({"result": result})
    except (TypeError, ValueError) as error:
        return to_json({"error": error_object(error, request_id, "Runtime.MarshalError")})


def serve(requests: IO[bytes], replies: IO[bytes]) -> int:
    def reply(line: str) -> None:
        replies.write(line.encode() + b"\n")
        replies.flush()

    try:
        handler = _load_handler()
    except _InitError as error:
        reply(to_json({"init_error": error_object(error, error_type=error.error_type)}))
        return 1
    except Exception as error:  # noqa: BLE001 - any failure of the init phase is reported, as Lambda does
        traceback.print_exc()
        reply(to_json({"init_error": error_object(error)}))
        return 1
    reply(to_json({"ready": True}))
    for line in requests:
        reply(_invoke(handler, json.loads(line)))
    return 0


def main() -> int:
    # Ctrl-C in the terminal reaches the whole process group: the stack stops its environments itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), name="parent-watch", daemon=True).start()
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout.reconfigure(line_buffering=True)
    return serve(sys.stdin.buffer, replies)


if __name__ == "__main__":
    sys.exit(main())
