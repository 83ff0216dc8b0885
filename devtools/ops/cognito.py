"""Cognito users (``bin/cognito/list-users``) and their link to the Cruddur users of PostgreSQL
(``bin/db/update_cognito_user_ids``): the handle is the Cognito user's ``preferred_username``, the link its
``sub``. Every page of ListUsers is read; users without ``preferred_username`` are reported and skipped."""
from __future__ import annotations

import argparse
import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from devtools.ops.cli import Command
from devtools.ops.database import CognitoLinks, set_cognito_user_ids
from devtools.ops.output import columns
from devtools.ops.target import Target

# The largest page ListUsers serves.
LIST_USERS_PAGE_SIZE = 60

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CognitoUser:
    username: str
    sub: str
    handle: str | None
    """``preferred_username``; None when the user has none."""
    status: str


def list_cognito_users(cognito: Any, user_pool_id: str) -> Iterator[CognitoUser]:
    pages = cognito.get_paginator("list_users").paginate(
        UserPoolId=user_pool_id, PaginationConfig={"PageSize": LIST_USERS_PAGE_SIZE})
    for page in pages:
        for user in page["Users"]:
            attributes = {attribute["Name"]: attribute["Value"] for attribute in user.get("Attributes", [])}
            yield CognitoUser(username=user["Username"], sub=attributes.get("sub", ""),
                              handle=attributes.get("preferred_username") or None,
                              status=user.get("UserStatus", ""))


def users_with_handles(users: Iterable[CognitoUser]) -> list[CognitoUser]:
    """The users that have a handle; the others are reported on stderr."""
    kept = []
    for user in users:
        if user.handle:
            kept.append(user)
        else:
            logger.warning("skipping Cognito user %s (sub %s): no preferred_username", user.username, user.sub)
    return kept


def subs_by_handle(users: Iterable[CognitoUser]) -> dict[str, str]:
    """handle -> sub. Handles compare case-insensitively (as in PostgreSQL); one that several Cognito users
    claim cannot be linked and is reported."""
    claims: dict[str, list[CognitoUser]] = defaultdict(list)
    for user in users_with_handles(users):
        assert user.handle is not None
        claims[user.handle.lower()].append(user)
    subs: dict[str, str] = {}
    for handle, claimants in claims.items():
        if len(claimants) > 1:
            logger.warning("skipping handle %s: claimed by the Cognito users %s", handle,
                           ", ".join(sorted(user.username for user in claimants)))
            continue
        subs[handle] = claimants[0].sub
    return subs


def sync_cognito_user_ids(cognito: Any, user_pool_id: str, database_url: str) -> CognitoLinks:
    """Links every PostgreSQL user to the Cognito user of the same handle; reports handles with no user."""
    links = set_cognito_user_ids(database_url, subs_by_handle(list_cognito_users(cognito, user_pool_id)))
    for handle in links.unknown_handles:
        logger.warning("no user with handle %s in the database; its Cognito user stays unlinked", handle)
    return links


def list_users(args: argparse.Namespace, target: Target) -> None:
    users = users_with_handles(list_cognito_users(target.client("cognito-idp"), target.user_pool_id()))
    for line in columns((user.handle or "", user.sub, user.username, user.status) for user in users):
        print(line)


LIST_USERS = Command("cognito/list-users",
                     "Lists the user pool's users: handle (preferred_username), sub, username, status.", list_users)
