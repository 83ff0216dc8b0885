"""Execution environments: each function runs in worker processes, one invocation at a time each, reused warm,
more of them under concurrency (up to the limit), with exactly the function's environment, its Timeout enforced,
a crashed worker replaced, and no worker left behind - not even when the stack's process is killed."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import psutil
import pytest

from devtools.local_stack.execution_environment import lambda_environment
from devtools.local_stack.runner import (
    DEFAULT_MAX_ENVIRONMENTS,
    FunctionCrashed,
    FunctionError,
    FunctionRunner,
    FunctionTimedOut,
    InitFailed,
    RunnerStopped,
)
from devtools.local_stack.settings import StackSettings
from devtools.template import REPO_ROOT, FunctionSpec

HANDLER = '''
import os, sys, time

IMPORTED_AT = time.time()
invocations = 0


def lambda_handler(event, context):
    global invocations
    invocations += 1
    started = time.time()
    action = event.get("action")
    if action == "sleep":
        time.sleep(event["seconds"])
    elif action == "raise":
        raise ValueError("the handler refused")
    elif action == "exit":
        os._exit(3)
    elif action == "meet":  # waits until `count` invocations are running at once (each in its own environment)
        open(os.path.join(event["dir"], context.aws_request_id), "w").close()
        deadline = time.time() + 30
        while len(os.listdir(event["dir"])) < event["count"] and time.time() < deadline:
            time.sleep(0.01)
    elif action == "print":
        print("a handler printing to stdout must not break the protocol")
        print("{\\"result\\": \\"forged\\"}")
    return {"pid": os.getpid(), "invocations": invocations, "started": started, "ended": time.time(),
            "function_name": context.function_name, "request_id": context.aws_request_id,
            "remaining_ms": context.get_remaining_time_in_millis(), "environ": dict(os.environ),
            "event": event}
'''


def make_spec(tmp_path: Path, timeout_seconds: int = 10, source: str = HANDLER) -> FunctionSpec:
    code_dir = tmp_path / f"fn-{uuid.uuid4().hex[:8]}"
    code_dir.mkdir()
    (code_dir / "app.py").write_text(source)
    return FunctionSpec(logical_id=f"Test{uuid.uuid4().hex[:12]}Function", code_dir=code_dir, handler_module="app",
                        handler_function="lambda_handler", environment={"GREETING": "hello"},
                        timeout_seconds=timeout_seconds, memory_mb=256)


def function_environment(spec: FunctionSpec) -> dict[str, str]:
    """Stands in for ``devtools.environment.function_environment``: the function's variables and the AWS ones."""
    return {**spec.environment, "AWS_REGION": "us-east-1", "AWS_LAMBDA_FUNCTION_NAME": spec.logical_id}


@pytest.fixture
def runners() -> Iterator[list[FunctionRunner]]:
    started: list[FunctionRunner] = []
    yield started
    for runner in started:
        runner.stop()


def runner_for(runners: list[FunctionRunner], *specs: FunctionSpec, max_environments: int = 4) -> FunctionRunner:
    runner = FunctionRunner({spec.logical_id: spec for spec in specs},
                            {spec.logical_id: function_environment(spec) for spec in specs},
                            max_environments=max_environments)
    runners.append(runner)
    return runner


def warmed_up(tmp_path: Path, runners: list[FunctionRunner]) -> tuple[FunctionRunner, FunctionSpec, dict[str, Any]]:
    """A runner with one function, and that function's answer to a first invocation (its environment warm)."""
    spec = make_spec(tmp_path)
    runner = runner_for(runners, spec)
    return runner, spec, runner.invoke(spec.logical_id, {})


def concurrently(calls: list[Any]) -> list[Any]:
    """Runs the callables at the same time; returns their results (or exceptions) in order."""
    results: list[Any] = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = calls[index]()
        except Exception as error:  # noqa: BLE001 - handed back to the test
            results[index] = error

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_sequential_invocations_reuse_one_warm_environment(tmp_path: Path, runners: list[FunctionRunner]) -> None:
    spec = make_spec(tmp_path)
    runner = runner_for(runners, spec)
    first, second, third = (runner.invoke(spec.logical_id, {"n": n}) for n in range(3))
    assert first["pid"] == second["pid"] == third["pid"] != os.getpid()
    assert [first["invocations"], second["invocations"], third["invocations"]] == [1, 2, 3]
    assert third["event"] == {"n": 2}
    assert len({first["request_id"], second["request_id"], third["request_id"]}) == 3
    assert [environment.pid for environment in runner.environments(spec.logical_id)] == [first["pid"]]


def test_concurrent_invocations_run_in_separate_environments(tmp_path: Path, runners: list[FunctionRunner]) -> None:
    spec = make_spec(tmp_path)
    runner = runner_for(runners, spec, max_environments=3)
    meeting = tmp_path / "meeting"
    meeting.mkdir()
    started = time.monotonic()
    results = concurrently([lambda n=n: runner.invoke(spec.logical_id, {"action": "meet", "dir": str(meeting),
                                                                        "count": 3, "n": n}) for n in range(3)])
    assert time.monotonic() - started < 30, "the three invocations never ran at the same time"
    assert len({result["pid"] for result in results}) == 3, results
    assert all(result["invocations"] == 1 for result in results)  # no module state shared between them
    assert [result["event"]["n"] for result in results] == [0, 1, 2]  # each caller got its own answer


