"""DynamoDB requests and consumed capacity of one client, metered through botocore's event hooks.

moto answers ``ReturnConsumedCapacity`` with a constant per call, so capacity is computed from item sizes with
DynamoDB's published rules instead:

- item size: the UTF-8 lengths of every attribute name and string value;
- reads: 4 KB units of the items read, at least one per request, half a unit each when eventually consistent (an
  index query always is). A query is billed for the items it reads before its filter and projection apply ("Query
  operations", developer guide: "a filter expression ... consumes the same amount of read capacity"), which its
  response does not carry: a meter given ``items_read`` (the same key condition replayed through a client it does
  not meter) counts those; without it, the items returned;
- writes: 1 KB units of the item written or deleted, at least one; twice that inside ``TransactWriteItems``;
  an update counts the larger of the item before and after it, which its request does not carry: a meter given
  ``current_item`` (a read through a client it does not meter) looks the item up before and after the call;
- a write also writes each global secondary index the item is in before or after it (both project ``ALL``, so an
  index entry is the item's size), at the standard rate: an item that enters or leaves an index, or changes only
  attributes outside its key, is one index write; one whose index key changes is two (a delete and a put: "If an
  update to the table changes the value of an indexed key attribute (from A to B), two writes are required", GSI
  writes in "Using Global Secondary Indexes in DynamoDB",
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html#GSI.Writes); a write that leaves the
  item as it was (a refused condition) writes no index. ``message-group-sk-index`` holds the items with
  ``message_group_uuid`` (``sk`` its range key), ``group-row-version-index`` those with a ``version`` (``pk``
  its hash key): both only group rows. ``Meter.index_wcu`` holds each index's share of ``wcu``.

Source: "Read and write capacity units" and "UpdateItem" in the DynamoDB developer guide
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html).
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable

WireItem = dict[str, dict[str, Any]]
INDEXES: dict[str, tuple[str, str]] = {
    "message-group-sk-index": ("message_group_uuid", "sk"),
    "group-row-version-index": ("pk", "version"),
}
"""Each global secondary index of the table (the template's default names) and its key attributes: an item is in an
index when it has both."""
IndexKeys = tuple["tuple[str, ...] | None", ...]
ItemLookup = Callable[[WireItem], "WireItem | None"]
QueryReplay = Callable[[dict[str, Any]], list[WireItem]]
_REPLAYED = ("TableName", "IndexName", "KeyConditionExpression", "ExclusiveStartKey", "Limit", "ScanIndexForward",
             "ConsistentRead")


def index_keys(item: WireItem) -> IndexKeys:
    """The item's key in each of ``INDEXES`` (None: not in that index)."""
    return tuple(tuple(json.dumps(item[name], sort_keys=True) for name in names)
                 if all(name in item for name in names) else None for names in INDEXES.values())


def item_size(item: WireItem) -> int:
    """Bytes of an item in wire format (``{"S": ...}``); a value of another type counts its JSON text."""
    size = 0
    for name, value in item.items():
        (kind, content), = value.items()
        size += len(name.encode()) + (len(content.encode()) if kind == "S" else len(json.dumps(content)))
    return size


def current_item_reader(client: Any, table_name: str) -> ItemLookup:
    """``Meter.current_item`` reading through ``client``, a low-level client no meter is attached to."""
    def read(key: WireItem) -> WireItem | None:
        item: WireItem | None = client.get_item(TableName=table_name, Key={"pk": key["pk"], "sk": key["sk"]},
                                                ConsistentRead=True).get("Item")
        return item
    return read


def items_read_reader(client: Any) -> QueryReplay:
    """``Meter.items_read`` reading through ``client``, a low-level client no meter is attached to: the query's key
    condition, start key and limit (a limit counts the items read, before the filter), without its filter,
    projection or ``Select``."""
    def read(body: dict[str, Any]) -> list[WireItem]:
        request = {key: value for key, value in body.items() if key in _REPLAYED}
        condition = body["KeyConditionExpression"]
        for field_name, pattern in (("ExpressionAttributeNames", r"#\w+"), ("ExpressionAttributeValues", r":\w+")):
            used = set(re.findall(pattern, condition))
            kept = {name: value for name, value in body.get(field_name, {}).items() if name in used}
            if kept:
                request[field_name] = kept
        items: list[WireItem] = client.query(**request)["Items"]
        return items
    return read


@dataclass
class Meter:
    """``meter.attach(client)``, then read ``requests``, ``rcu`` and ``wcu``. One call at a time per client."""

    requests: int = 0
    rcu: float = 0.0
    wcu: float = 0.0
    index_wcu: dict[str, float] = field(default_factory=lambda: dict.fromkeys(INDEXES, 0.0))
    """Each index's share of ``wcu``."""
    _sizes: dict[tuple[str, str], tuple[int, IndexKeys]] = field(default_factory=dict)
    """(pk, sk) -> (size, keys in the indexes) of every item the client read or wrote: what a later write replaces or
    removes."""
    _consistent_read: bool = False
    _query: dict[str, Any] | None = None
    """The body of the query under way, when its response does not show what it read (a filter, a projection)."""
    current_item: ItemLookup | None = None
    items_read: QueryReplay | None = None
    """The item under a key as the table holds it now (wire format), or None: what an update's size needs."""
    _before_update: list[tuple[WireItem, WireItem | None, bool]] = field(default_factory=list)
    """Each update of the call under way: its key, the item before it, and whether it is transactional."""

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
        self._before_update = []
        narrowed = any(key in body for key in ("FilterExpression", "ProjectionExpression", "Select"))
        self._query = body if model.name == "Query" and narrowed and self.items_read is not None else None
        if model.name == "PutItem":
            self.wcu += self._write(body["Item"], deleted=False, transactional=False)
        elif model.name == "DeleteItem":
            self.wcu += self._write(body["Key"], deleted=True, transactional=False)
        elif model.name == "UpdateItem":
            self._remember_before_update(body["Key"], transactional=False)
        elif model.name == "TransactWriteItems":
            for entry in body["TransactItems"]:
                (kind, action), = entry.items()
                if kind == "Update":
                    self._remember_before_update(action["Key"], transactional=True)
                else:
                    self.wcu += self._write(action.get("Item") or action["Key"], deleted=kind == "Delete",
                                            transactional=True)

    def _after_call(self, model: Any, parsed: dict[str, Any], **_: Any) -> None:
        if self._before_update:
            self.wcu += sum(self._update(key, before, transactional) for key, before, transactional in
                            self._before_update)
            self._before_update = []
        if model.name not in {"Query", "GetItem"} or "Error" in parsed:
            return
        items: list[WireItem] = parsed.get("Items") or ([parsed["Item"]] if parsed.get("Item") else [])
        if self._query is not None and self.items_read is not None:
            items = self.items_read(self._query)
        for item in items:
            if "pk" in item and "sk" in item:  # a projection may leave the key out
                self._sizes[(item["pk"]["S"], item["sk"]["S"])] = (item_size(item), index_keys(item))
        units = max(1, math.ceil(sum(item_size(item) for item in items) / 4096))
        self.rcu += units if self._consistent_read else units / 2

    def _remember_before_update(self, key: WireItem, transactional: bool) -> None:
        if self.current_item is None:
            raise ValueError("metering an update needs current_item: its request does not carry the item")
        self._before_update.append((key, self.current_item(key), transactional))

    def _update(self, key: WireItem, before: WireItem | None, transactional: bool) -> float:
        """Units of an update (applied or refused by its condition: both consume): the larger item, before or
        after, and the indexes it changed."""
        assert self.current_item is not None
        after = self.current_item(key)
        sizes = [item_size(item) for item in (before, after) if item]
        if after:
            self._sizes[(key["pk"]["S"], key["sk"]["S"])] = (item_size(after), index_keys(after))
        units = max(1, math.ceil(max(sizes, default=0) / 1024))
        indexed = 0.0 if before == after else self._index_write(
            (item_size(before), index_keys(before)) if before else None,
            (item_size(after), index_keys(after)) if after else None)
        return units * (2 if transactional else 1) + indexed

    def _write(self, item: WireItem, deleted: bool, transactional: bool) -> float:
        key = (item["pk"]["S"], item["sk"]["S"])
        before = self._sizes.pop(key, None)
        if deleted:
            size = before[0] if before else item_size(item)
            after = None
        else:
            size = item_size(item)
            after = self._sizes[key] = (size, index_keys(item))
        units = max(1, math.ceil(size / 1024))
        return units * (2 if transactional else 1) + self._index_write(before, after)

    def _index_write(self, before: tuple[int, IndexKeys] | None, after: tuple[int, IndexKeys] | None) -> float:
        """Write units of the indexes for an item going from ``before`` to ``after`` (size, index keys; None: no
        item), added to ``index_wcu``."""
        total = 0.0
        for position, name in enumerate(INDEXES):
            entries = [(entry[0], entry[1][position]) for entry in (before, after)
                       if entry is not None and entry[1][position] is not None]
            if len(entries) == 2 and entries[0][1] != entries[1][1]:  # its key changed: a delete and a put
                units = sum(max(1, math.ceil(size / 1024)) for size, _ in entries)
            elif entries:
                units = max(1, math.ceil(max(size for size, _ in entries) / 1024))
            else:
                units = 0
            self.index_wcu[name] += units
            total += units
        return total
