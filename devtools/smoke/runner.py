"""``make smoke [STACK=<name>] [REGION=<region>]``: runs the checks against a stack and prints one line per
check (``PASS``, ``FAIL`` or ``SKIP``, the check's name, and what it saw), then what the run left behind.

Exit status: 0 when every check passed, 1 when any failed or was skipped, 2 when the target could not be found
(nothing was checked).
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Mapping, TextIO

from devtools.smoke.checks import DEFAULT_WAIT_SECONDS, PASS, Smoke
from devtools.smoke.target import SmokeTarget, TargetError, deployed_target, local_target


def main(argv: list[str] | None = None, environ: Mapping[str, str] = os.environ, out: TextIO = sys.stdout) -> int:
    parser = argparse.ArgumentParser(prog="make smoke", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", help="a deployed CloudFormation stack's name (default: the local stack)")
    parser.add_argument("--region", help="its region (default: AWS_REGION, AWS_DEFAULT_REGION or the profile's)")
    parser.add_argument("--wait", type=float, default=DEFAULT_WAIT_SECONDS,
                        help="seconds that what follows a write (stream function, live frames) may take")
    arguments = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        target: SmokeTarget = deployed_target(arguments.stack, arguments.region, environ) if arguments.stack \
            else local_target(environ)
    except TargetError as error:
        print(f"smoke: {error}", file=sys.stderr)
        return 2
    print(f"smoke: {target.description}: HTTP {target.api_url}, WebSocket {target.websocket_url}", file=out)
    smoke = Smoke(target, wait_seconds=arguments.wait)
    outcomes = []
    for outcome in smoke.run():
        outcomes.append(outcome)
        print(outcome.line(), file=out, flush=True)
    not_passed = [outcome for outcome in outcomes if outcome.status != PASS]
    print(f"left behind: {smoke.left_behind()}", file=out)
    print(f"smoke: {len(outcomes) - len(not_passed)} of {len(outcomes)} checks passed"
          + (f"; not passed: {', '.join(outcome.name for outcome in not_passed)}" if not_passed else ""), file=out)
    return 1 if not_passed else 0
