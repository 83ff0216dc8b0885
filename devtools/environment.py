"""The functions' environment and AWS resources outside AWS, both derived from ``template.yaml``.

``function_environment`` gives the variables Lambda would set (Globals and the function's own, resolved),
plus the standard AWS variables that point boto3 at a local endpoint. ``provision`` creates what the
functions expect to exist: the table (from the template's definition), the database-url parameter, the
cursor signing secret and the stream failure queue. The secret's value is random; the local stack keeps it in a
file of its state directory (``cursor_key_file``), so that cursors signed before a restart are accepted after it,
as in AWS, where the secret outlives every deployment.
"""
from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import boto3

from devtools.template import (
    CONDITION_PREFIX,
    TABLE_LOGICAL_ID,
    FunctionSpec,
    TemplateResolutionError,
    function_specs,
    load_template,
    parameter_defaults,
    resolve,
    table_definition,
    time_to_live_attribute,
)

REGION = "us-east-1"
# The table's local name. In AWS, CloudFormation generates one by default (the template's TableName is empty); the
# local stand-in is the tutorial's name, so the tutorial's scripts and the seed find the table unchanged.
LOCAL_TABLE_NAME = "cruddur-messages"
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

    @property
    def physical_names(self) -> dict[str, str]:
        """What ``provision`` creates under names of its own, by logical id (the template leaves them to AWS)."""
        return {TABLE_LOGICAL_ID: self.table_name, "CursorSigningSecret": self.cursor_secret_name,
                "MessageStreamFailureQueue": self.failure_queue_name}


def template_context(resources: LocalResources, template: Mapping[str, Any] | None = None,
                     stream_arn: str | None = None) -> "TemplateContext":
    """Values standing in for the template's parameters, resources and pseudo parameters.

    Parameters and pseudo parameters are given here; a resource's Ref and attributes are derived from its type on
    first use (:data:`STAND_INS`), so a new resource of a known type needs nothing here, and a Ref to a resource of
    another type fails loudly. A condition (``"Condition:<name>"``) is evaluated from the template's ``Conditions``
    against the parameters on first use, as CloudFormation evaluates it (``resources.parameters`` over the
    defaults). ``stream_arn`` is the table's stream, known only once the table exists; the stream
    function's event needs it.
    """
    template = template or load_template()
    context = TemplateContext(template, resources, {
        **COGNITO_STAND_INS,
        **parameter_defaults(template),
        **resources.parameters,
        "AWS::Region": resources.region,
        "AWS::AccountId": LOCAL_ACCOUNT_ID,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
        "DatabaseUrlParameterName": resources.database_url_parameter,
    })
    if stream_arn is not None:
        context[f"{TABLE_LOGICAL_ID}.StreamArn"] = stream_arn
    return context


# A resource's local stand-in: its attributes by name, its Ref under "" (see :class:`TemplateContext`).
StandIn = Callable[["TemplateContext", str, Mapping[str, Any]], dict[str, Any]]


class TemplateContext(dict):
    """``template_context``'s values; a resource's stand-in is derived from its type when first looked up."""

    def __init__(self, template: Mapping[str, Any], resources: LocalResources, values: Mapping[str, Any]) -> None:
        super().__init__(values)
        self.template = template
        self.resources = resources

    def __missing__(self, key: str) -> Any:
        if key.startswith(CONDITION_PREFIX):
            return self._condition(key.removeprefix(CONDITION_PREFIX))
        logical_id, _, attribute = key.partition(".")
        resource = self.template.get("Resources", {}).get(logical_id)
        if resource is None:
            raise TemplateResolutionError(f"no local value for {key} (neither a parameter with a value, a pseudo "
                                          "parameter, a condition nor a resource of the template)")
        resource_type = resource.get("Type")
        stand_in = STAND_INS.get(resource_type)
        if stand_in is None:
            raise TemplateResolutionError(f"{key}: resources of type {resource_type} have no local stand-in "
                                          "(add one to devtools.environment.STAND_INS)")
        for name, value in stand_in(self, logical_id, resource.get("Properties", {})).items():
            self.setdefault(f"{logical_id}.{name}" if name else logical_id, value)
        if key not in self:
            raise TemplateResolutionError(f"{key}: a local {resource_type} has no attribute {attribute}")
        return self[key]

    def _condition(self, name: str) -> bool:
        conditions = self.template.get("Conditions", {})
        if name not in conditions:
            raise TemplateResolutionError(f"no condition {name} in the template")
        value = bool(resolve(conditions[name], self, f"Conditions.{name}"))
        self[f"{CONDITION_PREFIX}{name}"] = value
        return value

    def arn(self, service: str, resource: str, region: bool = True) -> str:
        return (f"arn:{self['AWS::Partition']}:{service}:{self['AWS::Region'] if region else ''}:"
                f"{self['AWS::AccountId']}:{resource}")

    def physical_name(self, logical_id: str, properties: Mapping[str, Any], name_property: str) -> str:
        """The name ``provision`` gives the resource, else the one the template declares, else ``local-<id>``."""
        if logical_id in self.resources.physical_names:
            return self.resources.physical_names[logical_id]
        if name_property in properties:
            return str(resolve(properties[name_property], self, f"Resources.{logical_id}.Properties.{name_property}"))
        return local_id(logical_id)


