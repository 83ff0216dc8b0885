"""In-process invocations: one request at a time per function (as one Lambda container serves them), and a
handler that outruns the function's Timeout counts as failed."""
from __future__ import annotations

import sys
import threading
import uuid
from pathlib import Path

import pytest

from devtools.local_stack.runner import FunctionRunner, FunctionTimedOut
from devtools.template import FunctionSpec

HANDLER = '''
import threading, time
active = 0
overlaps = 0
lock = threading.Lock()

def lambda_handler(event, context):
    global active, overlaps
    with lock:
        active += 1
        overlaps += active > 1
    time.sleep(event.get("sleep", 0))
    with lock:
        active -= 1
    return {"remaining_ms": context.get_remaining_time_in_millis(), "name": context.function_name}
'''


def spec(tmp_path: Path, timeout_seconds: int = 10) -> FunctionSpec:
    code_dir = tmp_path / "fn"
    code_dir.mkdir(exist_ok=True)
    (code_dir / "app.py").write_text(HANDLER)
    return FunctionSpec(logical_id=f"Test{uuid.uuid4().hex}", code_dir=code_dir, handler_module="app",
                        handler_function="lambda_handler", environment={}, timeout_seconds=timeout_seconds,
                        memory_mb=128)


def test_calls_to_one_function_never_overlap(tmp_path: Path) -> None:
    function = spec(tmp_path)
    runner = FunctionRunner({function.logical_id: function})
    threads = [threading.Thread(target=runner.invoke, args=(function.logical_id, {"sleep": 0.05})) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    module = sys.modules[f"cruddur_function_{function.logical_id}"]
    assert module.overlaps == 0


def test_the_handler_gets_a_lambda_context(tmp_path: Path) -> None:
    function = spec(tmp_path)
    result = FunctionRunner({function.logical_id: function}).invoke(function.logical_id, {})
    assert result["name"] == function.logical_id
    assert 0 < result["remaining_ms"] <= 10_000


def test_a_handler_past_its_timeout_fails_the_invocation(tmp_path: Path) -> None:
    function = spec(tmp_path, timeout_seconds=0)
    with pytest.raises(FunctionTimedOut):
        FunctionRunner({function.logical_id: function}).invoke(function.logical_id, {"sleep": 0.01})
