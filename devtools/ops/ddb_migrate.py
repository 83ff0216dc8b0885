"""``bin/ddb/migrate``: upgrades a table that holds groups written the tutorial's way, once.

Such groups have only ``GRP#`` rows and ``MSG#`` items; the API serves them through ``data.tutorial_data``, one
fallback read per group (and records the group when it is first written to). The migration writes, for every
group, the membership item and, for every pair, the pair item the API writes for a new group
(:func:`cruddur_messaging.data.tutorial_data.upgrade_plan` decides which), so that afterwards every access check
and conversation start is one read.

Safe to run at any time, as often as wanted: it reads the group rows with a paginated, strongly consistent scan
and writes with conditional puts that never overwrite an item (the API's own, or an earlier run's), so a second
run writes nothing and an interrupted run is completed by the next. ``--dry-run`` reads the same and writes
nothing. Groups whose rows do not show two members naming each other (a row caught mid-move, or not a 1:1
conversation) are left as they are and listed: the adapter keeps serving them while the functions run with
``TutorialData=read``; with ``migrated`` (deployed once this lists none) they are not found.
"""
from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterator

from boto3.dynamodb.conditions import Attr

from cruddur_messaging.clock import utc_now
from cruddur_messaging.data import keys
from cruddur_messaging.data.table_access import Item, put_if_absent
from cruddur_messaging.data.tutorial_data import upgrade_plan
from devtools.ops.cli import Command
from devtools.ops.ddb import existing_table, page_size_argument, scan_pages
from devtools.ops.target import Target

KINDS = ("membership", "pair")


@dataclass
class MigrationReport:
    """What a migration found and did: per kind of item, how many it wrote (or would write) and how many were
    already there."""

    scanned: int = 0
    groups: int = 0
    incomplete: list[str] = field(default_factory=list)
    written: Counter[str] = field(default_factory=Counter)
    existing: Counter[str] = field(default_factory=Counter)

    def count(self, kind: str, written: bool) -> None:
        (self.written if written else self.existing)[kind] += 1


def migrate_table(table: Any, *, dry_run: bool = False, page_size: int | None = None) -> MigrationReport:
    """Writes the membership and pair items ``table``'s groups lack (``dry_run``: only counts them)."""
    report = MigrationReport()
    plan = upgrade_plan(_group_rows(table, page_size, report), created_at=utc_now())
    report.groups = len(plan.memberships) + len(plan.incomplete)
    report.incomplete = plan.incomplete
    for kind, items in zip(KINDS, (plan.memberships, plan.pairs)):
        for item in items:
            report.count(kind, _is_absent(table, item) if dry_run else put_if_absent(table, item))
    return report


def _group_rows(table: Any, page_size: int | None, report: MigrationReport) -> Iterator[Item]:
    """Every ``GRP#`` row, with just what the plan needs, page by page."""
    for response in scan_pages(table, page_size, FilterExpression=Attr("pk").begins_with(keys.GROUP_ROW_PREFIX),
                               ProjectionExpression="pk, sk, message_group_uuid, user_uuid", ConsistentRead=True):
        report.scanned += response["ScannedCount"]
        yield from response["Items"]


def _is_absent(table: Any, item: Item) -> bool:
    return "Item" not in table.get_item(Key={"pk": item["pk"], "sk": item["sk"]}, ConsistentRead=True)


def _migrate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="report what would be written; write nothing")
    page_size_argument(parser)


def migrate(args: argparse.Namespace, target: Target) -> None:
    with existing_table(target.table_name):
        report = migrate_table(target.table(), dry_run=args.dry_run, page_size=args.page_size)
    print(f"{target.table_name}: {report.scanned} items scanned, {report.groups} message groups")
    for label, counts in (("would write" if args.dry_run else "written", report.written),
                          ("already there", report.existing)):
        listed = ", ".join(f"{counts[kind]} {kind}" for kind in KINDS if counts[kind])
        print(f"{label}: {listed or 'nothing'}")
    if report.incomplete:
        print(f"left as they are (their rows do not show two members naming each other; the API serves them only "
              f"with TutorialData=read, run again later): {', '.join(report.incomplete)}")


MIGRATE = Command("ddb/migrate", "Writes the membership and pair items of groups written the tutorial's way "
                  "(repeatable; never overwrites).", migrate, _migrate_arguments)
