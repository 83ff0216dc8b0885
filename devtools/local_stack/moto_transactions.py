"""``TransactWriteItems`` for the local moto server, rolled back item by item instead of table by table.

moto 5.2's own ``transact_write_items`` deep-copies every table a transaction names before it starts and, when
the transaction is cancelled, puts the copy in the table's place. That costs time in proportion to the table
(6 ms at 100 items, over 500 ms at 6,000), replaces the table's stream shard (a stream reader holding an
iterator of the old one never sees another record), and undoes any write another request made meanwhile.

This version keeps moto's checks and error reporting (the same order, the same cancellation reasons) but copies
only the items the transaction touches, just before it touches each one; on cancellation it puts those items
back and removes the stream records the transaction had emitted. A committed transaction leaves exactly its
writes in the stream, a cancelled one nothing. It must run under a lock that also covers every other DynamoDB
and Streams request (``moto_launcher`` holds one), so that nobody sees a transaction half applied.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from moto.dynamodb.comparisons import get_filter_expression as condition_filter
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table

MAX_TRANSACTION_ITEMS = 100
_OPERATIONS = {"ConditionCheck", "Put", "Delete", "Update"}
ItemKey = tuple[str, DynamoType, "DynamoType | None"]


@dataclass
class _Undo:
    """What a cancelled transaction must put back: the touched items as they were; and the stream records it
    emitted, to take out again."""

    items: dict[ItemKey, Item | None] = field(default_factory=dict)
    stream_records: dict[str, list[Any]] = field(default_factory=dict)

    def remember(self, table: Table, hash_key: DynamoType, range_key: DynamoType | None) -> None:
        key = (table.name, hash_key, range_key)
        if key not in self.items:
            current = table.get_item(hash_key, range_key)
            self.items[key] = copy.deepcopy(current) if current is not None else None

    def emitted(self, table: Table, records: list[Any]) -> None:
        self.stream_records.setdefault(table.name, []).extend(records)

    def roll_back(self, backend: DynamoDBBackend) -> None:
        for (table_name, hash_key, range_key), item in self.items.items():
            table = backend.tables[table_name]
            if item is not None:
                if range_key is not None:
                    table.items[hash_key][range_key] = item
                else:
                    table.items[hash_key] = item
            elif range_key is not None:
                table.items.get(hash_key, {}).pop(range_key, None)
            else:
                table.items.pop(hash_key, None)
        for table_name, emitted in self.stream_records.items():
            shard = backend.tables[table_name].stream_shard
            if shard is None or not emitted:
                continue
            # Normally the transaction's records are the last ones; a write another thread made meanwhile keeps
            # its record, renumbered, since moto finds a record by its position in the shard.
            ours = {id(record) for record in emitted}
            shard.items = [record for record in shard.items if id(record) not in ours]
            for position, record in enumerate(shard.items):
                record.record["dynamodb"]["SequenceNumber"] = str(shard.starting_sequence_number + position)


def _item_key(table: Table, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
    if op_type != "Put":
        return op["Key"]
    attributes = op["Item"]
    key = {table.hash_key_attr: attributes[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attributes[table.range_key_attr]
    return key


def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    """Replaces ``DynamoDBBackend.transact_write_items`` (mirrors moto 5.2.5's, but for what it copies)."""
    if len(transact_items) > MAX_TRANSACTION_ITEMS:
        raise TooManyTransactionsException()
    undo = _Undo()
    target_items: set[tuple[str, str]] = set()

    def check_unicity(table_name: str, key: dict[str, Any]) -> None:
        item = (str(table_name), str(dict(sorted(key.items()))))
        if item in target_items:
            raise MultipleTransactionsException()
        target_items.add(item)

    errors: list[tuple[str, str, dict[str, Any]] | tuple[None, None, None]] = []
    for item in transact_items:
        original_item: dict[str, Any] | None = None
        if len(list(item.keys())) > 1:
            undo.roll_back(self)
            raise TransactWriteSingleOpException
        try:
            op_type, op = next(iter(item.items()))
            if op_type not in _OPERATIONS:
                raise ValueError("Unsupported transaction operation")
            table_name = op["TableName"]
            condition_expression = op.get("ConditionExpression")
            names = op.get("ExpressionAttributeNames")
            values = op.get("ExpressionAttributeValues")
            table = self.get_table(table_name)
            key = _item_key(table, op_type, op)
            check_unicity(table_name, key)

            current = self.get_item(table_name, key)
            if condition_expression is not None:
                condition = condition_filter(condition_expression, names, values)
                if not condition.expr(current):
                    if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                        original_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original_item)

            if op_type != "ConditionCheck":
                undo.remember(table, *self.get_keys_value(table, key))
            emitted_before = len(table.stream_shard.items) if table.stream_shard is not None else 0
            if op_type == "Put":
                self.put_item(table_name, op["Item"], condition_expression=condition_expression,
                              expression_attribute_names=names, expression_attribute_values=values)
            elif op_type == "Delete":
                self.delete_item(table_name, key, condition_expression=condition_expression,
                                 expression_attribute_names=names, expression_attribute_values=values)
            elif op_type == "Update":
                self.update_item(table_name, key, update_expression=op["UpdateExpression"],
                                 condition_expression=condition_expression,
                                 expression_attribute_names=names, expression_attribute_values=values)
            if table.stream_shard is not None:
                undo.emitted(table, table.stream_shard.items[emitted_before:])
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            undo.roll_back(self)
            raise
        except ConditionalCheckFailed as error:
            errors.append(("ConditionalCheckFailed", str(error.message), original_item))  # type: ignore[arg-type]
        except Exception as error:  # noqa: BLE001 - moto reports any other failure as the item's reason
            errors.append((type(error).__name__, str(error), original_item))  # type: ignore[arg-type]

    if any(code is not None for code, _, _ in errors):
        undo.roll_back(self)
        raise TransactionCanceledException(errors)


def install() -> None:
    """Makes every DynamoDB backend of this process use :func:`transact_write_items`."""
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
