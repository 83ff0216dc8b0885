"""``make bench``: how long each function's init phase (importing its handler module) takes on a cold start.

Each measurement runs in a fresh interpreter with the function's environment, as a new Lambda container would,
and times the import of the handler module (Powertools, boto3, psycopg2 and the layer). Nothing is called: the
first request's own work (reading the database URL, connecting) is in the call budget, not here. The median of
several runs is printed, with the slowest imports of one function from ``python -X importtime``. A measurement
on this machine, not a timed test: compare runs, not absolute numbers against Lambda.
"""
from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys

from devtools.environment import LocalResources, function_environment, template_context
from devtools.template import REPO_ROOT, function_specs, load_template

RUNS = 5
TOP_IMPORTS = 8
MEASURE = """
import time, sys
started = time.perf_counter()
from devtools.functions import load_handler_module
from devtools.template import function_specs, load_template
spec = function_specs(load_template(), {context!r})[{logical_id!r}]
template_read = time.perf_counter()
load_handler_module(spec)
print((time.perf_counter() - template_read) * 1000)
"""


def _environment(logical_id: str) -> dict[str, str]:
    resources = LocalResources(table_name="cruddur-messages")
    return {**os.environ, **function_environment(resources, "http://127.0.0.1:1", logical_id),
            "PYTHONPATH": str(REPO_ROOT), "POWERTOOLS_LOG_LEVEL": "WARNING"}


def _context() -> dict[str, str]:
    resources = LocalResources(table_name="cruddur-messages")
    return {key: value for key, value in template_context(resources, stream_arn="-").items()
            if isinstance(value, (str, bool, list))}


def import_milliseconds(logical_id: str) -> float:
    code = MEASURE.format(context=_context(), logical_id=logical_id)
    result = subprocess.run([sys.executable, "-c", code], env=_environment(logical_id), cwd=REPO_ROOT,
                            capture_output=True, text=True, check=True)
    return float(result.stdout.strip().splitlines()[-1])


def slowest_imports(logical_id: str) -> list[tuple[int, str]]:
    """``-X importtime`` of one cold start: the packages with the largest cumulative import time (a package's
    figure includes what it imports, so they overlap)."""
    code = MEASURE.format(context=_context(), logical_id=logical_id)
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", code], env=_environment(logical_id),
                            cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    packages: dict[str, int] = {}
    for line in result.stderr.splitlines():
        found = re.match(r"import time:\s+\d+ \|\s+(\d+) \|\s*(\S+)", line)
        if found:
            name = found.group(2).split(".")[0]
            packages[name] = max(packages.get(name, 0), int(found.group(1)))
    harness = {"devtools", "samcli", "samtranslator", "site", "encodings"}
    return sorted(((micros, name) for name, micros in packages.items() if name not in harness),
                  reverse=True)[:TOP_IMPORTS]


def main() -> None:
    specs = function_specs(load_template(), _context())
    print(f"| function | init: handler import, median of {RUNS} fresh interpreters (ms) |")
    print("|---|---:|")
    for logical_id in specs:
        runs = [import_milliseconds(logical_id) for _ in range(RUNS)]
        print(f"| {logical_id} | {statistics.median(runs):.0f} |")
    example = "CreateMessageFunction"
    print(f"\nLargest imports of {example} (cumulative, overlapping, ms): " + ", ".join(
        f"{name} {micros / 1000:.0f}" for micros, name in slowest_imports(example)))


if __name__ == "__main__":
    main()
