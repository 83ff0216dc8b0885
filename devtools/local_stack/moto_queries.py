"""``Query`` for the local moto server, reading only what it has to.

moto 5.2's ``Table.query`` gathers *every* item of the table, sorted (``Table.all_items``), and then keeps those of
the partition asked for: each query costs the whole table, and the sort's comparisons of moto's attribute objects
were most of ``make dev``'s CPU under ``make load`` (and grow with every message stored). A query on the table
only ever keeps one partition, which moto already holds by hash key (``Table.items``), and both query paths sort
what they keep afterwards, so during a query ``all_items`` answers with that partition (a table query), or with
every item unsorted (an index query, which still has to look at every item: moto keeps no index structure).
Everything else of moto's query (key conditions, filters, projections, pages, counts) runs as it is.

The swap is per table object and undone when the query returns; it relies on ``moto_launcher`` serving DynamoDB
requests one at a time.
"""
from __future__ import annotations

import inspect
from typing import Any

from moto.dynamodb.models.table import Table

_moto_query = Table.query
_QUERY_SIGNATURE = inspect.signature(_moto_query)


def _query(self: Table, *args: Any, **kwargs: Any) -> Any:
    arguments = _QUERY_SIGNATURE.bind(self, *args, **kwargs).arguments
    hash_key, index_name = arguments.get("hash_key"), arguments.get("index_name")
    if index_name is None and hash_key is not None:
        partition = dict.get(self.items, hash_key)  # not self.items[...]: a defaultdict would add the partition
        if not partition:
            items = []
        else:
            items = list(partition.values()) if self.range_key_attr else [partition]
    else:
        items = [item for partition in self.items.values()
                 for item in (partition.values() if self.range_key_attr else [partition])]
    self.all_items = lambda: items  # type: ignore[method-assign]
    try:
        return _moto_query(self, *args, **kwargs)
    finally:
        del self.all_items


def install() -> None:
    Table.query = _query  # type: ignore[method-assign]

