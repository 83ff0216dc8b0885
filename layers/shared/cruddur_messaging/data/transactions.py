"""Transactions whose items have names, and whose cancellation reasons come back by those names.

DynamoDB answers a cancelled ``TransactWriteItems`` with one reason per item, in the order the items were sent.
Reading them by position ties every caller to the order it happens to build its items in: reordering them would
silently swap one outcome for another. Here the caller names each item, and only this module pairs the reasons
with the items they belong to.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from boto3.dynamodb.types import TypeDeserializer

from cruddur_messaging.data.dynamodb import dynamodb_errors_as_unavailable

Item = dict[str, Any]
TransactItem = dict[str, Any]

CONDITION_FAILED = "ConditionalCheckFailed"
NO_REASON = "None"
"""The code of an item that did not cause the cancellation."""

_deserializer = TypeDeserializer()


@dataclass(frozen=True)
class CancellationReason:
    code: str
    item: Item | None = None
    """The item as it was when its condition failed (``ReturnValuesOnConditionCheckFailure``), deserialized."""

    @property
    def condition_failed(self) -> bool:
        return self.code == CONDITION_FAILED


class TransactionCancelled(Exception):
    """The transaction wrote nothing; ``reason(name)`` says why, item by item.

    ``reasons`` is empty when DynamoDB gave none, or not one per item (then none can be told apart).
    """

    def __init__(self, reasons: dict[str, CancellationReason], codes: list[str]) -> None:
        super().__init__(codes)
        self.reasons = reasons
        self.codes = codes
        """Every code, as DynamoDB sent them (for logs and errors)."""

    def reason(self, name: str) -> CancellationReason:
        return self.reasons[name]

    def any_code(self, code: str) -> bool:
        """Whether some item was refused for ``code`` (known even when the reasons cannot be told apart)."""
        return code in self.codes


def write_transaction(client: Any, items: Mapping[str, TransactItem]) -> None:
    """Runs ``items`` (``{name: transact item}``, sent in that order) as one transaction.

    Raises TransactionCancelled with each name's reason; outages become DependencyUnavailable as everywhere.
    """
    try:
        with dynamodb_errors_as_unavailable():
            client.transact_write_items(TransactItems=list(items.values()))
    except client.exceptions.TransactionCanceledException as error:
        raise cancellation(list(items), error.response) from error


def cancellation(names: list[str], response: Mapping[str, Any]) -> TransactionCancelled:
    """The reasons of a cancelled transaction's response, by the names of its items in the order they were sent."""
    sent = response.get("CancellationReasons") or []
    reasons = [CancellationReason(reason.get("Code") or NO_REASON,
                                  plain_item(reason["Item"]) if reason.get("Item") else None) for reason in sent]
    by_name = dict(zip(names, reasons)) if len(reasons) == len(names) else {}
    return TransactionCancelled(by_name, [reason.code for reason in reasons])


def plain_item(item: Item | None) -> Item:
    """An item from an error response (a cancellation reason, a refused condition): those are not run through the
    resource's type translation."""
    return {name: _deserializer.deserialize(value) if isinstance(value, dict) else value
            for name, value in (item or {}).items()}
