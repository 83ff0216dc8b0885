"""Fixtures shared by unit and integration tests.

``postgres``: one embedded PostgreSQL per test session, schema and seed applied.
``aws``: moto in-process (``mock_aws``) with the template's table, the database parameter, the cursor secret and
the failure queue, and the functions' environment set as Lambda would set it; every test starts cold.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any, Iterator

import boto3
import pytest
from moto import mock_aws

from devtools.environment import LocalResources, function_environment, local_function_specs, provision
from devtools.functions import context_for, ensure_layer_on_path, handler_of, load_handler_module
from devtools.postgres import EmbeddedPostgres
from tests.support.botocore_models import share_parsed_models
from tests.support.containers import cold_start

ensure_layer_on_path()
share_parsed_models()

TABLE_NAME = "cruddur-messages"

# The layer's Powertools logger and metrics read POWERTOOLS_* once, when first imported - which in a test run can
# be at collection time, before the ``aws`` fixture sets the functions' environment. Lambda always sets them first.
for _name, _value in function_environment(LocalResources(table_name=TABLE_NAME)).items():
    if _name.startswith("POWERTOOLS_"):
        os.environ.setdefault(_name, _value)


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path_factory.mktemp("postgres")).start().setup()
    yield server
    server.stop()


FUNCTIONS_WITH_VARIABLES_OF_THEIR_OWN = ("CreateMessageFunction", "SyncFunction")
"""Functions whose own variables need no server of the test's (create-message's send limits, sync's index name);
the live functions' endpoint is the ``live`` fixture's."""


def lambda_environment(resources: LocalResources) -> dict[str, str]:
    """What Lambda sets for the functions these tests invoke: the variables they all share, and those of
    ``FUNCTIONS_WITH_VARIABLES_OF_THEIR_OWN``."""
    shared = function_environment(resources)
    environment = dict(shared)
    for function in FUNCTIONS_WITH_VARIABLES_OF_THEIR_OWN:
        own = function_environment(resources, None, function)
        environment.update({name: value for name, value in own.items() if name not in shared})
    return environment


@dataclass
class Aws:
    resources: LocalResources
    table: Any
    stream_arn: str
    failure_queue_url: str

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        """Runs a function of the template in-process, as its Lambda container would."""
        spec = local_function_specs(self.resources, self.stream_arn)[logical_id]
        return handler_of(spec)(event, context_for(spec))

    def container(self, logical_id: str) -> Any:
        """The function's container (``cruddur_messaging.containers``), as its next ``invoke`` uses it."""
        return load_handler_module(local_function_specs(self.resources, self.stream_arn)[logical_id]).container

    def deploy_with(self, monkeypatch: pytest.MonkeyPatch, **parameters: Any) -> None:
        """As after a deploy with these template parameters (``TutorialData="migrated"``...): the functions'
        environment as Lambda would set it from them, every container cold."""
        self.resources = replace(self.resources, parameters={**self.resources.parameters, **parameters})
        for name, value in lambda_environment(self.resources).items():
            monkeypatch.setenv(name, value)
        cold_start()


@pytest.fixture
def aws(postgres: EmbeddedPostgres, monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    resources = LocalResources(table_name=TABLE_NAME)
    for name, value in lambda_environment(resources).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        created = provision(resources, postgres.database_url)
        cold_start()
        table = boto3.resource("dynamodb", region_name=resources.region).Table(TABLE_NAME)
        yield Aws(resources, table, created["stream_arn"], created["failure_queue_url"])
        cold_start()
