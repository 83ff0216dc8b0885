"""bin/db/* against the embedded PostgreSQL (each test on a database of its own) and Cognito on moto."""
from __future__ import annotations

import io
from contextlib import closing
from pathlib import Path
from typing import Callable

import psycopg2
import pytest

from devtools.ops.cli import run
from devtools.ops.database import create_database, database_exists, run_sql_file
from devtools.ops.db import CONNECT, find_psql
from devtools.postgres import SCHEMA_SQL, SEED_SQL
from tests.integration.ops.support import Stack

MOCK_LONDO_ID = "5f0e1c2d-8a7b-4c3d-9e8f-0a1b2c3d4e03"


def _users(database_url: str) -> dict[str, str | None]:
    with closing(psycopg2.connect(database_url)) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT handle, cognito_user_id FROM users")
        return dict(cursor.fetchall())


def _seeded_database(stack: Stack) -> None:
    create_database(stack.database_url)
    run_sql_file(stack.database_url, SCHEMA_SQL)
    run_sql_file(stack.database_url, SEED_SQL)


def test_create_schema_seed_and_drop_a_database(make_stack: Callable[..., Stack],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    stack = make_stack(database="ops_lifecycle")
    steps = [("db/create", "created database ops_lifecycle"),
             ("db/create", "database ops_lifecycle already exists"),
             ("db/schema-load", "loaded db/schema.sql into ops_lifecycle"),
             ("db/seed", "loaded db/seed.sql into ops_lifecycle"),
             ("db/seed", "loaded db/seed.sql into ops_lifecycle"),
             ("db/drop", "dropped database ops_lifecycle"),
             ("db/drop", "database ops_lifecycle does not exist")]
    for command, output in steps:
        result = stack.call(capsys, command)
        assert (result.returncode, result.stdout.strip(), result.stderr) == (0, output, ""), command
        if command == "db/seed":
            assert sorted(_users(stack.database_url)) == ["andrewbrown", "bayko", "londo"]


def test_setup_rebuilds_the_local_database_and_links_cognito(make_stack: Callable[..., Stack],
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    stack = make_stack(database="ops_setup")
    create_database(stack.database_url)
    with closing(psycopg2.connect(stack.database_url)) as connection, connection, connection.cursor() as cursor:
        cursor.execute("CREATE TABLE leftover (id int)")

    result = stack.call(capsys, "db/setup")
    assert result.returncode == 0, result.stderr
    subs = stack.cognito_subs()
    assert result.stdout.splitlines() == [
        "dropped database ops_setup", "created database ops_setup", "loaded db/schema.sql into ops_setup",
        "loaded db/seed.sql into ops_setup", f"andrewbrown  {subs['andrewbrown']}", f"bayko        {subs['bayko']}",
        "2 users linked to their Cognito users"]
    assert result.stderr.startswith("WARNING: skipping Cognito user no-handle (sub ")
    assert result.stderr.rstrip().endswith("): no preferred_username")
    assert _users(stack.database_url) == {"andrewbrown": subs["andrewbrown"], "bayko": subs["bayko"],
                                          "londo": MOCK_LONDO_ID}
    with closing(psycopg2.connect(stack.database_url)) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('leftover')")
        assert cursor.fetchone() == (None,)


def test_update_cognito_user_ids_links_every_handle_it_can(make_stack: Callable[..., Stack]) -> None:
    """``bin/db/update_cognito_user_ids`` itself, as a subprocess: the entry point's logging puts the warnings on
    stderr (the other tests run the commands in-process)."""
    stack = make_stack(database="ops_cognito", cognito_users=(
        ("andrew", "andrewbrown"), ("bayko-login", "Bayko"), ("no-handle", None), ("ghost", "ghost"),
        ("londo-1", "londo"), ("londo-2", "LONDO")))
    _seeded_database(stack)
    subs = stack.cognito_subs()

    result = stack.run("db/update_cognito_user_ids")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"andrewbrown  {subs['andrewbrown']}", f"bayko        {subs['Bayko']}",
                                          "2 users linked to their Cognito users"]
    warnings = result.stderr.splitlines()
    assert len(warnings) == 3
    assert warnings[0].startswith("WARNING: skipping Cognito user no-handle (sub ")
    assert warnings[1] == "WARNING: skipping handle londo: claimed by the Cognito users londo-1, londo-2"
    assert warnings[2] == "WARNING: no user with handle ghost in the database; its Cognito user stays unlinked"
    assert _users(stack.database_url) == {"andrewbrown": subs["andrewbrown"], "bayko": subs["Bayko"],
                                          "londo": MOCK_LONDO_ID}


def test_update_cognito_user_ids_changes_nothing_on_a_conflict(make_stack: Callable[..., Stack],
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    stack = make_stack(database="ops_conflict", cognito_users=(("andrew", "andrewbrown"), ("bayko-login", "bayko")))
    _seeded_database(stack)
    subs = stack.cognito_subs()
    with closing(psycopg2.connect(stack.database_url)) as connection, connection, connection.cursor() as cursor:
        cursor.execute("UPDATE users SET cognito_user_id = %s WHERE handle = 'londo'", (subs["bayko"],))
    before = _users(stack.database_url)

    result = stack.call(capsys, "db/update_cognito_user_ids")
    assert stack.error_line(result, "db/update_cognito_user_ids") == (
        f"cannot link bayko to Cognito user {subs['bayko']}: another user already has that cognito_user_id; "
        "nothing was changed")
    assert _users(stack.database_url) == before


def test_connect_runs_psql_on_the_database(stack: Stack) -> None:
    """A subprocess: ``bin/db/connect`` replaces itself with psql."""
    result = stack.run("db/connect", "-At", "-c", "SELECT handle FROM users ORDER BY handle")
    assert (result.returncode, result.stdout.split()) == (0, ["andrewbrown", "bayko", "londo"]), result.stderr


def test_connect_says_when_psql_is_missing(stack: Stack, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert find_psql("/nonexistent") is None
    assert find_psql() is not None
    monkeypatch.setattr("devtools.ops.db.find_psql", lambda: None)
    assert run(CONNECT, [], environ={"CRUDDUR_STACK_FILE": str(stack.stack_file)}) == 1
    assert capsys.readouterr().err == ("bin/db/connect: error: psql is missing: install the PostgreSQL client "
                                       "(e.g. apt-get install postgresql-client)\n")


def test_setup_refuses_prod(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    result = stack.call(capsys, "db/setup", "prod")
    assert stack.error_line(result, "db/setup") == "bin/db/setup works on the local stack only; it does not take 'prod'"


def test_prod_reads_the_database_url_from_ssm_and_asks_before_dropping(make_stack: Callable[..., Stack],
                                                                       monkeypatch: pytest.MonkeyPatch,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    stack = make_stack(database="ops_prod")
    create_database(stack.database_url)
    stack.client("ssm").put_parameter(Name="/ops-test/database-url", Value=stack.database_url, Type="SecureString")

    created = stack.call_in_prod(capsys, monkeypatch, "db/create", DATABASE_URL_PARAMETER="/ops-test/database-url")
    assert (created.returncode, created.stdout.strip()) == (0, "database ops_prod already exists"), created.stderr
    monkeypatch.setattr("sys.stdin", io.StringIO())
    refused = stack.call_in_prod(capsys, monkeypatch, "db/drop", DATABASE_URL_PARAMETER="/ops-test/database-url")
    assert stack.error_line(refused, "db/drop") == ("no terminal to confirm with (Drop PostgreSQL database ops_prod "
                                                    "with every user in it?); pass --yes to go ahead")
    assert database_exists(stack.database_url)

    missing = stack.call_in_prod(capsys, monkeypatch, "db/create", DATABASE_URL_PARAMETER="/ops-test/nothing")
    assert stack.error_line(missing, "db/create") == ("SSM parameter /ops-test/nothing (the database URL) does not "
                                                      "exist; set DATABASE_URL or DATABASE_URL_PARAMETER")


def test_an_unreachable_database_is_one_line(make_stack: Callable[..., Stack], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    stack = make_stack()
    unreachable = f"postgresql://postgres:@/cruddur?host={tmp_path}"
    stack.stack_file.write_text(stack.stack_file.read_text().replace(stack.database_url, unreachable))
    result = stack.call(capsys, "db/create")
    assert stack.error_line(result, "db/create").startswith(
        f'PostgreSQL: connection to server on socket "{tmp_path}/.s.PGSQL.5432" failed: No such file or directory')
