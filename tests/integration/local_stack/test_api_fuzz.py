"""schemathesis fuzzes the running local stack with ``openapi.json``: every route, positive and negative data,
the document's links (stateful sequences), all checks, with a real Cognito access token.

No 5xx, no status, header or body outside the document, every error JSON. The exceptions, each with a reason
that holds behind API Gateway too, are below and in ``schemathesis.toml`` and ``schemathesis_hooks.py`` next to
this file. The run is bounded (``MAX_EXAMPLES`` per operation and phase); its seed is printed, and
``CRUDDUR_FUZZ_SEED`` replays one.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import requests

from devtools.environment import LocalResources, local_function_specs
from devtools.functions import LAYER_PATH
from devtools.local_stack.stack_file import StackInfo
from devtools.openapi import DOCUMENT_PATH
from devtools.template import REPO_ROOT
from devtools.local_stack.launch import RunningStack
from tests.integration.local_stack.test_local_stack_e2e import sign_in

MAX_EXAMPLES = 25
CONFIG = Path(__file__).with_name("schemathesis.toml")
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


def stored_messages(info: StackInfo) -> int:
    dynamodb = boto3.client("dynamodb", endpoint_url=info.aws_endpoint_url, region_name=info.region,
                            aws_access_key_id="testing", aws_secret_access_key="testing")
    pages = dynamodb.get_paginator("scan").paginate(
        TableName=info.table_name, Select="COUNT", FilterExpression="begins_with(pk, :msg)",
        ExpressionAttributeValues={":msg": {"S": "MSG#"}})
    return sum(page["Count"] for page in pages)


def test_the_api_keeps_its_document_under_fuzzing(stack: RunningStack, tmp_path: Path) -> None:
    token = sign_in(stack.info, "andrewbrown")["AccessToken"]
    messages_before = stored_messages(stack.info)
    seed = os.environ.get("CRUDDUR_FUZZ_SEED")
    command = [str(SCHEMATHESIS), "--config-file", str(CONFIG), "run", str(DOCUMENT_PATH),
               "--url", stack.info.api_url,
               # All checks but unsupported_method: API Gateway HTTP APIs answer a method that no route has with
               # 404 {"message":"Not Found"}, not the 405 it expects (the local API does the same).
               "--checks", "all", "--exclude-checks", "unsupported_method",
               "--mode", "all", "--phases", "examples,coverage,fuzzing,stateful",
               "--max-examples", str(MAX_EXAMPLES), "--workers", "1", "--request-timeout", "20",
               *(["--seed", seed] if seed else [])]
    # In a directory of its own: schemathesis and hypothesis leave files where they run.
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "NO_COLOR": "1", "CRUDDUR_FUZZ_ACCESS_TOKEN": token,
                                 "SCHEMATHESIS_HOOKS": str(HOOKS),
                                 "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(LAYER_PATH)])})
    assert result.returncode == 0, f"{result.stdout[-20000:]}\n{result.stderr[-3000:]}\n{stack.logs()[-4000:]}"
    operations = sum(len(item) for item in json.loads(DOCUMENT_PATH.read_text())["paths"].values())
    routes = sum(len(spec.routes) for spec in local_function_specs(
        LocalResources(table_name="cruddur-messages"), stream_arn="no-stream-needed-for-the-routes").values())
    assert operations == routes and f"Tested: {operations}" in result.stdout, result.stdout[-3000:]
    # The token was used: requests got past the authorizer and sent messages (the document's example of a send
    # always does; generated ones do when links lead them to real groups, which a run of 25 may not).
    assert stored_messages(stack.info) > messages_before


def test_the_local_api_serves_swagger_ui_and_the_document(stack: RunningStack) -> None:
    page = requests.get(f"{stack.info.api_url}/swagger", timeout=20)
    assert page.status_code == 200 and "swagger-ui-bundle.js" in page.text
    script = requests.get(f"{stack.info.api_url}/swagger/swagger-ui-bundle.js", timeout=20)
    assert script.status_code == 200 and script.headers["content-type"].endswith("javascript")
    document = requests.get(f"{stack.info.api_url}/openapi.json", timeout=20)
    assert document.json() == json.loads(DOCUMENT_PATH.read_text())
    # Not a route of the API: an unknown path next to it is still API Gateway's JSON 404.
    assert requests.get(f"{stack.info.api_url}/swagger/nothing.js", timeout=20).json() == {"message": "Not Found"}
