"""The files in ``events/``, loaded for tests (the same ones ``make invoke`` and ``sam local invoke`` use)."""
from __future__ import annotations

import copy
import json
from functools import lru_cache
from typing import Any

from devtools.ops.ddb_seed import load_conversation
from devtools.template import REPO_ROOT

EVENTS_DIR = REPO_ROOT / "events"
SEED_GROUP_UUID = load_conversation().message_group_uuid
"""The seeded conversation's group (``devtools/ops/babylon5_conversation.json``); the files in ``events/`` name it."""
SEED_COGNITO_IDS = {
    "andrewbrown": "5f0e1c2d-8a7b-4c3d-9e8f-0a1b2c3d4e01",
    "bayko": "5f0e1c2d-8a7b-4c3d-9e8f-0a1b2c3d4e02",
    "londo": "5f0e1c2d-8a7b-4c3d-9e8f-0a1b2c3d4e03",
}
SEED_USER_UUIDS = {
    "andrewbrown": "8d1b9c3e-2f4a-4b6c-9d7e-0a1b2c3d4e01",
    "bayko": "8d1b9c3e-2f4a-4b6c-9d7e-0a1b2c3d4e02",
    "londo": "8d1b9c3e-2f4a-4b6c-9d7e-0a1b2c3d4e03",
}


@lru_cache(maxsize=None)
def _load(name: str) -> dict[str, Any]:
    return json.loads((EVENTS_DIR / f"{name}.json").read_text())


def load_event(name: str) -> dict[str, Any]:
    return copy.deepcopy(_load(name))


def as_user(event: dict[str, Any], handle: str) -> dict[str, Any]:
    event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = SEED_COGNITO_IDS[handle]
    event["requestContext"]["authorizer"]["jwt"]["claims"]["username"] = handle
    return event


def with_body(event: dict[str, Any], body: Any) -> dict[str, Any]:
    event["body"] = body if isinstance(body, str) else json.dumps(body)
    return event


def with_query(event: dict[str, Any], **query: str) -> dict[str, Any]:
    event["queryStringParameters"] = dict(query)
    event["rawQueryString"] = "&".join(f"{key}={value}" for key, value in query.items())
    return event


def with_group(event: dict[str, Any], message_group_uuid: str) -> dict[str, Any]:
    event["pathParameters"] = {"message_group_uuid": message_group_uuid}
    event["rawPath"] = f"/api/messages/{message_group_uuid}"
    event["requestContext"]["http"]["path"] = event["rawPath"]
    return event
