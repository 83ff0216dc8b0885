"""A stand-in for the running local stack, as the operator scripts see it: a moto server (DynamoDB, Cognito,
SSM), an embedded PostgreSQL and a stack file in a temporary directory that ``CRUDDUR_STACK_FILE`` points at.

Each test gets its own stack file naming a table and a user pool of its own (and, when asked, a database of
its own), so tests share the two servers without sharing state. The scripts run as subprocesses, exactly as an
operator runs them; ``TZ`` is fixed so that "local time" is checkable.
"""
from __future__ import annotations

import itertools
import json
import logging
from typing import Callable, Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

from devtools.postgres import EmbeddedPostgres
from devtools.ops.ddb_seed import seed_from_database
from tests.integration.ops.support import (
    ANDREW,
    CLIENT_CREDENTIALS,
    COGNITO_USERS,
    LONDO,
    LONDO_ROWS,
    OLD_GROUP,
    OLD_MESSAGES,
    REGION,
    SEED_GROUP,
    Stack,
    database_url_for,
    subprocess_environment,
)


STACK_NUMBERS = itertools.count(1)
"""Numbers every stack of the process: moto's state is the process's, not a server's, so a package's fixtures set up
again (pytest-randomly may run the package's modules apart) find the tables of the first setup still there."""


@pytest.fixture(scope="package")
def moto_endpoint() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="package")
def ops_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    """Its ``cruddur`` database has the schema and the seed users; tests that drop or create use their own."""
    server = EmbeddedPostgres(tmp_path_factory.mktemp("ops-postgres")).start().setup()
    yield server
    server.stop()


@pytest.fixture(scope="package")
def make_stack(moto_endpoint: str, ops_postgres: EmbeddedPostgres,
               tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Stack]:
    """``make_stack(database=None, cognito_users=COGNITO_USERS)``: a new stack file with a fresh table name
    (the table is not created) and a fresh user pool; ``database`` names a database of the test's own."""
    def make(database: str | None = None, cognito_users: tuple[tuple[str, str | None], ...] = COGNITO_USERS) -> Stack:
        number = next(STACK_NUMBERS)
        directory = tmp_path_factory.mktemp(f"stack{number}")
        cognito = boto3.client("cognito-idp", endpoint_url=moto_endpoint, region_name=REGION, **CLIENT_CREDENTIALS)
        pool_id = cognito.create_user_pool(PoolName=f"ops-{number}")["UserPool"]["Id"]
        for username, handle in cognito_users:
            attributes = [{"Name": "preferred_username", "Value": handle}] if handle else []
            cognito.admin_create_user(UserPoolId=pool_id, Username=username, UserAttributes=attributes)
        stack = Stack(directory=directory, endpoint=moto_endpoint, table_name=f"cruddur-messages-{number}",
                      user_pool_id=pool_id,
                      database_url=database_url_for(ops_postgres.database_url, database) if database
                      else ops_postgres.database_url)
        stack.stack_file.parent.mkdir()
        stack.stack_file.write_text(json.dumps({
            "api_url": "http://127.0.0.1:3000",
            "aws_endpoint_url": moto_endpoint,
            "region": REGION,
            "table_name": stack.table_name,
            "user_pool_id": pool_id,
            "user_pool_client_id": "unused",
            "database_url": stack.database_url,
            "seed_message_group_uuid": SEED_GROUP,
            "users": [],
        }))
        stack.environment = {**subprocess_environment(), "CRUDDUR_STACK_FILE": str(stack.stack_file)}
        return stack

    return make


@pytest.fixture
def stack(make_stack: Callable[..., Stack]) -> Stack:
    return make_stack()


@pytest.fixture(scope="package")
def seeded(make_stack: Callable[..., Stack]) -> Stack:
    """A stack whose table holds the seeded conversation, a 2019 conversation written the tutorial's way and
    five conversations of londo (one from 2019). Read-only: tests must not change it."""
    stack = make_stack()
    table = stack.create_table()
    seed_from_database(table, stack.database_url)
    senders = {"andrewbrown": (ANDREW, "Andrew Brown"), "londo": (LONDO, "Londo Mollari")}
    for sk, handle, text in OLD_MESSAGES:
        uuid, name = senders[handle]
        table.put_item(Item={"pk": f"MSG#{OLD_GROUP}", "sk": sk, "message_uuid": f"old-{sk}", "message": text,
                             "user_uuid": uuid, "user_handle": handle, "user_display_name": name})
    for sk, group in LONDO_ROWS:
        table.put_item(Item={"pk": f"GRP#{LONDO}", "sk": sk, "message_group_uuid": group, "message": f"about {group}",
                             "user_uuid": ANDREW, "user_handle": "andrewbrown", "user_display_name": "Andrew Brown"})
    return stack
