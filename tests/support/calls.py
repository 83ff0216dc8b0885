"""Counting what a request costs, and making a dependency fail, at the two seams every call goes through.

* AWS: ``botocore.client.BaseClient._make_api_call``. Every client (the layer's table resource, the idempotency
  persistence layer's own client, SSM, Secrets Manager, any client added later) passes there once per API call,
  before the SDK's retries. Patching the class rather than a client's ``before-call`` hook means a client
  added later cannot slip past the count.
* PostgreSQL: ``PostgresDatabase._read``, which every query of the layer goes through (``fetch_one``,
  ``fetch_all``), and ``psycopg2.connect``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import botocore.client
import pytest
from botocore.exceptions import EndpointConnectionError

from cruddur_messaging.data import postgres as postgres_module
from cruddur_messaging.data import users as users_module
from cruddur_messaging.data.postgres import PostgresDatabase

SQL_NAMES = {
    users_module.USER_BY_COGNITO_USER_ID: "user_by_cognito_user_id",
    users_module.USER_BY_HANDLE: "user_by_handle",
    users_module.USERS_BY_UUIDS: "users_by_uuids",
}


@dataclass
class CallLog:
    aws: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    sql: list[str] = field(default_factory=list)
    connections: int = 0

    def dynamodb(self) -> list[str]:
        return [operation for service, operation, _ in self.aws if service == "dynamodb"]

    def dynamodb_calls(self, operation: str) -> list[dict[str, Any]]:
        return [params for service, name, params in self.aws if service == "dynamodb" and name == operation]

    def other_aws(self) -> list[tuple[str, str]]:
        return [(service, operation) for service, operation, _ in self.aws if service != "dynamodb"]

    def clear(self) -> None:
        self.aws.clear()
        self.sql.clear()
        self.connections = 0


def record_calls(monkeypatch: pytest.MonkeyPatch) -> CallLog:
    log = CallLog()
    make_api_call = botocore.client.BaseClient._make_api_call
    read = PostgresDatabase._read
    connect = postgres_module.psycopg2.connect

    def counting_api_call(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        log.aws.append((client.meta.service_model.service_name, operation_name, api_params))
        return make_api_call(client, operation_name, api_params)

    def counting_read(database: PostgresDatabase, query: str, params: Any, rows: Any) -> Any:
        log.sql.append(SQL_NAMES.get(query, query))
        return read(database, query, params, rows)

    def counting_connect(*args: Any, **kwargs: Any) -> Any:
        log.connections += 1
        return connect(*args, **kwargs)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", counting_api_call)
    monkeypatch.setattr(PostgresDatabase, "_read", counting_read)
    monkeypatch.setattr(postgres_module.psycopg2, "connect", counting_connect)
    return log


ErrorFactory = Callable[[Any, str], Exception]


def aws_error(code: str, message: str = "injected", **extra: Any) -> ErrorFactory:
    """The exception the SDK raises for ``code`` once its retries are spent (the client's modeled class)."""
    def build(client: Any, operation_name: str) -> Exception:
        response = {"Error": {"Code": code, "Message": message},
                    "ResponseMetadata": {"HTTPStatusCode": 400, "MaxAttemptsReached": True}, **extra}
        return client.exceptions.from_code(code)(response, operation_name)
    return build


throttled = aws_error("ProvisionedThroughputExceededException", "Rate of requests exceeds the allowed throughput.")


def unreachable(client: Any, operation_name: str) -> Exception:
    """What the SDK raises once its retries of a call that cannot connect are spent."""
    return EndpointConnectionError(endpoint_url=client.meta.endpoint_url)


Predicate = Callable[[str, dict[str, Any]], bool]


def fail_dynamodb(monkeypatch: pytest.MonkeyPatch, when: Predicate = lambda operation, params: True,
                  error: ErrorFactory = throttled) -> list[str]:
    """From now on the DynamoDB calls ``when(operation, params)`` selects fail as after the SDK's retries.

    Returns the refused operations, in order, so a test can check that the failure was reached.
    """
    refused: list[str] = []
    make_api_call = botocore.client.BaseClient._make_api_call

    def failing_api_call(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        if client.meta.service_model.service_name == "dynamodb" and when(operation_name, api_params):
            refused.append(operation_name)
            raise error(client, operation_name)
        return make_api_call(client, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", failing_api_call)
    return refused


def operation_is(*operations: str) -> Predicate:
    return lambda operation, params: operation in operations


def writes_to(prefix: str, operation: str = "PutItem") -> Predicate:
    """A write of an item whose ``pk`` starts with ``prefix`` (e.g. the message's PutItem, not the idempotency
    record's)."""
    def matches(name: str, params: dict[str, Any]) -> bool:
        if name != operation:
            return False
        pk = params.get("Item", {}).get("pk")
        pk = pk.get("S") if isinstance(pk, dict) else pk
        return isinstance(pk, str) and pk.startswith(prefix)
    return matches
