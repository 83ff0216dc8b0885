"""The functions' environment and AWS resources outside AWS, both derived from ``template.yaml``.

``function_environment`` gives the variables Lambda would set (Globals and the function's own, resolved),
plus the standard AWS variables that point boto3 at a local endpoint. ``provision`` creates what the
functions expect to exist: the table (from the template's definition), the database-url parameter, the
cursor signing secret and the stream failure queue.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any, Mapping

import boto3

from devtools.template import (
    TABLE_LOGICAL_ID,
    FunctionSpec,
    function_specs,
    load_template,
    parameter_defaults,
    table_definition,
    time_to_live_attribute,
)

REGION = "us-east-1"
DATABASE_URL_PARAMETER = "/cruddur/messaging/database-url"
CURSOR_SECRET_NAME = "cruddur-messaging/cursor-signing-key"
FAILURE_QUEUE_NAME = "cruddur-messaging-stream-failures"
LOCAL_ACCOUNT_ID = "123456789012"
WEBSOCKET_API_ID = "local-websocket-api"
# Parameters without a default, until the local Cognito pool exists (``LocalResources.parameters`` names the real
# ones): the functions' environment does not depend on them before the pool is created.
COGNITO_STAND_INS = {"CognitoUserPoolId": f"{REGION}_local", "CognitoUserPoolClientId": "local-app-client"}


@dataclass(frozen=True)
class LocalResources:
    table_name: str
    database_url_parameter: str = DATABASE_URL_PARAMETER
    cursor_secret_name: str = CURSOR_SECRET_NAME
    failure_queue_name: str = FAILURE_QUEUE_NAME
    region: str = REGION
    # Template parameters to use instead of their defaults (CorsAllowedOrigins, CognitoUserPoolId, ...).
    parameters: Mapping[str, Any] = field(default_factory=dict)
    # Where the WebSocket API's management API answers (the template's ``LiveWebSocketApi.ApiEndpoint``, which the
    # live functions post to under the stage): the local WebSocket API's management port.
    websocket_api_endpoint: str = "http://127.0.0.1:3002"


def template_context(resources: LocalResources, template: Mapping[str, Any] | None = None,
                     stream_arn: str | None = None) -> dict[str, Any]:
    """Values standing in for the template's parameters, resources and pseudo parameters.

    ``stream_arn`` is the table's stream, known only once the table exists; the stream function's event needs it.
    """
    template = template or load_template()
    context: dict[str, Any] = {
        **COGNITO_STAND_INS,
        **parameter_defaults(template),
        **resources.parameters,
        "AWS::Region": resources.region,
        "AWS::AccountId": LOCAL_ACCOUNT_ID,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
        "TableName": resources.table_name,
        "DatabaseUrlParameterName": resources.database_url_parameter,
        "MessagesTable": resources.table_name,
        "MessagesTable.Arn": f"arn:aws:dynamodb:{resources.region}:{LOCAL_ACCOUNT_ID}:table/{resources.table_name}",
        "CursorSigningSecret": resources.cursor_secret_name,
        "MessageStreamFailureQueue": resources.failure_queue_name,
        "MessageStreamFailureQueue.Arn":
            f"arn:aws:sqs:{resources.region}:{LOCAL_ACCOUNT_ID}:{resources.failure_queue_name}",
        "MessageStreamFailureQueue.QueueName": resources.failure_queue_name,
        "SharedLayer": "local-shared-layer",
        "LiveWebSocketApi": WEBSOCKET_API_ID,
        "LiveWebSocketApi.ApiEndpoint": resources.websocket_api_endpoint,
    }
    if stream_arn is not None:
        context[f"{TABLE_LOGICAL_ID}.StreamArn"] = stream_arn
    for name in template.get("Conditions", {}):
        context[f"Condition:{name}"] = False
    return context


def local_function_specs(resources: LocalResources, stream_arn: str) -> dict[str, FunctionSpec]:
    """The template's functions resolved against the local resources."""
    template = load_template()
    return function_specs(template, template_context(resources, template, stream_arn))


def function_environment(resources: LocalResources, aws_endpoint_url: str | None = None,
                         function_logical_id: str | None = None) -> dict[str, str]:
    """What Lambda would put in the environment of a function (by default, the variables all share)."""
    # The environment does not depend on the stream, which may not exist yet.
    specs = local_function_specs(resources, stream_arn="no-stream-needed-for-the-environment")
    spec = specs[function_logical_id] if function_logical_id else next(iter(specs.values()))
    environment = {
        **spec.environment,
        "AWS_REGION": resources.region,
        "AWS_DEFAULT_REGION": resources.region,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_LAMBDA_FUNCTION_NAME": spec.logical_id,
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    if aws_endpoint_url:
        environment["AWS_ENDPOINT_URL"] = aws_endpoint_url
    return environment


def provision(resources: LocalResources, database_url: str, session: boto3.Session | None = None,
              endpoint_url: str | None = None) -> dict[str, str]:
    """Creates the table, parameter, secret and queue if missing; returns their identifiers."""
    session = session or boto3.Session(region_name=resources.region)
    client = lambda service: session.client(service, region_name=resources.region, endpoint_url=endpoint_url)  # noqa: E731
    template = load_template()
    dynamodb = client("dynamodb")
    if resources.table_name not in dynamodb.list_tables()["TableNames"]:
        dynamodb.create_table(**table_definition(template, template_context(resources, template)))
        ttl_attribute = time_to_live_attribute(template)
        if ttl_attribute:
            dynamodb.update_time_to_live(TableName=resources.table_name, TimeToLiveSpecification={
                "AttributeName": ttl_attribute, "Enabled": True})
    client("ssm").put_parameter(Name=resources.database_url_parameter, Value=database_url, Type="SecureString",
                                Overwrite=True)
    secretsmanager = client("secretsmanager")
    try:
        secretsmanager.describe_secret(SecretId=resources.cursor_secret_name)
    except secretsmanager.exceptions.ResourceNotFoundException:
        secretsmanager.create_secret(Name=resources.cursor_secret_name, SecretString=secrets.token_urlsafe(36))
    queue_url = client("sqs").create_queue(QueueName=resources.failure_queue_name)["QueueUrl"]
    stream_arn = dynamodb.describe_table(TableName=resources.table_name)["Table"]["LatestStreamArn"]
    return {"stream_arn": stream_arn, "failure_queue_url": queue_url}
