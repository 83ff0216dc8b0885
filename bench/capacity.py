"""DynamoDB requests and consumed capacity of one client, metered through botocore's event hooks.

moto answers ``ReturnConsumedCapacity`` with a constant per call, so capacity is computed from item sizes with
DynamoDB's published rules instead:

- item size: the UTF-8 lengths of every attribute name and string value;
- reads: 4 KB units of the items returned, at least one per request, half a unit each when eventually
  consistent (an index query always is);
- writes: 1 KB units of the item written or deleted, at least one; twice that inside ``TransactWriteItems``;
- a write that adds or removes a group row (it carries ``message_group_uuid``) also writes the global secondary
  index once, at the standard rate.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

INDEXED_ATTRIBUTE = "message_group_uuid"
WireItem = dict[str, dict[str, Any]]


def item_size(item: WireItem) -> int:
    """Bytes of an item in wire format (``{"S": ...}``); a value of another type counts its JSON text."""
    size = 0
    for name, value in item.items():
        (kind, content), = value.items()
        size += len(name.encode()) + (len(content.encode()) if kind == "S" else len(json.dumps(content)))
    return size


@dataclass
class Meter:
    """``meter.attach(client)``, then read ``requests``, ``rcu`` and ``wcu``. One call at a time per client."""

    requests: int = 0
    rcu: float = 0.0
    wcu: float = 0.0
    _sizes: dict[tuple[str, str], tuple[int, bool]] = field(default_factory=dict)
    """(pk, sk) -> (size, in the index) of every item the client read or wrote: what a later delete removes."""
    _consistent_read: bool = False

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-call.dynamodb", self._before_call)
        # First, so it sees the response before a boto3 resource turns it into Python values.
        client.meta.events.register_first("after-call.dynamodb", self._after_call)

    def detach(self, client: Any) -> None:
        client.meta.events.unregister("before-call.dynamodb", self._before_call)
        client.meta.events.unregister("after-call.dynamodb", self._after_call)

    def _before_call(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.requests += 1
        body = json.loads(params["body"])
        self._consistent_read = bool(body.get("ConsistentRead"))
        if model.name == "PutItem":
            self.wcu += self._write(body["Item"], deleted=False, transactional=False)
        elif model.name == "DeleteItem":
            self.wcu += self._write(body["Key"], deleted=True, transactional=False)
        elif model.name == "TransactWriteItems":
            for entry in body["TransactItems"]:
                (kind, action), = entry.items()
                self.wcu += self._write(action.get("Item") or action["Key"], deleted=kind == "Delete",
                                        transactional=True)

    def _after_call(self, model: Any, parsed: dict[str, Any], **_: Any) -> None:
        if model.name not in {"Query", "GetItem"} or "Error" in parsed:
            return
        items: list[WireItem] = parsed.get("Items") or ([parsed["Item"]] if parsed.get("Item") else [])
        for item in items:
            self._sizes[(item["pk"]["S"], item["sk"]["S"])] = (item_size(item), INDEXED_ATTRIBUTE in item)
        units = max(1, math.ceil(sum(item_size(item) for item in items) / 4096))
        self.rcu += units if self._consistent_read else units / 2

    def _write(self, item: WireItem, deleted: bool, transactional: bool) -> float:
        key = (item["pk"]["S"], item["sk"]["S"])
        if deleted:
            size, indexed = self._sizes.pop(key, (item_size(item), False))
        else:
            size, indexed = item_size(item), INDEXED_ATTRIBUTE in item
            self._sizes[key] = (size, indexed)
        units = max(1, math.ceil(size / 1024))
        return units * (2 if transactional else 1) + (units if indexed else 0)