def test_beyond_the_limit_invocations_wait_for_a_free_environment(tmp_path: Path,
                                                                  runners: list[FunctionRunner]) -> None:
    spec = make_spec(tmp_path)
    runner = runner_for(runners, spec, max_environments=2)
    results = concurrently([lambda n=n: runner.invoke(spec.logical_id, {"action": "sleep", "seconds": 0.3, "n": n})
                            for n in range(6)])
    assert [result["event"]["n"] for result in results] == list(range(6))
    by_pid: dict[int, list[dict[str, Any]]] = {}
    for result in results:
        by_pid.setdefault(result["pid"], []).append(result)
    assert len(by_pid) == 2
    for invocations in by_pid.values():  # one invocation at a time per environment
        invocations.sort(key=lambda result: result["started"])
        assert all(earlier["ended"] <= later["started"] for earlier, later in zip(invocations, invocations[1:]))


def test_different_functions_run_apart_each_with_its_own_environment(tmp_path: Path, runners: list[FunctionRunner],
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRUDDUR_ONLY_IN_THE_STACK_PROCESS", "1")
    one, other = make_spec(tmp_path), make_spec(tmp_path)
    runner = runner_for(runners, one, other)
    results = concurrently([lambda: runner.invoke(one.logical_id, {"action": "sleep", "seconds": 0.3}),
                            lambda: runner.invoke(other.logical_id, {"action": "sleep", "seconds": 0.3})])
    assert results[0]["pid"] != results[1]["pid"]
    for spec, result in zip((one, other), results):
        environ = result["environ"]
        assert result["function_name"] == environ["AWS_LAMBDA_FUNCTION_NAME"] == spec.logical_id
        expected = lambda_environment(spec, function_environment(spec))
        assert set(environ) == set(expected), "exactly Lambda's variables, nothing inherited"
        for name in ("GREETING", "_HANDLER", "LAMBDA_TASK_ROOT", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "PYTHONPATH"):
            assert environ[name] == expected[name], name
        assert environ["LAMBDA_TASK_ROOT"] == str(spec.code_dir) and environ["_HANDLER"] == "app.lambda_handler"
    assert results[0]["environ"]["AWS_LAMBDA_LOG_STREAM_NAME"] != results[1]["environ"]["AWS_LAMBDA_LOG_STREAM_NAME"]


def test_handler_modules_are_never_imported_into_the_stack_process(tmp_path: Path,
                                                                    runners: list[FunctionRunner]) -> None:
    spec = make_spec(tmp_path)
    runner_for(runners, spec).invoke(spec.logical_id, {})
    source = str(spec.code_dir / "app.py")
    assert not [name for name, module in list(sys.modules.items()) if getattr(module, "__file__", None) == source]


def test_an_invocation_past_the_timeout_fails_and_its_environment_is_replaced(tmp_path: Path,
                                                                              runners: list[FunctionRunner]) -> None:
    spec = make_spec(tmp_path, timeout_seconds=1)
    runner = runner_for(runners, spec)
    warm = runner.invoke(spec.logical_id, {})
    assert 0 < warm["remaining_ms"] <= 1000
    started = time.monotonic()
    with pytest.raises(FunctionTimedOut) as timed_out:
        runner.invoke(spec.logical_id, {"action": "sleep", "seconds": 30})
    assert 1 <= time.monotonic() - started < 5
    assert timed_out.value.error["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in timed_out.value.error["errorMessage"]
    assert not psutil.pid_exists(warm["pid"]) or psutil.Process(warm["pid"]).status() == psutil.STATUS_ZOMBIE
    fresh = runner.invoke(spec.logical_id, {})
    assert fresh["pid"] != warm["pid"] and fresh["invocations"] == 1  # a cold start in a new environment


def test_a_crashed_environment_is_replaced(tmp_path: Path, runners: list[FunctionRunner]) -> None:
    runner, spec, warm = warmed_up(tmp_path, runners)
    with pytest.raises(FunctionCrashed) as crashed:
        runner.invoke(spec.logical_id, {"action": "exit"})
    assert crashed.value.error["errorType"] == "Runtime.ExitError"
    assert "exit status 3" in crashed.value.error["errorMessage"]
    fresh = runner.invoke(spec.logical_id, {})
    assert fresh["pid"] != warm["pid"] and fresh["invocations"] == 1


def test_an_idle_environment_that_died_is_replaced(tmp_path: Path, runners: list[FunctionRunner]) -> None:
    runner, spec, warm = warmed_up(tmp_path, runners)
    os.kill(warm["pid"], signal.SIGKILL)
    psutil.Process(warm["pid"]).wait(5) if psutil.pid_exists(warm["pid"]) else None
    assert runner.invoke(spec.logical_id, {})["pid"] != warm["pid"]


def test_a_handler_error_is_lambdas_error_object_and_the_environment_stays_warm(
        tmp_path: Path, runners: list[FunctionRunner]) -> None:
    runner, spec, warm = warmed_up(tmp_path, runners)
    with pytest.raises(FunctionError) as failed:
        runner.invoke(spec.logical_id, {"action": "raise"})
    assert failed.value.error["errorType"] == "ValueError"
    assert failed.value.error["errorMessage"] == "the handler refused"
    assert failed.value.error["requestId"] and failed.value.error["stackTrace"]
    after = runner.invoke(spec.logical_id, {})
    assert (after["pid"], after["invocations"]) == (warm["pid"], 3)


def test_what_a_handler_prints_cannot_forge_its_result(tmp_path: Path, runners: list[FunctionRunner]) -> None:
    spec = make_spec(tmp_path)
    result = runner_for(runners, spec).invoke(spec.logical_id, {"action": "print"})
    assert result["event"] == {"action": "print"}


def test_a_handler_that_does_not_import_is_a_failed_init(tmp_path: Path, runners: list[FunctionRunner]) -> None:
    spec = make_spec(tmp_path, source="import no_such_module_anywhere\n")
    runner = runner_for(runners, spec)
    for _ in range(2):  # every invocation tries the init again, as Lambda does after a failed one
        with pytest.raises(InitFailed) as failed:
            runner.invoke(spec.logical_id, {})
        assert failed.value.error["errorType"] == "Runtime.ImportModuleError"
        assert "no_such_module_anywhere" in failed.value.error["errorMessage"]
    assert runner.environments(spec.logical_id) == []


def test_stop_ends_every_environment_idle_or_busy(tmp_path: Path, runners: list[FunctionRunner]) -> None:
    spec = make_spec(tmp_path)
    runner = runner_for(runners, spec, max_environments=2)
    pids = {result["pid"] for result in concurrently(
        [lambda: runner.invoke(spec.logical_id, {"action": "sleep", "seconds": 0.3})] * 2)}
    assert len(pids) == 2
    outcome: list[BaseException] = []

    def busy() -> None:
        try:
            runner.invoke(spec.logical_id, {"action": "sleep", "seconds": 60})
        except Exception as error:  # noqa: BLE001 - the test looks at it
            outcome.append(error)

    caller = threading.Thread(target=busy)
    caller.start()
    time.sleep(0.5)  # the invocation is running in one environment, the other is idle
    started = time.monotonic()
    runner.stop()
    caller.join(10)
    assert time.monotonic() - started < 5
    assert isinstance(outcome[0], FunctionCrashed), outcome
    _, alive = psutil.wait_procs([psutil.Process(pid) for pid in pids if psutil.pid_exists(pid)], timeout=5)
    assert alive == []
    with pytest.raises(RunnerStopped):
        runner.invoke(spec.logical_id, {})


def test_environments_end_when_the_stack_process_is_killed(tmp_path: Path) -> None:
    """``kill -9`` of ``make dev`` leaves no worker behind, even one in the middle of an invocation."""
    spec = make_spec(tmp_path)
    script = textwrap.dedent(f"""
        import json, sys, threading
        from pathlib import Path
        from devtools.template import FunctionSpec
        from devtools.local_stack.runner import FunctionRunner
        spec = FunctionSpec(logical_id="Orphan", code_dir=Path({str(spec.code_dir)!r}), handler_module="app",
                            handler_function="lambda_handler", environment={{}}, timeout_seconds=120, memory_mb=128)
        runner = FunctionRunner({{"Orphan": spec}}, {{"Orphan": {{"AWS_LAMBDA_FUNCTION_NAME": "Orphan"}}}})
        runner.invoke("Orphan", {{}})  # a warm environment, busy next; another one starts for the second call
        for _ in range(2):
            threading.Thread(target=runner.invoke, args=("Orphan", {{"action": "sleep", "seconds": 120}})).start()
        while len(runner.environments("Orphan")) < 2:
            pass
        print(json.dumps([environment.pid for environment in runner.environments("Orphan")]), flush=True)
        threading.Event().wait()
    """)
    stack = subprocess.Popen([sys.executable, "-c", script], cwd=REPO_ROOT, stdout=subprocess.PIPE)
    try:
        workers = [psutil.Process(pid) for pid in json.loads(stack.stdout.readline())]
        assert len(workers) == 2
    finally:
        stack.kill()
        stack.wait()
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert alive == []


def test_the_limit_comes_from_cruddur_max_environments() -> None:
    assert StackSettings.from_environment({}).max_environments == DEFAULT_MAX_ENVIRONMENTS
    assert StackSettings.from_environment({"CRUDDUR_MAX_ENVIRONMENTS": "7"}).max_environments == 7
    for wrong in ("0", "-1", "many"):
        with pytest.raises(SystemExit, match="CRUDDUR_MAX_ENVIRONMENTS"):
            StackSettings.from_environment({"CRUDDUR_MAX_ENVIRONMENTS": wrong})
    with pytest.raises(ValueError):
        FunctionRunner({}, {}, max_environments=0)
