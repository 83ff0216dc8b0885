"""What ``make smoke`` talks to: URLs, the Cognito app client, and three users (sender, recipient, stranger).

Local (the default): the running stack's ``stack.json`` (``$CRUDDUR_LOCAL_DIR/stack.json``, else
``.local/stack.json``) gives everything, its seed users included.

Deployed (``--stack NAME``): CloudFormation ``DescribeStacks`` gives the stack's outputs (``ApiUrl``,
``WebSocketUrl``) and the parameters it was deployed with (``CognitoUserPoolId``, ``CognitoUserPoolClientId``);
a stack that does not exist is a ``ValidationError`` (AWS CloudFormation API Reference, DescribeStacks). The users
come from ``SMOKE_USER_{A,B,C}`` / ``SMOKE_PASSWORD_{A,B,C}`` (``SMOKE_HANDLE_{A,B,C}`` optional): they must be
Cruddur users already, i.e. Cognito users with a row in PostgreSQL's ``users`` table carrying their ``sub``,
which smoke cannot create from outside the VPC (README, "make smoke").
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from devtools.local_stack.settings import stack_file_path
from devtools.local_stack.stack_file import read_stack_file

API_URL_OUTPUT = "ApiUrl"
WEBSOCKET_URL_OUTPUT = "WebSocketUrl"
USER_POOL_PARAMETER = "CognitoUserPoolId"
USER_POOL_CLIENT_PARAMETER = "CognitoUserPoolClientId"

ROLES = ("sender", "recipient", "stranger")
"""A starts a conversation with B; C, a member of neither side, must not see it."""
ROLE_SUFFIXES = {"sender": "A", "recipient": "B", "stranger": "C"}
LOCAL_HANDLES = {"sender": "bayko", "recipient": "londo", "stranger": "andrewbrown"}
"""The local roles: not the seeded andrewbrown-bayko dialogue, so smoke's messages stay out of the tutorial's."""

# States in which the stack's resources are all in place (a rolled-back update restored the previous ones).
USABLE_STACK_STATUSES = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE",
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
class SmokeTarget:
    description: str
    api_url: str
    websocket_url: str
    region: str
    cognito_endpoint_url: str | None
    """None in AWS (the regional endpoint); the local stack's AWS endpoint locally."""
    user_pool_client_id: str
    users: dict[str, SmokeUser]
    """By role (``ROLES``)."""


def local_target(environ: Mapping[str, str] = os.environ) -> SmokeTarget:
    path = stack_file_path(environ)
    try:
        info = read_stack_file(path)
    except SystemExit as missing:
        raise TargetError(str(missing)) from None
    if not info.websocket_url:
        raise TargetError(f"{path} has no websocket_url: restart make dev")
    users = {}
    for role, handle in LOCAL_HANDLES.items():
        try:
            user = info.user(handle)
        except LookupError as error:
            raise TargetError(str(error)) from None
        users[role] = SmokeUser(role, user.username, user.password, user.handle)
    return SmokeTarget(description=f"the local stack ({path})", api_url=info.api_url.rstrip("/"),
                       websocket_url=info.websocket_url, region=info.region,
                       cognito_endpoint_url=info.aws_endpoint_url, user_pool_client_id=info.user_pool_client_id,
                       users=users)


def deployed_target(stack_name: str, region: str | None = None, environ: Mapping[str, str] = os.environ,
                    session: boto3.Session | None = None) -> SmokeTarget:
    """The stack's outputs and Cognito parameters, and the users named by the environment."""
    users = users_from_environment(environ)
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
    return SmokeTarget(description=f"stack {stack_name} in {region}", api_url=outputs[API_URL_OUTPUT].rstrip("/"),
                       websocket_url=outputs[WEBSOCKET_URL_OUTPUT], region=region, cognito_endpoint_url=None,
                       user_pool_client_id=parameters[USER_POOL_CLIENT_PARAMETER], users=users)


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
