"""What every operator command shares: argument parsing with the ``prod`` convention, one-line errors, logging.

A command's output goes to stdout; warnings and errors go to stderr. Every failure an operator can cause or
meet (a bad argument, the stack not running, AWS or PostgreSQL refusing) ends as one line
``<prog>: error: <what happened>`` and exit status 1; usage errors exit 2, as argparse does.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import psycopg2
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from cruddur_messaging.errors import ApiError
from devtools.ops.errors import OpsError
from devtools.ops.target import PROD, Target, resolve_target

LOG_LEVEL_VARIABLE = "CRUDDUR_OPS_LOG_LEVEL"
LOG_FORMAT = "%(levelname)s: %(message)s"
EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class Command:
    """One ``bin/<name>`` executable.

    ``run`` receives the parsed arguments and the target. ``passthrough`` commands hand the arguments they do
    not know to another program (``bin/db/connect`` to psql).
    """

    name: str
    description: str
    run: Callable[[argparse.Namespace, Target], None]
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None
    local_only: bool = False
    passthrough: bool = False

    @property
    def prog(self) -> str:
        return f"bin/{self.name}"

    def parser(self) -> argparse.ArgumentParser:
        target_note = "the running local stack" if self.local_only else \
            f"the running local stack, or AWS when {PROD!r} is the last argument"
        parser = argparse.ArgumentParser(prog=self.prog, description=f"{self.description} Acts on {target_note}.")
        if self.add_arguments:
            self.add_arguments(parser)
        return parser


def positive_int(text: str) -> int:
    """argparse type of ``--limit`` and ``--page-size``."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def run(command: Command, argv: Sequence[str], environ: Mapping[str, str] = os.environ) -> int:
    """Parses ``argv`` (``prod`` as its last element selects AWS), resolves the target and runs the command."""
    arguments = list(argv)
    prod = bool(arguments) and arguments[-1] == PROD
    if prod:
        arguments.pop()
    parser = command.parser()
    if command.passthrough:
        args, extra = parser.parse_known_args(arguments)
        args.extra = extra
    else:
        args = parser.parse_args(arguments)
    target: Target | None = None
    try:
        if prod and command.local_only:
            raise OpsError(f"{command.prog} works on the local stack only; it does not take {PROD!r}")
        target = resolve_target(prod, environ)
        command.run(args, target)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except (OpsError, ApiError, BotoCoreError, ClientError, psycopg2.Error) as error:
        print(f"{command.prog}: error: {describe(error, target)}", file=sys.stderr)
        return EXIT_FAILURE
    return 0


def describe(error: BaseException, target: Target | None) -> str:
    """One line for ``error``: the most specific cause in its chain (the layer wraps outages in ApiError)."""
    cause = _root_cause(error)
    if isinstance(cause, EndpointConnectionError) and target is not None and not target.is_prod:
        return (f"cannot reach the local stack at {target.endpoint_url} (stale {target.source}?); "
                "start it with make dev")
    if isinstance(cause, psycopg2.Error):
        return one_line(f"PostgreSQL: {cause}")
    if isinstance(cause, ApiError):
        return one_line(cause.message)
    if isinstance(cause, ClientError):
        details = cause.response.get("Error", {})
        return one_line(f"{cause.operation_name}: {details.get('Message') or details.get('Code', 'failed')} "
                        f"({details.get('Code', 'no error code')})")
    return one_line(str(cause))


def _root_cause(error: BaseException) -> BaseException:
    while isinstance(error, ApiError) and error.__cause__ is not None:
        error = error.__cause__
    return error


def one_line(text: str) -> str:
    return " ".join(text.split())


def confirm(question: str, expected: str) -> None:
    """Asks the operator to type ``expected``; without a terminal nobody can answer, so the answer is no."""
    if sys.stdin is None or sys.stdin.closed or not sys.stdin.isatty():
        raise OpsError(f"no terminal to confirm with ({question}); pass --yes to go ahead")
    sys.stderr.write(f"{question} This cannot be undone. Type {expected!r} to confirm: ")
    sys.stderr.flush()
    if sys.stdin.readline().strip() != expected:
        raise OpsError("not confirmed; nothing was changed")


def configure_logging(environ: Mapping[str, str] = os.environ) -> None:
    """Logs on stderr at WARNING (``CRUDDUR_OPS_LOG_LEVEL`` to change it); call it once the command is imported.

    The layer's Powertools logger writes JSON to stdout for CloudWatch; here stdout is the command's output, so
    its records move to stderr, and below ERROR only when asked: the commands report failures themselves.
    """
    level = environ.get(LOG_LEVEL_VARIABLE, "WARNING").upper()
    if level not in logging.getLevelNamesMapping():
        level = "WARNING"
    logging.basicConfig(stream=sys.stderr, level=level, format=LOG_FORMAT)
    observability = sys.modules.get("cruddur_messaging.observability")
    if observability is None:  # the command does not use the layer's data access (nor pays for its imports)
        return
    for handler in observability.logger.handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sys.stderr)
    observability.logger.setLevel(level if LOG_LEVEL_VARIABLE in environ else "ERROR")
