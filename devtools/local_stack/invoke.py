"""``make invoke FN=<logical id> EVENT=<file>``: one invocation against the running local stack, as
``sam local invoke FN -e FILE`` would run it in a container: in an execution environment of its own (a worker
process, ``devtools/local_stack/runner.py``), cold, with the function's Timeout.

The function gets the template's environment resolved against the stack in ``.local/stack.json``. Only the
handler's return value is printed on stdout, as JSON (everything the function logs goes to stderr); a handler
that raises, times out or crashes prints Lambda's error object instead and exits with 1.

The files in ``events/`` carry the fixed Cognito ids of ``db/seed.sql``, but ``make dev`` gives the users new
ones: every claim equal to a seed user's fixed id is replaced by that user's id in the running stack, so the
events work unchanged.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any, Mapping

import boto3

from devtools.environment import LocalResources, function_environment, local_function_specs
from devtools.local_stack.database import seed_cognito_user_ids
from devtools.local_stack.runner import FunctionRunner, InvocationFailed
from devtools.local_stack.settings import StackSettings, configure_logging, install_environment
from devtools.local_stack.stack_file import StackInfo, read_stack_file
from devtools.template import load_template

log = logging.getLogger("devtools.local_stack.invoke")


def local_resources(info: StackInfo, settings: StackSettings) -> LocalResources:
    """The running stack's resources, as ``make dev`` named them."""
    return LocalResources(table_name=info.table_name, region=info.region, parameters={
        **settings.template_parameters(),
        "CognitoUserPoolId": info.user_pool_id,
        "CognitoUserPoolClientId": info.user_pool_client_id,
    }, websocket_api_endpoint=settings.websocket_management_url)


def with_stack_user_ids(event: Any, replacements: Mapping[str, str]) -> Any:
    """``event`` with every string equal to a key of ``replacements`` replaced (claims sit deep in the event)."""
    if isinstance(event, dict):
        return {key: with_stack_user_ids(value, replacements) for key, value in event.items()}
    if isinstance(event, list):
        return [with_stack_user_ids(item, replacements) for item in event]
    if isinstance(event, str):
        return replacements.get(event, event)
    return event


def user_id_replacements(info: StackInfo) -> dict[str, str]:
    """Seed Cognito id -> the same user's Cognito id in the running stack."""
    stack_ids = {user.handle: user.cognito_user_id for user in info.users}
    return {seed_id: stack_ids[handle] for handle, seed_id in seed_cognito_user_ids().items() if handle in stack_ids}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make invoke", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("function", metavar="FN", help="logical id of a function in template.yaml")
    parser.add_argument("event", metavar="EVENT", type=Path, help="JSON file with the event")
    arguments = parser.parse_args(sys.argv[1:] if argv is None else argv)
    configure_logging()

    if not arguments.event.is_file():
        log.error("event file %s not found", arguments.event)
        return 2
    settings = StackSettings.from_environment()
    info = read_stack_file(settings.stack_file)
    template = load_template()
    resources = local_resources(info, settings)
    function_ids = [logical_id for logical_id, resource in template["Resources"].items()
                    if resource.get("Type") == "AWS::Serverless::Function"]
    if arguments.function not in function_ids:
        log.error("no function %r in template.yaml; the functions are: %s", arguments.function,
                  ", ".join(sorted(function_ids)))
        return 2
    environment = function_environment(resources, info.aws_endpoint_url, arguments.function)
    install_environment(environment)  # for this process's own client, which reads the stream's ARN
    stream_arn = boto3.client("dynamodb").describe_table(TableName=info.table_name)["Table"]["LatestStreamArn"]
    spec = local_function_specs(resources, stream_arn)[arguments.function]
    event = with_stack_user_ids(json.loads(arguments.event.read_text()), user_id_replacements(info))
    runner = FunctionRunner({spec.logical_id: spec}, {spec.logical_id: environment}, max_environments=1)
    try:
        result = runner.invoke(spec.logical_id, event)
        status = 0
    except InvocationFailed as failure:
        log.error("%s failed: %s", spec.logical_id, failure.error.get("errorType"))
        result = failure.error
        status = 1
    finally:
        runner.stop()
    sys.stdout.write(json.dumps(result, indent=2, default=str) + "\n")
    sys.stdout.flush()
    return status


if __name__ == "__main__":
    sys.exit(main())
