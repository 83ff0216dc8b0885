"""Key formats of the single table (docs/data-model.md), in one place.

| item                      | pk                                            | sk                |
|---------------------------|-----------------------------------------------|-------------------|
| group row, one per member | ``GRP#<owner uuid>``                          | last message time |
| message                   | ``MSG#<group uuid>``                          | ``created_at``    |
| membership of a group     | ``GROUP#<group uuid>``                        | ``MEMBERS``       |
| the group of a user pair  | ``PAIR#<uuid>#<uuid>``                        | ``PAIR``          |
| a block (pair's side)     | ``PAIR#<uuid>#<uuid>``                        | ``BLOCKED_BY#<blocker uuid>`` |
| a block (blocker's list)  | ``BLOCK#<blocker uuid>``                      | blocked user uuid |
| idempotency record        | ``IDEMPOTENCY#create-message#<request hash>`` | Powertools' key   |
| open WebSocket connection | ``CONN#<user uuid>``                          | connection id     |
| a sender's send limit     | ``LIMIT#<user uuid>``                         | the action        |

Only group rows carry ``message_group_uuid``, so ``message-group-sk-index`` holds exactly the group rows.
"""
from __future__ import annotations

GROUP_ROW_PREFIX = "GRP#"
MESSAGE_PREFIX = "MSG#"
MEMBERSHIP_PREFIX = "GROUP#"
MEMBERSHIP_SK = "MEMBERS"
PAIR_PREFIX = "PAIR#"
PAIR_SK = "PAIR"
IDEMPOTENCY_PREFIX = "IDEMPOTENCY#create-message#"
"""One partition per request hash: keyed sends spread over the table instead of sharing one hot partition."""
CONNECTION_PREFIX = "CONN#"
BLOCK_PREFIX = "BLOCK#"
"""Whom a user blocks, one item per blocked user: the list ``GET /api/blocks`` reads."""
BLOCKED_BY_SK_START = "BLOCKED_BY#"
"""The same block in the pair's partition, beside the pair item: a send reads the pair's partition, so it finds the
pair's group and the pair's blocks in one read (``data.blocks``)."""
LIMIT_PREFIX = "LIMIT#"
"""A sender's limits, one item per action (``send``, ``new-conversation``) in the sender's partition."""


def group_rows_pk(owner_uuid: str) -> str:
    return f"{GROUP_ROW_PREFIX}{owner_uuid}"


def messages_pk(message_group_uuid: str) -> str:
    return f"{MESSAGE_PREFIX}{message_group_uuid}"


def membership_key(message_group_uuid: str) -> dict[str, str]:
    return {"pk": f"{MEMBERSHIP_PREFIX}{message_group_uuid}", "sk": MEMBERSHIP_SK}


def pair_pk(user_uuid: str, other_user_uuid: str) -> str:
    """The same partition whichever member asks: the two uuids in sorted order."""
    first, second = sorted((user_uuid, other_user_uuid))
    return f"{PAIR_PREFIX}{first}#{second}"


def pair_key(user_uuid: str, other_user_uuid: str) -> dict[str, str]:
    return {"pk": pair_pk(user_uuid, other_user_uuid), "sk": PAIR_SK}


def pair_block_key(blocker_uuid: str, blocked_uuid: str) -> dict[str, str]:
    """The block in the pair's partition; its sort key names the blocker (the pair's key names both)."""
    return {"pk": pair_pk(blocker_uuid, blocked_uuid), "sk": f"{BLOCKED_BY_SK_START}{blocker_uuid}"}


def blocker_of_pair_sk(sk: str) -> str | None:
    """The blocker a sort key of the pair's partition names; None for the pair item."""
    return sk.removeprefix(BLOCKED_BY_SK_START) if sk.startswith(BLOCKED_BY_SK_START) else None


def blocks_pk(blocker_uuid: str) -> str:
    return f"{BLOCK_PREFIX}{blocker_uuid}"


def block_key(blocker_uuid: str, blocked_uuid: str) -> dict[str, str]:
    return {"pk": blocks_pk(blocker_uuid), "sk": blocked_uuid}


def idempotency_pk(request_hash: str) -> str:
    return f"{IDEMPOTENCY_PREFIX}{request_hash}"


def connections_pk(user_uuid: str) -> str:
    return f"{CONNECTION_PREFIX}{user_uuid}"


def limit_key(user_uuid: str, action: str) -> dict[str, str]:
    return {"pk": f"{LIMIT_PREFIX}{user_uuid}", "sk": action}


def owner_of_group_rows_pk(pk: str) -> str:
    return pk.removeprefix(GROUP_ROW_PREFIX)


def group_of_messages_pk(pk: str) -> str:
    return pk.removeprefix(MESSAGE_PREFIX)