def local_id(logical_id: str) -> str:
    """``SharedLayer`` -> ``local-shared-layer``: the stand-in for an identifier that exists only in AWS."""
    return "local-" + re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", logical_id).lower()


def _table(context: TemplateContext, logical_id: str, properties: Mapping[str, Any]) -> dict[str, Any]:
    # StreamArn exists once the table does: template_context(stream_arn=...) gives it.
    name = context.physical_name(logical_id, properties, "TableName")
    return {"": name, "Arn": context.arn("dynamodb", f"table/{name}")}


def _queue(context: TemplateContext, logical_id: str, properties: Mapping[str, Any]) -> dict[str, Any]:
    # Ref is the queue's URL in AWS; its name serves locally wherever a QueueUrl is looked up by name.
    name = context.physical_name(logical_id, properties, "QueueName")
    return {"": name, "QueueName": name, "Arn": context.arn("sqs", name)}


def _secret(context: TemplateContext, logical_id: str, properties: Mapping[str, Any]) -> dict[str, Any]:
    # Ref is the secret's ARN in AWS; Secrets Manager takes its name wherever it takes the ARN (SecretId).
    return {"": context.physical_name(logical_id, properties, "Name")}


def _layer(context: TemplateContext, logical_id: str, properties: Mapping[str, Any]) -> dict[str, Any]:
    # Locally a layer is its source on the functions' path: its version ARN has no counterpart.
    return {"": local_id(logical_id)}


def _log_group(context: TemplateContext, logical_id: str, properties: Mapping[str, Any]) -> dict[str, Any]:
    name = context.physical_name(logical_id, properties, "LogGroupName")
    return {"": name, "Arn": context.arn("logs", f"log-group:{name}:*")}


def _role(context: TemplateContext, logical_id: str, properties: Mapping[str, Any]) -> dict[str, Any]:
    name = context.physical_name(logical_id, properties, "RoleName")
    return {"": name, "Arn": context.arn("iam", f"role/{name}", region=False)}


def _function(context: TemplateContext, logical_id: str, properties: Mapping[str, Any]) -> dict[str, Any]:
    # Local functions are named by their logical id (AWS_LAMBDA_FUNCTION_NAME, the WebSocket API's integrations).
    return {"": logical_id, "Arn": context.arn("lambda", f"function:{logical_id}")}


def _api(context: TemplateContext, logical_id: str, properties: Mapping[str, Any]) -> dict[str, Any]:
    if properties.get("ProtocolType") != "WEBSOCKET":
        raise TemplateResolutionError(f"{logical_id}: only a WebSocket AWS::ApiGatewayV2::Api runs locally")
    return {"": WEBSOCKET_API_ID, "ApiEndpoint": context.resources.websocket_api_endpoint}


STAND_INS: dict[str, StandIn] = {
    "AWS::DynamoDB::Table": _table,
    "AWS::SQS::Queue": _queue,
    "AWS::SecretsManager::Secret": _secret,
    "AWS::Serverless::LayerVersion": _layer,
    "AWS::Logs::LogGroup": _log_group,
    "AWS::IAM::Role": _role,
    "AWS::Serverless::Function": _function,
    "AWS::ApiGatewayV2::Api": _api,
}


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


def kept_secret(path: Path) -> str:
    """The random value kept in ``path`` (readable by its owner only), made the first time."""
    if path.is_file():
        value = path.read_text().strip()
        if value:
            return value
    value = secrets.token_urlsafe(36)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(value)
    os.replace(partial, path)  # whole or not at all, even if the process dies here
    return value


def provision(resources: LocalResources, database_url: str, session: boto3.Session | None = None,
              endpoint_url: str | None = None, cursor_key_file: Path | None = None) -> dict[str, str]:
    """Creates the table, parameter, secret and queue if missing; returns their identifiers. The cursor secret's
    value is the one kept in ``cursor_key_file`` (:func:`kept_secret`), else a new random one."""
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
        secretsmanager.create_secret(Name=resources.cursor_secret_name, SecretString=kept_secret(cursor_key_file)
                                     if cursor_key_file is not None else secrets.token_urlsafe(36))
    queue_url = client("sqs").create_queue(QueueName=resources.failure_queue_name)["QueueUrl"]
    stream_arn = dynamodb.describe_table(TableName=resources.table_name)["Table"]["LatestStreamArn"]
    return {"stream_arn": stream_arn, "failure_queue_url": queue_url}
