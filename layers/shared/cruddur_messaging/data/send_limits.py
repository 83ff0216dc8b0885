"""The senders' limit items (``LIMIT#<user uuid>`` / ``<action>``): the conditional updates of ``domain.send_limits``.

An item holds one number that matters, ``tat`` (the "theoretical arrival time" of the generic cell rate algorithm,
in microseconds since the epoch): how far ahead of now the sender has spent the limit. Each update here is ONE
conditional ``UpdateItem``, which DynamoDB applies atomically, condition and update together, so concurrent sends
of one user (from any number of containers) never both see the same allowance; a refused one returns the item as
it was (``ReturnValuesOnConditionCheckFailure=ALL_OLD``, which costs no extra read:
https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateItem.html), and the caller decides from it.

Every update also writes ``writer``, the token of the request it counts (the send's planned message uuid), and
recognises itself: when DynamoDB applied an update but its response was lost, the SDK resends it, the condition
refuses the resend (or, for the increment, its ``writer`` clause does), and the item it returns names our own
token, so the send is counted once. ``expiration`` (the table's TTL attribute) is the latest time the item can
still matter: once ``tat`` has passed, the item means the same as no item (a full allowance), so TTL may delete it
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/TTL.html; an expired item not deleted yet is read
the same way).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from cruddur_messaging.data import keys
from cruddur_messaging.data.dynamodb import dynamodb_errors_as_unavailable

MICROSECONDS = 1_000_000
_NAMES = {"#tat": "tat", "#writer": "writer", "#expiration": "expiration"}


@dataclass(frozen=True)
class Spent:
    """A limit item as a refused update found it: its ``tat`` (None without one) and the last ``writer``."""

    tat_us: int | None
    writer: str | None


class LimitStore:
    def __init__(self, table: Any) -> None:
        self._table = table

    def start_afresh(self, user_uuid: str, action: str, *, now_us: int, interval_us: int,
                     writer: str) -> Spent | None:
        """The sender's allowance is whole (no item, or its ``tat`` has passed): ``tat`` becomes now plus one
        interval. None when applied; else the item as it is (its ``tat`` is ahead of now)."""
        tat_us = now_us + interval_us
        return self._update(
            user_uuid, action,
            update="SET #tat = :tat, #writer = :writer, #expiration = :expiration",
            condition="attribute_not_exists(#tat) OR #tat <= :now",
            values={":tat": tat_us, ":now": now_us, ":writer": writer, ":expiration": _seconds_after(tat_us)})

    def add_interval(self, user_uuid: str, action: str, *, now_us: int, interval_us: int, ceiling_us: int,
                     writer: str) -> Spent | None:
        """Part of the allowance is spent (``tat`` ahead of now): ``tat`` moves one interval on, if it was at most
        ``ceiling_us`` (the send fits in what is left) and this request has not already moved it. None when
        applied; else the item as it is."""
        return self._update(
            user_uuid, action,
            update="SET #tat = #tat + :interval, #writer = :writer, #expiration = :expiration",
            condition="#tat > :now AND #tat <= :ceiling AND (NOT #writer = :writer)",
            values={":interval": interval_us, ":now": now_us, ":ceiling": ceiling_us, ":writer": writer,
                    ":expiration": _seconds_after(ceiling_us + interval_us)})

    def give_back(self, user_uuid: str, action: str, *, interval_us: int, writer: str) -> None:
        """Undoes this request's count (``writer``), while it is the item's last one: the send was refused by
        another limit after this one counted it. Resent after a lost response, it finds another writer and does
        nothing; so it does when another send counted since (that allowance then stays spent: never less strict)."""
        self._update(
            user_uuid, action,
            update="SET #tat = #tat - :interval, #writer = :returned",
            condition="#writer = :writer",
            values={":interval": interval_us, ":writer": writer, ":returned": f"{writer} given back"})

    def _update(self, user_uuid: str, action: str, *, update: str, condition: str,
                values: dict[str, Any]) -> Spent | None:
        names = {name: attribute for name, attribute in _NAMES.items() if name in update or name in condition}
        try:
            with dynamodb_errors_as_unavailable():
                self._table.update_item(Key=keys.limit_key(user_uuid, action), UpdateExpression=update,
                                        ConditionExpression=condition, ExpressionAttributeNames=names,
                                        ExpressionAttributeValues=values,
                                        ReturnValuesOnConditionCheckFailure="ALL_OLD")
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return _spent(error.response.get("Item") or {})
        return None


def _seconds_after(moment_us: int) -> int:
    """The TTL value (epoch seconds) at or after a moment in microseconds."""
    return -(-moment_us // MICROSECONDS)


def _spent(item: dict[str, Any]) -> Spent:
    """The item a refusal returned, in DynamoDB's JSON (the resource does not deserialize an error's item)."""
    tat, writer = item.get("tat"), item.get("writer")
    return Spent(tat_us=int(_value(tat)) if tat is not None else None,
                 writer=str(_value(writer)) if writer is not None else None)


def _value(attribute: Any) -> Any:
    return next(iter(attribute.values())) if isinstance(attribute, dict) else attribute
