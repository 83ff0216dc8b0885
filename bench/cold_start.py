"""``make bench``: each function's init (the import of its handler module) next to a bare ``import boto3``.

Measured the way Lambda starts a function, from what ``sam build`` produced and nothing else:

- a fresh ``python3.13 -I -B`` per measurement (the template's runtime; the script refuses another version), from
  a virtualenv with nothing installed (the dev venv's extra packages, awscrt among them, would change what botocore
  imports); ``-B`` because Lambda's file system is read-only, so whatever bytecode the artifact lacks is compiled
  again on every cold start;
- the artifact built for this machine's architecture (``make bench`` builds it into ``.aws-sam/build-x86_64`` on
  x86_64): the deployed default is arm64, whose native libraries cannot load here. The ratio to ``import boto3``
  is taken on one CPU, so it carries over; the milliseconds are this machine's, not Graviton's;
- ``sys.path`` as in Lambda: ``<build>/<Function>`` (/var/task), ``<build>/SharedLayer/python``
  (/opt/python), then the runtime's boto3 (/var/runtime): the layer does not ship boto3, so the boto3 version
  the tests run with is installed by ``make bench`` into ``.aws-sam/lambda-runtime``, byte-compiled as the
  runtime's is;
- the function's environment from ``template.yaml`` and the variables Lambda sets, tracing on (no
  ``POWERTOOLS_TRACE_DISABLED``): the Tracer loads the X-Ray SDK and patches as it would in AWS.

Each round is one fresh interpreter that imports boto3, then the handler module (which needs boto3 anyway):
init is the sum, and the ratio init / boto3 compares the two side by side in the same process. Times are the
process's CPU time: the imports are CPU-bound, and on a shared machine CPU time does not count the moments
other processes had the cores, which wall-clock time would. The goal: every function at most 1.5x
``import boto3``. Then, per function, where its time beyond boto3 goes
(``-X importtime``, self time summed per top-level package). A measurement, not a timed test.
"""
from __future__ import annotations

import re
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from devtools.environment import LocalResources, template_context
from devtools.template import REPO_ROOT, FunctionSpec, function_specs, load_template

ROUNDS = 9
TOP_PACKAGES = 6
PROFILE_RUNS = 3
# The artifact to measure: the first argument (``make bench`` gives the one built for this machine).
BUILD_DIR = REPO_ROOT / (sys.argv[1] if len(sys.argv) > 1 else ".aws-sam/build")
LAYER_DIR = BUILD_DIR / "SharedLayer" / "python"
RUNTIME_SDK_DIR = REPO_ROOT / ".aws-sam" / "lambda-runtime"
MARK = "--- boto3 imported ---"
TIMED_IMPORTS = """
import importlib, sys, time
sys.path[:0] = {path!r}
started = time.process_time()
import boto3
boto3_imported = time.process_time()
importlib.import_module({module!r})
print((boto3_imported - started) * 1000, (time.process_time() - started) * 1000)
"""
PROFILED_IMPORT = """
import importlib, sys
sys.path[:0] = {path!r}
import boto3
print({mark!r}, file=sys.stderr, flush=True)
importlib.import_module({module!r})
"""


def lambda_environment(spec: FunctionSpec) -> dict[str, str]:
    """The template's variables for the function and those the Lambda runtime sets."""
    return {
        **spec.environment,
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": spec.logical_id,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "LAMBDA_TASK_ROOT": str(BUILD_DIR / spec.logical_id),
        "_HANDLER": f"{spec.handler_module}.{spec.handler_function}",
        "TZ": ":UTC",
        "PATH": "/usr/bin:/bin",
    }


def lambda_path(spec: FunctionSpec) -> list[str]:
    return [str(BUILD_DIR / spec.logical_id), str(LAYER_DIR), str(RUNTIME_SDK_DIR)]


