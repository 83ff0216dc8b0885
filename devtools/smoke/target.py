"""What ``make smoke`` talks to: URLs, the Cognito app client, and three users (sender, recipient, stranger).

Local (the default): the running stack's ``stack.json`` (``$CRUDDUR_LOCAL_DIR/stack.json``, else
``.local/stack.json``) gives everything, its seed users included.

Deployed (``--stack NAME``): CloudFormation ``DescribeStacks`` gives the stack's outputs (``ApiUrl``,
``WebSocketUrl``) and the parameters it was deployed with (``CognitoUserPoolId``, ``CognitoUserPoolClientId``);
a stack that does not exist is a ``ValidationError`` (AWS CloudFormation API Reference, DescribeStacks). The users
come from ``SMOKE_USER_{A,B,C}`` / ``SMOKE_PASSWORD_{A,B,C}`` (``SMOKE_HANDLE_{A,B,C}`` optional): they must be
Cruddur users already, i.e. Cognito users with a row in PostgreSQL's ``users`` table carrying their ``sub``.

``SMOKE_CREATE_USERS=1`` instead makes three users for the run and removes them after it (``devtools.smoke.users``):
that takes Cognito admin rights on the pool and the database (``DATABASE_URL``, else the SSM parameter the stack
was deployed with), which a check from the outputs alone does not have (docs/deploying.md, "Proving a deployed stack").
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from devtools.local_stack.settings import stack_file_path
from devtools.local_stack.stack_file import read_stack_file
from devtools.template import load_template

API_URL_OUTPUT = "ApiUrl"
WEBSOCKET_URL_OUTPUT = "WebSocketUrl"
USER_POOL_PARAMETER = "CognitoUserPoolId"
USER_POOL_CLIENT_PARAMETER = "CognitoUserPoolClientId"
DATABASE_URL_PARAMETER = "DatabaseUrlParameterName"
CREATE_USERS_VARIABLE = "SMOKE_CREATE_USERS"

ROLES = ("sender", "recipient", "stranger")
"""A starts a conversation with B; C, a member of neither side, must not see it."""
ROLE_SUFFIXES = {"sender": "A", "recipient": "B", "stranger": "C"}
LOCAL_HANDLES = {"sender": "bayko", "recipient": "londo", "stranger": "andrewbrown"}
"""The local roles: not the seeded andrewbrown-bayko dialogue, so smoke's messages stay out of the tutorial's."""

# States in which the stack's resources are all in place (a rolled-back update restored the previous ones).
USABLE_STACK_STATUSES = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
                                   "UPDATE_ROLLBACK_COMPLETE",
                                   "IMPORT_COMPLETE", "IMPORT_ROLLBACK_COMPLETE"})


class TargetError(Exception):
    """The target cannot be found or is incomplete: nothing was checked."""


@dataclass(frozen=True)
class SmokeUser:
    role: str
    username: str
    """What Cognito's ``InitiateAuth`` takes as ``USERNAME`` (the email in Cruddur's pool)."""
    password: str
    handle: str | None
    """None: read from the ID token's ``preferred_username`` after sign-in (Cruddur's handle attribute)."""


@dataclass(frozen=True)
class UserStore:
    """Where Cruddur users live, for ``SMOKE_CREATE_USERS``: the pool (a client with AWS credentials) and the
    users table."""

    cognito: Any
    user_pool_id: str
    database_url: str


@dataclass(frozen=True)
class SmokeTarget:
    description: str
    api_url: str
    websocket_url: str
    region: str
    cognito_endpoint_url: str | None
    """None in AWS (the regional endpoint); the local stack's AWS endpoint locally."""
    user_pool_client_id: str
    users: dict[str, SmokeUser]
    """By role (``ROLES``); empty when the run makes its own (``user_store``)."""
    user_store: UserStore | None = None


def creates_users(environ: Mapping[str, str]) -> bool:
    return environ.get(CREATE_USERS_VARIABLE, "") == "1"


def local_target(environ: Mapping[str, str] = os.environ) -> SmokeTarget:
    path = stack_file_path(environ)
    try:
        info = read_stack_file(path)
    except SystemExit as missing:
        raise TargetError(str(missing)) from None
    if not info.websocket_url:
        raise TargetError(f"{path} has no websocket_url: restart make dev")
    users, store = {}, None
    if creates_users(environ):
        # moto takes any credentials; explicit ones keep a developer's real ones out of a local run.
        cognito = boto3.client("cognito-idp", region_name=info.region, endpoint_url=info.aws_endpoint_url,
                               aws_access_key_id="local", aws_secret_access_key="local")
        store = UserStore(cognito, info.user_pool_id, info.database_url)
    else:
        for role, handle in LOCAL_HANDLES.items():
            try:
                user = info.user(handle)
            except LookupError as error:
                raise TargetError(str(error)) from None
            users[role] = SmokeUser(role, user.username, user.password, user.handle)
    return SmokeTarget(description=f"the local stack ({path})", api_url=info.api_url.rstrip("/"),
                       websocket_url=info.websocket_url, region=info.region,
                       cognito_endpoint_url=info.aws_endpoint_url, user_pool_client_id=info.user_pool_client_id,
                       users=users, user_store=store)


