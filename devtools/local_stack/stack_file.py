"""``.local/stack.json``: what a running local stack tells its clients (docs/local-stack.md)."""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class StackUser:
    handle: str
    display_name: str
    username: str
    password: str
    uuid: str
    cognito_user_id: str


@dataclass(frozen=True)
class StackInfo:
    api_url: str
    websocket_url: str
    aws_endpoint_url: str
    region: str
    table_name: str
    user_pool_id: str
    user_pool_client_id: str
    database_url: str
    seed_message_group_uuid: str
    users: list[StackUser]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "StackInfo":
        # A file left by a stack from before the WebSocket API (killed, so never removed) still reads.
        return cls(**{"websocket_url": "", **data, "users": [StackUser(**user) for user in data["users"]]})

    def user(self, handle: str) -> StackUser:
        for user in self.users:
            if user.handle.lower() == handle.lower():
                return user
        known = ", ".join(user.handle for user in self.users)
        raise LookupError(f"no local user {handle!r} (the local users are {known})")


def write_stack_file(path: Path, info: StackInfo) -> None:
    """Written whole or not at all: a client never reads half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.tmp")
    partial.write_text(json.dumps(info.to_json(), indent=2) + "\n")
    os.replace(partial, path)


def read_stack_file(path: Path) -> StackInfo:
    """Raises SystemExit with a hint when no stack is running (``make dev`` removes the file when it stops)."""
    if not path.exists():
        raise SystemExit(f"{path} not found: start the local stack first (make dev)")
    return StackInfo.from_json(json.loads(path.read_text()))
