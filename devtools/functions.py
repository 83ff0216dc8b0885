"""Runs the template's functions in-process, as the Lambda runtime would: layer on the path, one module per
function, a Lambda context with a deadline. Used by the tests, the local API, the stream poller and
``make invoke``."""
from __future__ import annotations

import importlib.util
import sys
import time
import uuid
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable

from devtools.template import REPO_ROOT, FunctionSpec

LAYER_PATH = REPO_ROOT / "layers" / "shared"


def ensure_layer_on_path() -> None:
    """What ``/opt/python`` is in Lambda: the shared layer, importable by every function."""
    if str(LAYER_PATH) not in sys.path:
        sys.path.insert(0, str(LAYER_PATH))


@dataclass
class LambdaContext:
    function_name: str
    memory_limit_in_mb: int
    timeout_seconds: int
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started_at: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return "local"

    def get_remaining_time_in_millis(self) -> int:
        elapsed = time.monotonic() - self.started_at
        return max(0, int((self.timeout_seconds - elapsed) * 1000))


def load_handler_module(spec: FunctionSpec) -> ModuleType:
    """Imports the function's handler module under a name of its own (every function has an ``app.py``).

    Importing is the cold start: the module reads its configuration from the environment, so set the
    function's environment before the first call. The module is cached like a warm container.
    """
    ensure_layer_on_path()
    module_name = f"cruddur_function_{spec.logical_id}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    source = spec.code_dir / f"{spec.handler_module.replace('.', '/')}.py"
    module_spec = importlib.util.spec_from_file_location(module_name, source)
    assert module_spec and module_spec.loader, f"cannot load {source}"
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def handler_of(spec: FunctionSpec) -> Callable[[dict[str, Any], Any], Any]:
    return getattr(load_handler_module(spec), spec.handler_function)


def context_for(spec: FunctionSpec) -> LambdaContext:
    return LambdaContext(function_name=spec.logical_id, memory_limit_in_mb=spec.memory_mb,
                         timeout_seconds=spec.timeout_seconds)


def invoke(spec: FunctionSpec, event: dict[str, Any]) -> Any:
    return handler_of(spec)(event, context_for(spec))
