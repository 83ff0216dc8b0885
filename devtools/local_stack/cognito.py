"""The local Cognito user pool: Cruddur's sign-in (email and password) with one user per PostgreSQL user.

The pool signs users in by email, as Cruddur's pool does; a user's Cognito ``username`` is then their email
for ``InitiateAuth`` while the tokens carry the ``sub``. The frontend's app client has no secret and allows
``USER_PASSWORD_AUTH``, so a token can be had with one call.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Iterable

from botocore.exceptions import ClientError

log = logging.getLogger(__name__)

POOL_NAME = "cruddur-local"
CLIENT_NAME = "cruddur-frontend"
# Every local user's password: satisfies Cognito's default policy (length, cases, digit, symbol).
LOCAL_PASSWORD = "Cruddur-local-1"


@dataclass(frozen=True)
class PoolUser:
    handle: str
    display_name: str
    email: str


@dataclass(frozen=True)
class SignInUser:
    handle: str
    username: str
    password: str
    sub: str


@dataclass(frozen=True)
class UserPool:
    pool_id: str
    client_id: str
    users: list[SignInUser]


def _attribute(user: dict[str, Any], name: str) -> str | None:
    return next((item["Value"] for item in user.get("Attributes", user.get("UserAttributes", []))
                 if item["Name"] == name), None)


def create_user_pool(cognito: Any, users: Iterable[PoolUser]) -> UserPool:
    """The pool, its app client and its users, created where missing: after a restart the endpoint still has
    them (``moto_state``), with the same ids and ``sub``s, and creating them again would replace them."""
    pool_id = _find_pool(cognito) or cognito.create_user_pool(
        PoolName=POOL_NAME,
        UsernameAttributes=["email"],
        AutoVerifiedAttributes=["email"],
    )["UserPool"]["Id"]
    client_id = _find_client(cognito, pool_id) or cognito.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName=CLIENT_NAME,
        GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    return UserPool(pool_id, client_id, [add_user(cognito, pool_id, user) for user in users])


def _find_pool(cognito: Any) -> str | None:
    for page in cognito.get_paginator("list_user_pools").paginate(MaxResults=60):
        for pool in page["UserPools"]:
            if pool["Name"] == POOL_NAME:
                return pool["Id"]
    return None


def _find_client(cognito: Any, pool_id: str) -> str | None:
    for page in cognito.get_paginator("list_user_pool_clients").paginate(UserPoolId=pool_id):
        for client in page["UserPoolClients"]:
            if client["ClientName"] == CLIENT_NAME:
                return client["ClientId"]
    return None


def add_user(cognito: Any, pool_id: str, user: PoolUser, password: str = LOCAL_PASSWORD) -> SignInUser:
    """A confirmed user with a permanent password (no first-sign-in password change)."""
    try:
        created = cognito.admin_create_user(
            UserPoolId=pool_id,
            Username=user.email,
            UserAttributes=[
                {"Name": "email", "Value": user.email},
                {"Name": "email_verified", "Value": "true"},
                {"Name": "preferred_username", "Value": user.handle},
                {"Name": "name", "Value": user.display_name},
            ],
            MessageAction="SUPPRESS",
        )["User"]
    except ClientError as error:
        if error.response["Error"]["Code"] != "UsernameExistsException":
            raise
        created = cognito.admin_get_user(UserPoolId=pool_id, Username=user.email)
    cognito.admin_set_user_password(UserPoolId=pool_id, Username=user.email, Password=password, Permanent=True)
    sub = _attribute(created, "sub")
    assert sub, f"Cognito returned no sub for {user.email}"
    log.info("Cognito user %s (%s) has sub %s", user.handle, user.email, sub)
    return SignInUser(handle=user.handle, username=user.email, password=password, sub=sub)


class SignInChallenge(Exception):
    """Cognito answered a challenge (``NEW_PASSWORD_REQUIRED`` for a temporary password, MFA...), not tokens."""


def sign_in(cognito: Any, client_id: str, username: str, password: str) -> dict[str, str]:
    """Signs in as the frontend does (InitiateAuth, USER_PASSWORD_AUTH): the ``AuthenticationResult`` (access, ID
    and refresh tokens)."""
    result = cognito.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                                   AuthParameters={"USERNAME": username, "PASSWORD": password})
    if "AuthenticationResult" not in result:
        raise SignInChallenge(f"Cognito answered the challenge {result.get('ChallengeName')}")
    return result["AuthenticationResult"]


def access_token(cognito: Any, client_id: str, username: str, password: str) -> str:
    return sign_in(cognito, client_id, username, password)["AccessToken"]
