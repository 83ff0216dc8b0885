"""Data written the tutorial's way, in one place: how to read it, and what upgrades it.

The tutorial wrote only ``GRP#`` rows and ``MSG#`` items: no membership item, no pair item. Tables that hold such
groups keep working (docs/data-model.md, "Tutorial-era data") through this adapter, which answers, for them only,

- the members of a group: the owners of its group rows, through ``message-group-sk-index``;
- the pair's group: the owner's group row that names the other user;

and records what it found as membership and pair items (conditional puts, never over an item), so each group
costs its fallback reads once. ``bin/ddb/migrate`` writes those items for every tutorial-era group of a table at
once (:func:`upgrade_plan`); on a migrated table the stores find every item and never ask here, and deployed with
``TutorialData=migrated`` (``config.Settings.tutorial_data``) they do not build the adapter at all: a new pair
then costs no look for a tutorial-era group, and the roles lose the grants below.

The stores build the adapter over their own table; it makes only the requests their roles allow for it (the
``FindLegacy...`` and ``RecordLegacy...`` statements of ``template.yaml``, granted only with ``TutorialData=read``).
Timestamps the tutorial wrote (its writer's local offset, no microseconds when they were zero) are read by
``clock.parse_timestamp`` like any other.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Iterable

from boto3.dynamodb.conditions import Attr, Key

from cruddur_messaging.clock import utc_now
from cruddur_messaging.data import keys
from cruddur_messaging.data.table_access import (
    Item,
    first_of_query,
    group_rows_in_index,
    membership_item,
    pair_item,
    put_if_absent,
)

MEMBERS_PER_GROUP = 2


class TutorialData:
    """The fallback reads (and the records they leave) for groups that have no membership or pair item."""

    def __init__(self, table: Any, group_index_name: str) -> None:
        self._table = table
        self._group_index_name = group_index_name

    def members(self, message_group_uuid: str) -> frozenset[str] | None:
        """The owners of the group's rows in the index; None when it has none (no such group)."""
        rows = group_rows_in_index(self._table, self._group_index_name, message_group_uuid, projection="pk")
        return frozenset(keys.owner_of_group_rows_pk(row["pk"]) for row in rows) or None

    def record_members(self, message_group_uuid: str, member_uuids: frozenset[str]) -> None:
        """Records the members read off the rows, so the next check is one consistent read. Only with both owners
        seen: the index lags the table, and a row caught mid-move must not lock its owner out for good."""
        if len(member_uuids) == MEMBERS_PER_GROUP:
            put_if_absent(self._table, membership_item(message_group_uuid, member_uuids, utc_now()))

    def pair_group(self, owner_uuid: str, other_user_uuid: str) -> str | None:
        """The owner's group with ``other`` (their group row that names them), remembered as the pair's group and
        the group's membership from now on; None when they have none."""
        row = first_of_query(self._table, {
            "KeyConditionExpression": Key("pk").eq(keys.group_rows_pk(owner_uuid)),
            "FilterExpression": Attr("user_uuid").eq(other_user_uuid),
            "ProjectionExpression": "message_group_uuid",
        })
        if row is None:
            return None
        group_uuid = row["message_group_uuid"]
        put_if_absent(self._table, pair_item(owner_uuid, other_user_uuid, group_uuid))
        self.record_members(group_uuid, frozenset({owner_uuid, other_user_uuid}))
        return group_uuid


@dataclass(frozen=True)
class UpgradePlan:
    """The items that upgrade a table's groups (``bin/ddb/migrate``): one membership item per group, one pair
    item per pair, and the groups left as they are."""

    memberships: list[Item]
    pairs: list[Item]
    incomplete: list[str]
    """Groups whose rows do not show two members each naming the other (a row caught mid-move by the stream
    function, or not a 1:1 conversation): the adapter keeps serving them (``TutorialData=read`` only); a later run
    may upgrade them."""


def upgrade_plan(group_rows: Iterable[Item], created_at: str) -> UpgradePlan:
    """The membership and pair items for the groups of ``group_rows`` (every ``GRP#`` row of a table, with
    ``pk``, ``sk``, ``message_group_uuid`` and ``user_uuid``).

    A pair with several groups gets the one the adapter finds from either side: the one whose row comes first
    in the owner's partition (the lowest ``sk``), as the tutorial's rows of a conversation share their ``sk``.
    """
    rows_of_group: dict[str, list[Item]] = defaultdict(list)
    for row in group_rows:
        rows_of_group[row["message_group_uuid"]].append(row)
    memberships, incomplete = [], []
    first_group_of_pair: dict[frozenset[str], tuple[str, str]] = {}
    for group_uuid, rows in sorted(rows_of_group.items()):
        members = _members_naming_each_other(rows)
        if members is None:
            incomplete.append(group_uuid)
            continue
        memberships.append(membership_item(group_uuid, members, created_at))
        first = (min(row["sk"] for row in rows), group_uuid)
        first_group_of_pair[members] = min(first_group_of_pair.get(members, first), first)
    pairs = [pair_item(*sorted(members), group_uuid) for members, (_, group_uuid) in first_group_of_pair.items()]
    return UpgradePlan(memberships=memberships, pairs=sorted(pairs, key=lambda item: item["pk"]),
                       incomplete=incomplete)


def _members_naming_each_other(rows: list[Item]) -> frozenset[str] | None:
    """The two owners of the rows when each owner's rows name the other; None otherwise."""
    owners = frozenset(keys.owner_of_group_rows_pk(row["pk"]) for row in rows)
    if len(owners) != MEMBERS_PER_GROUP:
        return None
    if any(row.get("user_uuid") not in owners - {keys.owner_of_group_rows_pk(row["pk"])} for row in rows):
        return None
    return owners
