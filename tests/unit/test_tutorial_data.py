"""The tutorial-data adapter (``data.tutorial_data``) against moto: what it reads off rows written the tutorial's way,
what it records (never over an item), and the upgrade plan ``bin/ddb/migrate`` writes."""
from __future__ import annotations

from cruddur_messaging.data import keys
from cruddur_messaging.data.table_access import membership_item, pair_item, recorded_members
from cruddur_messaging.data.tutorial_data import TutorialData, upgrade_plan
from tests.support import people
from tests.support.table import census
from tests.unit.test_message_store import AT, GROUP, INDEX, OTHER_GROUP, put_tutorial_rows

ANDREW, BAYKO, LONDO = people.ANDREW.user, people.BAYKO.user, people.LONDO.user
THIRD_GROUP = "33333333-3333-4333-8333-333333333333"
LATER = "2026-03-05T05:06:07.123456+00:00"


def _row(owner, other, group: str, sk: str = AT) -> dict[str, str]:
    return {"pk": keys.group_rows_pk(owner.uuid), "sk": sk, "message_group_uuid": group, "user_uuid": other.uuid}


def test_recording_members_never_overwrites_and_needs_both_owners(aws) -> None:
    tutorial = TutorialData(aws.table, INDEX)
    tutorial.record_members(GROUP, frozenset({ANDREW.uuid}))  # one owner seen (a row mid-move): nothing recorded
    assert census(aws.table) == {}
    tutorial.record_members(GROUP, frozenset({ANDREW.uuid, BAYKO.uuid}))
    tutorial.record_members(GROUP, frozenset({LONDO.uuid, BAYKO.uuid}))
    assert recorded_members(aws.table, GROUP) == {ANDREW.uuid, BAYKO.uuid}


def test_a_pair_found_through_the_rows_never_overwrites_the_pair_item(aws) -> None:
    aws.table.put_item(Item=pair_item(ANDREW.uuid, BAYKO.uuid, GROUP))
    put_tutorial_rows(aws.table, OTHER_GROUP)
    assert TutorialData(aws.table, INDEX).pair_group(BAYKO.uuid, ANDREW.uuid) == OTHER_GROUP
    assert aws.table.get_item(Key=keys.pair_key(ANDREW.uuid, BAYKO.uuid))["Item"]["group_uuid"] == GROUP
    assert recorded_members(aws.table, OTHER_GROUP) == {ANDREW.uuid, BAYKO.uuid}


def test_the_pair_lookup_pages_through_the_owners_rows(aws) -> None:
    """Rows of other conversations fill the first pages; the one naming the other user is on a later page."""
    for number in range(1, 40):
        other = people.stranger(number).user
        aws.table.put_item(Item={**_row(ANDREW, other, f"00000000-0000-4000-8000-{number:012d}",
                                        sk=f"2025-01-01T00:00:{number:02d}.000000+00:00"),
                                 "message": "x" * 40_000, "user_display_name": "S", "user_handle": "s"})
    put_tutorial_rows(aws.table, GROUP, members=(ANDREW, LONDO), at=LATER)
    assert TutorialData(aws.table, INDEX).pair_group(ANDREW.uuid, LONDO.uuid) == GROUP


def test_upgrade_plan_gives_each_complete_group_its_membership_and_each_pair_one_group() -> None:
    rows = [
        _row(ANDREW, BAYKO, GROUP, LATER), _row(BAYKO, ANDREW, GROUP, LATER),
        # andrew and bayko's older conversation: the adapter finds it first from either side, so the pair gets it.
        _row(ANDREW, BAYKO, OTHER_GROUP), _row(BAYKO, ANDREW, OTHER_GROUP),
        # Only londo's row (bayko's caught mid-move): left to the adapter, like the API, which needs both owners.
        _row(LONDO, BAYKO, THIRD_GROUP),
    ]
    plan = upgrade_plan(rows, created_at=LATER)
    assert plan.memberships == [membership_item(GROUP, {ANDREW.uuid, BAYKO.uuid}, LATER),
                                membership_item(OTHER_GROUP, {ANDREW.uuid, BAYKO.uuid}, LATER)]
    assert plan.pairs == [pair_item(ANDREW.uuid, BAYKO.uuid, OTHER_GROUP)]
    assert plan.incomplete == [THIRD_GROUP]


def test_upgrade_plan_leaves_groups_whose_rows_do_not_name_each_other() -> None:
    rows = [_row(ANDREW, LONDO, GROUP), _row(BAYKO, ANDREW, GROUP),                      # andrew's row names londo
            _row(ANDREW, BAYKO, OTHER_GROUP), _row(BAYKO, ANDREW, OTHER_GROUP), _row(LONDO, ANDREW, OTHER_GROUP)]
    assert upgrade_plan(rows, created_at=AT).incomplete == [GROUP, OTHER_GROUP]
