"""Where a command acts: the running local stack (default) or AWS (``prod`` as the last argument).

Local: everything comes from the stack file that ``make dev`` writes (``.local/stack.json``, or
``$CRUDDUR_LOCAL_DIR/stack.json``, or the file named by ``CRUDDUR_STACK_FILE``); no file means the stack is not
running.

AWS: the standard credential chain (environment, profile, SSO, instance role); the region and the stack from the
environment, then ``samconfig.toml`` (``[default.deploy.parameters]`` over ``[default.global.parameters]``, where
``sam deploy --guided`` saves them); every name from the environment, else from the deployed stack (its outputs and
the parameters it was deployed with, read with ``cloudformation:DescribeStacks`` on first use):

- region: AWS_REGION or AWS_DEFAULT_REGION; samconfig ``region``; the profile's region
- stack: STACK (as ``make smoke STACK=...``); samconfig ``stack_name``; ``cruddur-messaging``
- table: TABLE_NAME; the stack's ``MessagesTableName`` output
- group index: MESSAGE_GROUP_INDEX_NAME; the stack's MessageGroupIndexName (when the table is the stack's); the
  template's default
- user pool: COGNITO_USER_POOL_ID; the stack's CognitoUserPoolId
- database: DATABASE_URL, else the SSM parameter named by DATABASE_URL_PARAMETER; the stack's
  DatabaseUrlParameterName
"""
from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Mapping

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError

from devtools.ops.errors import OpsError
from devtools.template import REPO_ROOT, load_template, parameter_defaults

PROD = "prod"
STACK_FILE_VARIABLE = "CRUDDUR_STACK_FILE"
LOCAL_DIR_VARIABLE = "CRUDDUR_LOCAL_DIR"
DEFAULT_STACK_FILE = REPO_ROOT / ".local" / "stack.json"
SAMCONFIG_FILE = REPO_ROOT / "samconfig.toml"
SAMCONFIG_SECTIONS = (("default", "global", "parameters"), ("default", "deploy", "parameters"))
STACK_VARIABLE = "STACK"
DEFAULT_STACK_NAME = "cruddur-messaging"
TABLE_OUTPUT = "MessagesTableName"

# moto accepts any credentials; explicit ones keep a developer's real AWS credentials out of local runs.
LOCAL_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}
# Locally a dead endpoint should fail in seconds, not after the SDK's long retry schedule.
LOCAL_CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=30, retries={"mode": "standard", "max_attempts": 2})
PROD_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5})


class DeployedStack:
    """A CloudFormation stack of ``template.yaml``, described once, on first use."""

    def __init__(self, name: str, cloudformation: Any) -> None:
        self.name = name
        self._cloudformation = cloudformation

    @cached_property
    def _description(self) -> dict[str, Any]:
        try:
            return self._cloudformation.describe_stacks(StackName=self.name)["Stacks"][0]
        except ClientError as error:
            # DescribeStacks answers ValidationError "Stack with id <name> does not exist".
            if "does not exist" in error.response.get("Error", {}).get("Message", ""):
                raise OpsError(f"no stack {self.name} in {self._cloudformation.meta.region_name}; set STACK (or "
                               "stack_name in samconfig.toml) to the stack sam deploy created") from None
            raise

    def output(self, key: str) -> str:
        outputs = {output["OutputKey"]: output["OutputValue"] for output in self._description.get("Outputs", [])}
        if key not in outputs:
            raise OpsError(f"stack {self.name} has no output {key} ({self._description['StackStatus']}); "
                           "deploy it with sam deploy")
        return outputs[key]

    def parameter(self, key: str) -> str | None:
        parameters = {parameter["ParameterKey"]: parameter.get("ResolvedValue", parameter.get("ParameterValue"))
                      for parameter in self._description.get("Parameters", [])}
        return parameters.get(key) or None


@dataclass(frozen=True)
class Target:
    """The AWS endpoint, names and database of one environment."""

    name: str
    source: str
    """What the values came from (the stack file, or "the environment and samconfig.toml"), for messages."""
    session: boto3.Session
    region: str
    endpoint_url: str | None
    table_name_value: str | None = None
    group_index_override: str | None = None
    user_pool_id_value: str | None = None
    database_url_value: str | None = None
    database_url_parameter_value: str | None = None
    stack: DeployedStack | None = None
    """In AWS, the deployed stack that gives every name the environment does not."""
    client_config: Config = LOCAL_CLIENT_CONFIG

    @property
    def is_prod(self) -> bool:
        return self.name == PROD

    @cached_property
    def table_name(self) -> str:
        if self.table_name_value:
            return self.table_name_value
        if self.stack is None:
            raise OpsError(f"{self.source} names no table")
        return self.stack.output(TABLE_OUTPUT)

    @cached_property
    def group_index_name(self) -> str:
        # A table named by TABLE_NAME need not be the stack's: its index is then the template's default.
        from_stack = self.stack.parameter("MessageGroupIndexName") \
            if self.stack is not None and not self.table_name_value else None
        return self.group_index_override or from_stack or _template_default("MessageGroupIndexName")

    @cached_property
    def database_url_parameter(self) -> str | None:
        if self.database_url_parameter_value or self.stack is None:
            return self.database_url_parameter_value
        return self.stack.parameter("DatabaseUrlParameterName")

    def client(self, service: str) -> Any:
        return self.session.client(service, region_name=self.region, endpoint_url=self.endpoint_url,
                                   config=self.client_config)

    def table(self) -> Any:
        resource = self.session.resource("dynamodb", region_name=self.region, endpoint_url=self.endpoint_url,
                                         config=self.client_config)
        return resource.Table(self.table_name)

    def user_pool_id(self) -> str:
        pool = self.user_pool_id_value or (self.stack.parameter("CognitoUserPoolId") if self.stack else None)
        if not pool:
            hint = "set COGNITO_USER_POOL_ID" if self.is_prod else f"{self.source} has no user_pool_id"
            raise OpsError(f"no Cognito user pool: {hint}")
        return pool

    def database_url(self) -> str:
        """The PostgreSQL URL; in AWS read from SSM (decrypted) unless DATABASE_URL gives it directly."""
        if self.database_url_value:
            return self.database_url_value
        if not self.database_url_parameter:
            raise OpsError(f"no database: {self.source} has no database_url")
        ssm = self.client("ssm")
        try:
            parameter = ssm.get_parameter(Name=self.database_url_parameter, WithDecryption=True)
        except ssm.exceptions.ParameterNotFound as error:
            raise OpsError(f"SSM parameter {self.database_url_parameter} (the database URL) does not exist; "
                           "set DATABASE_URL or DATABASE_URL_PARAMETER") from error
        return parameter["Parameter"]["Value"]


