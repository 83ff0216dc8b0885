"""What each function loads at cold start: nothing that only a build step or some requests need.

Each handler module is imported in a fresh interpreter, as a Lambda container would, with the function's
environment and tracing on; the modules it loaded are then checked (``make bench`` measures what they cost).
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from devtools.environment import LocalResources, function_environment, template_context
from devtools.functions import LAYER_PATH
from devtools.template import function_specs, load_template

SPECS = function_specs(load_template(), template_context(LocalResources(table_name="t"), stream_arn="-"))
LOADED = """
import json, sys
sys.path[:0] = {path!r}
import {module}
print(json.dumps(sorted(sys.modules)))
"""


def loaded_modules(logical_id: str) -> set[str]:
    spec = SPECS[logical_id]
    environment = function_environment(LocalResources(table_name="t"), None, logical_id)
    del environment["POWERTOOLS_TRACE_DISABLED"]
    environment["LAMBDA_TASK_ROOT"] = str(spec.code_dir)
    code = LOADED.format(path=[str(spec.code_dir), str(LAYER_PATH)], module=spec.handler_module)
    result = subprocess.run([sys.executable, "-I", "-c", code], env=environment, capture_output=True, text=True,
                            check=True)
    return set(json.loads(result.stdout))


def packages(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


@pytest.mark.parametrize("logical_id", sorted(SPECS))
def test_no_function_loads_pydantic_or_a_router(logical_id: str) -> None:
    modules = loaded_modules(logical_id)
    assert "cruddur_messaging.observability" in modules and "aws_xray_sdk.core" in modules
    assert "pydantic" not in packages(modules)
    assert not {name for name in modules if name.startswith("aws_lambda_powertools.event_handler")}


@pytest.mark.parametrize("logical_id", sorted(logical_id for logical_id, spec in SPECS.items() if not spec.routes))
def test_no_psycopg2_at_cold_start_where_it_is_never_or_not_yet_needed(logical_id: str) -> None:
    """The functions without an HTTP route (the stream and live functions) never read PostgreSQL; the authorizer
    only once it admitted a token."""
    assert "psycopg2" not in packages(loaded_modules(logical_id))
    assert "psycopg2" in packages(loaded_modules("UsersShortFunction"))


def test_tracing_patches_only_botocore_and_psycopg2() -> None:
    modules = loaded_modules("ListGroupsFunction")
    patched = {name.split(".")[2] for name in modules
               if name.startswith("aws_xray_sdk.ext.") and name.endswith(".patch")}
    assert patched == {"botocore", "psycopg2"}


@pytest.mark.parametrize("logical_id", sorted(set(SPECS) - {"MessageStreamFunction"}))
def test_only_the_stream_function_loads_the_stream_record_classes(logical_id: str) -> None:
    # Powertools' event data classes (every event source's, about 10 ms) parse stream records; mark-read shares
    # the group rows' time arithmetic with the stream function, not its record parsing.
    assert not {name for name in loaded_modules(logical_id)
                if name.startswith("aws_lambda_powertools.utilities.data_classes")}