class ColdStarts:
    def __init__(self, python: Path, specs: dict[str, FunctionSpec]) -> None:
        self.python = python
        self.specs = specs

    def _run(self, code: str, spec: FunctionSpec, *flags: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.python), "-I", "-B", *flags, "-c", code], env=lambda_environment(spec),
                              cwd=BUILD_DIR / spec.logical_id, capture_output=True, text=True, check=True)

    def init_ms(self, spec: FunctionSpec) -> tuple[float, float]:
        """CPU milliseconds of ``import boto3`` and of the whole init (boto3, then the handler module)."""
        code = TIMED_IMPORTS.format(path=lambda_path(spec), module=spec.handler_module)
        boto3_ms, init_ms = self._run(code, spec).stdout.split()[-2:]
        return float(boto3_ms), float(init_ms)

    def beyond_boto3(self, spec: FunctionSpec) -> list[tuple[float, str]]:
        """Milliseconds per top-level package that the handler imports after boto3: self times summed per
        package (no overlap), the smallest of a few ``-X importtime`` runs (wall-clock, so noisier)."""
        code = PROFILED_IMPORT.format(path=lambda_path(spec), module=spec.handler_module, mark=MARK)
        fastest: dict[str, float] = {}
        for _ in range(PROFILE_RUNS):
            per_package: dict[str, float] = defaultdict(float)
            for line in self._run(code, spec, "-X", "importtime").stderr.partition(MARK)[2].splitlines():
                found = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", line)
                if found:
                    per_package[found.group(2).split(".")[0]] += int(found.group(1)) / 1000
            fastest = {name: min(ms, fastest.get(name, ms)) for name, ms in per_package.items()}
        return sorted(((ms, name) for name, ms in fastest.items()), reverse=True)


def directory_mb(path: Path) -> float:
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file()) / 1e6


def main() -> None:
    missing = [path for path in (LAYER_DIR, RUNTIME_SDK_DIR) if not path.is_dir()]
    if missing:
        sys.exit(f"missing {', '.join(map(str, missing))}: run `make bench` (it builds them)")
    resources = LocalResources(table_name="cruddur-messages")
    specs = function_specs(load_template(), template_context(resources, stream_arn="-"))
    runtimes = {spec.runtime for spec in specs.values()}
    this_python = f"python{sys.version_info.major}.{sys.version_info.minor}"
    if runtimes != {this_python}:
        sys.exit(f"the functions run on {', '.join(sorted(runtimes))} and this is {this_python}: run `make bench`")
    with tempfile.TemporaryDirectory(prefix="cold-start-") as scratch:
        base_python = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
        subprocess.run([str(base_python), "-m", "venv", "--without-pip", scratch], check=True)
        cold = ColdStarts(Path(scratch) / "bin" / "python", specs)
        runs: dict[str, list[tuple[float, float]]] = {logical_id: [] for logical_id in specs}
        for _ in range(ROUNDS):
            for logical_id, spec in specs.items():
                runs[logical_id].append(cold.init_ms(spec))
        print(f"Cold start: init = import of the handler module, CPU time, median of {ROUNDS} fresh interpreters; "
              f"layer {directory_mb(LAYER_DIR.parent):.0f} MB unzipped\n")
        print("| function | init (ms) | `import boto3` (ms) | init / boto3 |")
        print("|---|---:|---:|---:|")
        for logical_id, pairs in runs.items():
            boto3_ms = statistics.median(boto3 for boto3, _ in pairs)
            init_ms = statistics.median(init for _, init in pairs)
            ratio = statistics.median(init / boto3 for boto3, init in pairs)
            print(f"| {logical_id} | {init_ms:.0f} | {boto3_ms:.0f} | {ratio:.2f} |")
        print("\nBeyond boto3, per package (ms, -X importtime):")
        for logical_id, spec in specs.items():
            packages = cold.beyond_boto3(spec)
            total = sum(ms for ms, _ in packages)
            print(f"  {logical_id}: {total:.0f} = " + ", ".join(
                f"{name} {ms:.1f}" for ms, name in packages[:TOP_PACKAGES]))


if __name__ == "__main__":
    main()
