"""Key formats of the single table (docs/data-model.md), in one place.

| item                      | pk                                            | sk                |
|---------------------------|-----------------------------------------------|-------------------|
| group row, one per member | ``GRP#<owner uuid>``                          | last message time |
| message                   | ``MSG#<group uuid>``                          | ``created_at``    |
| membership of a group     | ``GROUP#<group uuid>``                        | ``MEMBERS``       |
| the group of a user pair  | ``PAIR#<uuid>#<uuid>``                        | ``PAIR``          |
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
LIMIT_PREFIX = "LIMIT#"
"""A sender's limits, one item per action (``send``, ``new-conversation``) in the sender's partition."""


def group_rows_pk(owner_uuid: str) -> str:
    return f"{GROUP_ROW_PREFIX}{owner_uuid}"


def messages_pk(message_group_uuid: str) -> str:
    return f"{MESSAGE_PREFIX}{message_group_uuid}"


def membership_key(message_group_uuid: str) -> dict[str, str]:
    return {"pk": f"{MEMBERSHIP_PREFIX}{message_group_uuid}", "sk": MEMBERSHIP_SK}


def pair_key(user_uuid: str, other_user_uuid: str) -> dict[str, str]:
    """The same key whichever member asks: the two uuids in sorted order."""
    first, second = sorted((user_uuid, other_user_uuid))
    return {"pk": f"{PAIR_PREFIX}{first}#{second}", "sk": PAIR_SK}


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