def deployed_target(stack_name: str, region: str | None = None, environ: Mapping[str, str] = os.environ,
                    session: boto3.Session | None = None) -> SmokeTarget:
    """The stack's outputs and Cognito parameters, and the users named by the environment (or where to make
    them)."""
    users = {} if creates_users(environ) else users_from_environment(environ)
    session = session or boto3.Session()
    region = region or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or session.region_name
    if not region:
        raise TargetError("no AWS region: pass REGION=... (or set AWS_REGION)")
    stack = describe_stack(session.client("cloudformation", region_name=region), stack_name, region)
    outputs = {item["OutputKey"]: item["OutputValue"] for item in stack.get("Outputs", [])}
    parameters = {item["ParameterKey"]: item.get("ParameterValue", "") for item in stack.get("Parameters", [])}
    missing = [f"output {name}" for name in (API_URL_OUTPUT, WEBSOCKET_URL_OUTPUT) if not outputs.get(name)]
    missing += [f"parameter {name}" for name in (USER_POOL_PARAMETER, USER_POOL_CLIENT_PARAMETER)
                if not parameters.get(name)]
    if missing:
        raise TargetError(f"stack {stack_name} has no {', '.join(missing)}: is it a Cruddur Messaging stack?")
    store = None
    if creates_users(environ):
        store = UserStore(session.client("cognito-idp", region_name=region), parameters[USER_POOL_PARAMETER],
                          environ.get("DATABASE_URL") or database_url(session, region, parameters))
    return SmokeTarget(description=f"stack {stack_name} in {region}", api_url=outputs[API_URL_OUTPUT].rstrip("/"),
                       websocket_url=outputs[WEBSOCKET_URL_OUTPUT], region=region, cognito_endpoint_url=None,
                       user_pool_client_id=parameters[USER_POOL_CLIENT_PARAMETER], users=users, user_store=store)


def database_url(session: boto3.Session, region: str, parameters: Mapping[str, str]) -> str:
    """The SecureString the stack's functions read (the parameter it was deployed with), decrypted."""
    name = parameters.get(DATABASE_URL_PARAMETER) or str(load_template()["Parameters"][DATABASE_URL_PARAMETER]
                                                         ["Default"])
    try:
        return session.client("ssm", region_name=region).get_parameter(
            Name=name, WithDecryption=True)["Parameter"]["Value"]
    except (ClientError, BotoCoreError) as error:
        raise TargetError(f"{CREATE_USERS_VARIABLE}=1 needs the database URL: set DATABASE_URL, or allow "
                          f"ssm:GetParameter on {name} ({error})") from None


def describe_stack(cloudformation: Any, stack_name: str, region: str) -> dict[str, Any]:
    try:
        [stack] = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        # DescribeStacks answers ValidationError for a stack that does not exist (or was deleted).
        if error.response["Error"]["Code"] == "ValidationError":
            raise TargetError(f"no CloudFormation stack {stack_name} in {region}") from None
        raise TargetError(f"cannot describe stack {stack_name}: {error}") from None
    except BotoCoreError as error:
        raise TargetError(f"cannot describe stack {stack_name}: {error}") from None
    if stack["StackStatus"] not in USABLE_STACK_STATUSES:
        raise TargetError(f"stack {stack_name} is {stack['StackStatus']}: wait for it, or fix it, first")
    return stack


def users_from_environment(environ: Mapping[str, str]) -> dict[str, SmokeUser]:
    users, missing = {}, []
    for role in ROLES:
        suffix = ROLE_SUFFIXES[role]
        username, password = environ.get(f"SMOKE_USER_{suffix}"), environ.get(f"SMOKE_PASSWORD_{suffix}")
        missing += [name for name, value in ((f"SMOKE_USER_{suffix}", username),
                                             (f"SMOKE_PASSWORD_{suffix}", password)) if not value]
        if username and password:
            users[role] = SmokeUser(role, username, password, environ.get(f"SMOKE_HANDLE_{suffix}") or None)
    if missing:
        raise TargetError(f"set {', '.join(missing)}: three Cruddur users (A writes to B, C is a stranger)")
    return users
