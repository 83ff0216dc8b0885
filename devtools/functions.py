"""Runs the template's functions in-process, as the Lambda runtime would: layer on the path, one module per
function, a Lambda context with a deadline. The fast tests use it (``aws.invoke`` in ``tests/conftest.py``); the
local stack and ``make invoke`` run each function in execution environments of its own instead
(``devtools/local_stack/runner.py``)."""
from __future__ import annotations

import importlib.util
import sys
from types import ModuleType
from typing import Any, Callable

from devtools.lambda_runtime import LambdaContext
from devtools.template import REPO_ROOT, FunctionSpec

LAYER_PATH = REPO_ROOT / "layers" / "shared"
HANDLER_MODULE_PREFIX = "cruddur_function_"


def ensure_layer_on_path() -> None:
    """What ``/opt/python`` is in Lambda: the shared layer, importable by every function."""
    if str(LAYER_PATH) not in sys.path:
        sys.path.insert(0, str(LAYER_PATH))


def load_handler_module(spec: FunctionSpec) -> ModuleType:
    """Imports the function's handler module under a name of its own (every function has an ``app.py``).

    Importing is the cold start: the module reads its configuration from the environment and builds the
    function's container (``cruddur_messaging.containers``), so set the function's environment before the first
    call. The module is cached like a warm container; ``forget_handler_modules`` makes the next call a cold start.
    """
    ensure_layer_on_path()
    module_name = f"{HANDLER_MODULE_PREFIX}{spec.logical_id}"
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


def forget_handler_modules() -> None:
    """Drops every handler module ``load_handler_module`` imported, and with them their containers."""
    for name in [name for name in sys.modules if name.startswith(HANDLER_MODULE_PREFIX)]:
        del sys.modules[name]


def handler_of(spec: FunctionSpec) -> Callable[[dict[str, Any], Any], Any]:
    return getattr(load_handler_module(spec), spec.handler_function)


def context_for(spec: FunctionSpec) -> LambdaContext:
    return LambdaContext(function_name=spec.logical_id, memory_limit_in_mb=spec.memory_mb,
                         timeout_seconds=spec.timeout_seconds)


def invoke(spec: FunctionSpec, event: dict[str, Any]) -> Any:
    return handler_of(spec)(event, context_for(spec))