def resolve_target(prod: bool, environ: Mapping[str, str] = os.environ) -> Target:
    return prod_target(environ) if prod else local_target(environ)


def stack_file(environ: Mapping[str, str] = os.environ) -> tuple[Path, str]:
    """The stack file and how to name it in messages: CRUDDUR_STACK_FILE, else ``stack.json`` in the directory
    ``make dev`` writes it to (CRUDDUR_LOCAL_DIR, resolved as ``make dev`` resolves it, or ``.local``)."""
    configured = environ.get(STACK_FILE_VARIABLE)
    if configured:
        return Path(configured), configured
    local_dir = environ.get(LOCAL_DIR_VARIABLE)
    if local_dir:
        path = Path(local_dir).resolve() / "stack.json"
        return path, str(path)
    return DEFAULT_STACK_FILE, str(DEFAULT_STACK_FILE.relative_to(REPO_ROOT))


def local_target(environ: Mapping[str, str] = os.environ) -> Target:
    path, shown = stack_file(environ)
    try:
        stack = json.loads(path.read_text())
    except FileNotFoundError:
        raise OpsError(f"local stack not running (no {shown}); start it with make dev") from None
    except (OSError, ValueError) as error:
        raise OpsError(f"cannot read {shown}: {error}") from None
    if not isinstance(stack, dict):
        raise OpsError(f"cannot read {shown}: not a JSON object")
    missing = [key for key in ("aws_endpoint_url", "region", "table_name") if not stack.get(key)]
    if missing:
        raise OpsError(f"{shown} has no {', '.join(missing)}; restart make dev")
    region = stack["region"]
    return Target(
        name="local",
        source=shown,
        session=_local_session(region),
        region=region,
        endpoint_url=stack["aws_endpoint_url"],
        table_name_value=stack["table_name"],
        user_pool_id_value=stack.get("user_pool_id"),
        database_url_value=stack.get("database_url"),
    )


def _local_session(region: str) -> boto3.Session:
    """A session blind to the developer's AWS_PROFILE: a profile of a real account (or a missing one) must not
    change, or break, what a local command does."""
    core = botocore.session.Session(session_vars={"profile": (None, None, None, None)})
    return boto3.Session(botocore_session=core, region_name=region, **LOCAL_CREDENTIALS)


def prod_target(environ: Mapping[str, str] = os.environ, samconfig: Path = SAMCONFIG_FILE) -> Target:
    config = read_samconfig(samconfig)
    session = boto3.Session()
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or config.get("region") \
        or session.region_name
    if not region:
        raise OpsError("no AWS region for prod: set AWS_REGION or region in samconfig.toml")
    stack_name = environ.get(STACK_VARIABLE) or config.get("stack_name") or DEFAULT_STACK_NAME
    return Target(
        name=PROD,
        source=f"the environment and stack {stack_name}",
        session=session,
        region=region,
        # None: boto3 picks the regional endpoint, or AWS_ENDPOINT_URL when the environment sets one.
        endpoint_url=None,
        table_name_value=environ.get("TABLE_NAME"),
        group_index_override=environ.get("MESSAGE_GROUP_INDEX_NAME"),
        user_pool_id_value=environ.get("COGNITO_USER_POOL_ID"),
        database_url_value=environ.get("DATABASE_URL"),
        database_url_parameter_value=environ.get("DATABASE_URL_PARAMETER"),
        stack=DeployedStack(stack_name, session.client("cloudformation", region_name=region,
                                                       config=PROD_CLIENT_CONFIG)),
        client_config=PROD_CLIENT_CONFIG,
    )


def read_samconfig(path: Path) -> dict[str, Any]:
    """``[default.deploy.parameters]`` of samconfig.toml over ``[default.global.parameters]`` (as ``sam deploy``
    reads them); empty when there is no file. The operator scripts take ``stack_name`` and ``region`` from it; every
    other name comes from the deployed stack."""
    try:
        document = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise OpsError(f"cannot read {path.name}: {error}") from None
    config: dict[str, Any] = {}
    for keys in SAMCONFIG_SECTIONS:
        section: Any = document
        for key in keys:
            section = section.get(key, {}) if isinstance(section, dict) else {}
        config.update(section)
    return config


def _template_default(parameter: str) -> str:
    return str(parameter_defaults(load_template())[parameter])
