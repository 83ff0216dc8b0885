"""``python -m devtools.ops <group>/<command> [arguments] [prod]``: what every ``bin/`` entry point runs.

Commands are imported on demand, so a command pays only for the modules it uses.
"""
from __future__ import annotations

import importlib
import os
import sys

from devtools.ops.cli import configure_logging, run

COMMANDS = {
    "ddb/schema-load": "devtools.ops.ddb:SCHEMA_LOAD",
    "ddb/list-tables": "devtools.ops.ddb:LIST_TABLES",
    "ddb/drop": "devtools.ops.ddb:DROP",
    "ddb/scan": "devtools.ops.ddb:SCAN",
    "ddb/seed": "devtools.ops.ddb_seed:SEED",
    "ddb/migrate": "devtools.ops.ddb_migrate:MIGRATE",
    "ddb/patterns/get-conversation": "devtools.ops.patterns:GET_CONVERSATION",
    "ddb/patterns/list-conversations": "devtools.ops.patterns:LIST_CONVERSATIONS",
    "db/create": "devtools.ops.db:CREATE",
    "db/drop": "devtools.ops.db:DROP",
    "db/schema-load": "devtools.ops.db:SCHEMA_LOAD",
    "db/seed": "devtools.ops.db:SEED",
    "db/setup": "devtools.ops.db:SETUP",
    "db/connect": "devtools.ops.db:CONNECT",
    "db/update_cognito_user_ids": "devtools.ops.db:UPDATE_COGNITO_USER_IDS",
    "cognito/list-users": "devtools.ops.cognito:LIST_USERS",
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python -m devtools.ops {{{','.join(COMMANDS)}}} [arguments] [prod]", file=sys.stderr)
        return 2
    module_name, attribute = COMMANDS[argv[0]].split(":")
    command = getattr(importlib.import_module(module_name), attribute)
    configure_logging()
    try:
        return run(command, argv[1:])
    except BrokenPipeError:
        # The reader went away (``bin/ddb/scan | head``): stop quietly, and keep the interpreter's final flush
        # of stdout from failing again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
