"""The checks of ``make load``, against what DynamoDB holds (read at the stack's ``aws_endpoint_url``).

- every send answered 200 is stored exactly once: one ``MSG#`` item with its text, in its group, with the uuid and
  ``created_at`` of the answer; a retry with the same ``Idempotency-Key`` answered the same and wrote nothing;
- nothing is stored for a send that was refused (a valid send over its sender's limit included: 429 ``rate_limited``);
- both ``GRP#`` rows of every group a send went into converge to the group's newest message (one row per member,
  at its ``sk`` and text), and :class:`RowWatcher` records when each row moved, for the lag from a send's 200;
- no response carried another request's data: a messages page holds only messages of the group asked for, a
  groups list only groups of the caller (naming the other member), a ``Link`` names the route and group of its
  request, a send's answer echoes the sender's handle and text, a user card is that user's.
"""
from __future__ import annotations

import threading
import time
import uuid
from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import boto3
from boto3.dynamodb.conditions import Attr, Key

from bench.load_traffic import (
    LIST_GROUPS,
    LIST_MESSAGES,
    REFUSALS,
    START,
    USERS_SHORT,
    Exchange,
    Recorder,
    Send,
    link_path,
)
from devtools.local_stack.stack_file import StackInfo, StackUser
from devtools.ops.ddb import scan_pages
from devtools.template import load_template, parameter_defaults

# The layer's own lookup of a group's members: on the path once devtools.local_stack is imported (above).
from cruddur_messaging.data.messages import MessageStore
from cruddur_messaging.data.table_access import query_all

Item = dict[str, Any]
WATCH_INTERVAL_SECONDS = 0.25
SHOWN_PROBLEMS = 5


class TableReader:
    """Reads of the messages table. boto3 resources are not thread-safe: one reader per thread."""

    def __init__(self, info: StackInfo) -> None:
        # moto takes any credentials; these keep boto3 from looking for a real account's.
        self.table = boto3.resource("dynamodb", endpoint_url=info.aws_endpoint_url, region_name=info.region,
                                    aws_access_key_id="testing", aws_secret_access_key="testing"
                                    ).Table(info.table_name)
        self.store = MessageStore(self.table, parameter_defaults(load_template())["MessageGroupIndexName"])

    def count(self) -> int:
        """The items in the table (moto's transactions, for one, slow down as it grows)."""
        return sum(page["Count"] for page in scan_pages(self.table, Select="COUNT"))

    def partition(self, pk: str) -> list[Item]:
        return query_all(self.table, {"KeyConditionExpression": Key("pk").eq(pk), "ConsistentRead": True})

    def group_rows(self, owner_uuid: str) -> list[Item]:
        return self.partition(f"GRP#{owner_uuid}")

    def messages(self, group: str) -> list[Item]:
        return self.partition(f"MSG#{group}")

    def newest_message(self, group: str) -> Item | None:
        page = self.table.query(KeyConditionExpression=Key("pk").eq(f"MSG#{group}"), ScanIndexForward=False,
                                Limit=1, ConsistentRead=True)
        return (page.get("Items") or [None])[0]

    def members(self, group: str) -> set[str]:
        """The group's member uuids as the API finds them (``MessageStore.members_of``, recording nothing): its
        membership item, else the owners of its group rows; empty when it has neither."""
        membership = self.store.members_of(group)
        return set(membership.member_uuids) if membership else set()

    def messages_of_run(self, tag: str, since: str) -> list[Item]:
        """Every message whose text carries the run's tag, and every message written since the run began (a blank
        send carries no tag)."""
        matching = Attr("pk").begins_with("MSG#") & (Attr("message").contains(tag) | Attr("sk").gte(since))
        return [item for page in scan_pages(self.table, ConsistentRead=True, FilterExpression=matching)
                for item in page["Items"]]


class RowWatcher(threading.Thread):
    """Polls every member's ``GRP#`` partition and records, per (member, group), each new ``sk`` and when it was
    first seen (``time.monotonic()``): the time a row reached a message is at most one interval late."""

    def __init__(self, info: StackInfo, member_uuids: list[str], interval: float = WATCH_INTERVAL_SECONDS) -> None:
        super().__init__(name="load-row-watcher", daemon=True)
        self.info = info
        self.member_uuids = member_uuids
        self.interval = interval
        self.seen: dict[tuple[str, str], list[tuple[str, float]]] = defaultdict(list)
        self.failures = 0
        self.lock = threading.Lock()
        self.stopped = threading.Event()

    def run(self) -> None:
        reader = TableReader(self.info)
        while True:
            final = self.stopped.is_set()  # one more look after stop(): what the checks saw, the watcher sees too
            self._poll(reader)
            if final:
                return
            self.stopped.wait(self.interval)

    def _poll(self, reader: TableReader) -> None:
        for member in self.member_uuids:
            try:
                rows = reader.group_rows(member)
            except Exception:  # noqa: BLE001 - a failed poll is counted and the next one tries again
                self.failures += 1
                continue
            now = time.monotonic()
            newest: dict[str, str] = {}
            for row in rows:
                group = row.get("message_group_uuid")
                if isinstance(group, str):
                    newest[group] = max(newest.get(group, ""), row["sk"])
            with self.lock:
                for group, sk in newest.items():
                    history = self.seen[(member, group)]
                    if not history or sk > history[-1][0]:
                        history.append((sk, now))

    def stop(self) -> None:
        self.stopped.set()
        self.join()

    def reached(self, member: str, group: str, created_at: str) -> float | None:
        """When the member's row of the group was first seen at ``created_at`` or later."""
        with self.lock:
            history = list(self.seen.get((member, group), ()))
        index = bisect_left([sk for sk, _ in history], created_at)
        return history[index][1] if index < len(history) else None


@dataclass
class Findings:
    """What the checks found; ``problems`` holds a few examples of each kind of failure."""
    sent: int = 0
    lost: int = 0
    duplicated: int = 0
    mismatched: int = 0
    refused: int = 0
    refused_stored: int = 0
    not_refused: int = 0
    unknown: int = 0
    rate_limited: int = 0
    """Valid sends whose answer was 429 ``rate_limited`` with Retry-After: over the sender's limit, nothing stored."""
    unknown_stored_twice: int = 0
    retries: int = 0
    retries_answered_differently: int = 0
    unsettled: int = 0
    stray_items: int = 0
    responses_checked: int = 0
    leaks: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    starts: int = 0
    pairs: int = 0
    pairs_in_several_groups: int = 0
    groups: int = 0
    groups_converged: int = 0
    converged_after: float | None = None
    lags: list[float] = field(default_factory=list)
    sends_never_reflected: int = 0
    watch_failures: int = 0
    problems: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    @property
    def leaked(self) -> int:
        return sum(self.leaks.values())

    def problem(self, kind: str, detail: str) -> None:
        if len(self.problems[kind]) < SHOWN_PROBLEMS:
            self.problems[kind].append(detail)

    @property
    def passed(self) -> bool:
        return not any((self.lost, self.duplicated, self.mismatched, self.refused_stored, self.not_refused,
                        self.unknown_stored_twice, self.retries_answered_differently, self.unsettled,
                        self.stray_items, self.leaked, self.pairs_in_several_groups,
                        self.groups - self.groups_converged))


def check_sends(sends: list[Send], stored: list[Item], tag: str, findings: Findings) -> None:
    """Every 200 stored exactly once as answered, nothing stored for a refusal, retries wrote nothing new."""
    by_text: dict[str, list[Item]] = defaultdict(list)
    for item in stored:
        by_text[item.get("message", "")].append(item)
    texts = {send.text for send in sends if send.text.strip()}  # a blank text is never anyone's to store
    for send in sends:
        items = by_text.get(send.text, []) if send.text.strip() else []
        where = f"{send.caller} {send.kind} {send.text[:60]!r}"
        if send.must_be_refused:
            if send.outcome == "stored":
                findings.not_refused += 1
                findings.problem("accepted though invalid", where)
            elif send.outcome == "refused":
                findings.refused += 1
                allowed, code = REFUSALS[send.kind]
                last = send.exchanges[-1]
                answered = last.body.get("code") if isinstance(last.body, dict) else None
                if last.status not in allowed or answered != code:
                    findings.not_refused += 1
                    findings.problem("refused otherwise", f"{where}: {last.status} {answered}, not {code}")
            if items:
                findings.refused_stored += 1
                findings.problem("stored though refused", where)
            continue
        if send.outcome == "unknown":
            findings.unknown += 1
            if send.key and len(send.exchanges) > 1:
                findings.unsettled += 1
                findings.problem("idempotent send never settled", f"{where}: {_statuses(send.exchanges)}")
            if len(items) > 1:
                findings.unknown_stored_twice += 1
                findings.problem("duplicated", f"{where}: {len(items)} items")
            continue
        if send.outcome == "refused":
            if is_rate_limited(send.exchanges[-1]):
                findings.rate_limited += 1  # over the sender's limit (the run has few users): nothing may be stored
            else:
                findings.unknown += 1  # a valid send refused: reported with the statuses, nothing may be stored
            if items:
                findings.refused_stored += 1
                findings.problem("stored though refused", where)
            continue
        findings.sent += 1
        response = send.response or {}
        if not items:
            findings.lost += 1
            findings.problem("lost", where)
        elif len(items) > 1:
            findings.duplicated += 1
            findings.problem("duplicated", f"{where}: {[item['sk'] for item in items]}")
        else:
            item = items[0]
            expected = (f"MSG#{send.group}", response.get("uuid"), response.get("created_at"))
            if (item["pk"], item.get("message_uuid"), item["sk"]) != expected:
                findings.mismatched += 1
                findings.problem("stored otherwise than answered",
                                 f"{where}: {(item['pk'], item.get('message_uuid'), item['sk'])} != {expected}")
        if send.retried:
            findings.retries += 1
            if send.retried_response != send.response:
                findings.retries_answered_differently += 1
                findings.problem("retry answered differently", f"{where}: {send.retried_response!r}")
    for text, items in by_text.items():
        if text in texts:
            continue
        if not text.strip():
            findings.refused_stored += len(items)
            findings.problem("stored though refused", f"a blank message in {items[0]['pk']}")
        elif tag in text:
            findings.stray_items += len(items)
            findings.problem("stored but never sent", repr(text[:60]))


def is_rate_limited(exchange: Exchange) -> bool:
    """The answer to a send over its sender's limit: 429 ``rate_limited`` with ``Retry-After``."""
    code = exchange.body.get("code") if isinstance(exchange.body, dict) else None
    return exchange.status == 429 and code == "rate_limited" and bool(exchange.retry_after)


def _statuses(exchanges: list[Exchange]) -> list[str]:
    return [str(exchange.status or exchange.error) for exchange in exchanges]


def check_pairs(sends: list[Send], findings: Findings) -> None:
    """Every start for the same pair of users answered with the same group."""
    groups: dict[frozenset[str], set[str]] = defaultdict(set)
    for send in sends:
        if send.kind == "start" and send.group:
            findings.starts += 1
            groups[frozenset((send.caller, send.body["handle"]))].add(send.group)
    findings.pairs = len(groups)
    for pair, found in groups.items():
        if len(found) > 1:
            findings.pairs_in_several_groups += 1
            findings.problem("one pair, several groups", f"{sorted(pair)}: {sorted(found)}")


@dataclass(frozen=True)
class GroundTruth:
    """What the table says about the groups the run touched."""
    messages: dict[str, dict[str, Item]]  # group -> message uuid -> item
    members: dict[str, set[str]]  # group -> member handles
    cards: dict[str, dict[str, str]]  # handle -> the users-short body


class GroupMembers:
    """A group's members: as the table says (``TableReader.members``), else what the clients learnt from the
    answers to conversation starts."""

    def __init__(self, reader: TableReader, users: list[StackUser]) -> None:
        self.reader = reader
        self.handle_of = {user.uuid: user.handle for user in users}
        self.uuid_of = {user.handle: user.uuid for user in users}
        self.learnt: dict[str, frozenset[str]] = {}
        self.cache: dict[str, set[str]] = {}

    def learn(self, groups: dict[str, frozenset[str]]) -> None:
        self.learnt.update(groups)

    def uuids(self, group: str) -> set[str]:
        if group not in self.cache:
            self.cache[group] = self.reader.members(group) or {self.uuid_of[handle]
                                                               for handle in self.learnt.get(group, ())}
        return self.cache[group]

    def handles(self, group: str) -> set[str]:
        return {self.handle_of.get(member, member) for member in self.uuids(group)}


def ground_truth(reader: TableReader, members: GroupMembers, info: StackInfo, recorder: Recorder) -> GroundTruth:
    """The messages of every group the run read or knew, the members of every group an answer named."""
    read = {exchange.group for exchange in recorder.exchanges if exchange.group} | set(members.learnt)
    listed = {item.get("uuid") for exchange in recorder.exchanges
              if exchange.route == LIST_GROUPS and isinstance(exchange.body, list)
              for item in exchange.body if isinstance(item, dict)}
    started = {send.response.get("message_group_uuid") for send in recorder.sends if send.response}
    return GroundTruth(
        messages={group: {item.get("message_uuid"): item for item in reader.messages(group)}
                  for group in read if _is_uuid(group)},
        members={group: members.handles(group) for group in read | listed | started if _is_uuid(group)},
        cards={user.handle: {"uuid": user.uuid, "handle": user.handle, "display_name": user.display_name}
               for user in info.users})


def _is_uuid(value: Any) -> bool:
    try:
        return isinstance(value, str) and str(uuid.UUID(value)) == value
    except ValueError:
        return False


def check_responses(exchanges: list[Exchange], sends: list[Send], truth: GroundTruth, findings: Findings) -> None:
    for exchange in exchanges:
        if exchange.status != 200:
            continue
        findings.responses_checked += 1
        if exchange.route == LIST_MESSAGES:
            _check_messages_page(exchange, truth, findings)
        elif exchange.route == LIST_GROUPS:
            _check_groups_page(exchange, truth, findings)
        elif exchange.route == USERS_SHORT:
            handle = exchange.path.split("/")[3].removeprefix("@")
            if exchange.body != truth.cards.get(handle):
                _leak(findings, "another user's card", exchange, repr(exchange.body))
    for send in sends:
        for exchange in send.exchanges:
            if exchange.status == 200:
                _check_echo(send, exchange, truth, findings)


def _leak(findings: Findings, kind: str, exchange: Exchange, detail: str) -> None:
    findings.leaks[kind] += 1
    findings.problem(f"leaked: {kind}", f"{exchange.caller} {exchange.method} {_short(exchange.path)}: "
                                        f"{_short(detail)}")


def _short(text: str, length: int = 100) -> str:
    return text if len(text) <= length else text[:length] + "..."


def _check_link(exchange: Exchange, expected_path: str, findings: Findings) -> None:
    if exchange.link is not None and link_path(exchange.link) != expected_path:
        _leak(findings, "Link to another route or group", exchange, exchange.link)


def _check_messages_page(exchange: Exchange, truth: GroundTruth, findings: Findings) -> None:
    group = exchange.group or ""
    _check_link(exchange, f"/api/messages/{group}", findings)
    stored = truth.messages.get(group, {})
    if not isinstance(exchange.body, list):
        return _leak(findings, "a page that is not a list", exchange, repr(exchange.body))
    for message in exchange.body:
        item = stored.get(message.get("uuid")) if isinstance(message, dict) else None
        if item is None or (item.get("message"), item.get("user_handle")) != (message.get("message"),
                                                                            message.get("handle")):
            return _leak(findings, "a message of another group", exchange, repr(message))


def _check_groups_page(exchange: Exchange, truth: GroundTruth, findings: Findings) -> None:
    _check_link(exchange, "/api/message_groups", findings)
    if not isinstance(exchange.body, list):
        return _leak(findings, "a page that is not a list", exchange, repr(exchange.body))
    for group in exchange.body:
        members = truth.members.get(group.get("uuid"), set()) if isinstance(group, dict) else set()
        if exchange.caller not in members or {exchange.caller, group.get("handle")} != members:
            return _leak(findings, "a group of other users", exchange, repr(group))


def _check_echo(send: Send, exchange: Exchange, truth: GroundTruth, findings: Findings) -> None:
    body = exchange.body if isinstance(exchange.body, dict) else {}
    if (body.get("handle"), body.get("message")) != (send.caller, send.text):
        return _leak(findings, "an answer to another send", exchange, repr(body))
    if exchange.route == START or send.kind == "start":
        members = truth.members.get(body.get("message_group_uuid"), set())
        if members != {send.caller, send.body.get("handle")}:
            _leak(findings, "a start answered with another pair's group", exchange, repr(body))
    elif "message_group_uuid" in body:
        _leak(findings, "an answer to another send", exchange, repr(body))


def check_convergence(reader: TableReader, groups: dict[str, set[str]], deadline: float,
                      findings: Findings) -> None:
    """Waits (until ``deadline``) for both rows of every group to stand at the group's newest message."""
    started = time.monotonic()
    pending = dict(groups)
    findings.groups = len(groups)
    lagging: dict[str, str] = {}
    while pending:
        for group, member_uuids in list(pending.items()):
            state = _rows_state(reader, group, member_uuids)
            if state is None:
                del pending[group]
            else:
                lagging[group] = state
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    findings.groups_converged = len(groups) - len(pending)
    findings.converged_after = time.monotonic() - started if not pending else None
    for group in pending:
        findings.problem("not converged", f"{group}: {lagging[group]}")


def _rows_state(reader: TableReader, group: str, member_uuids: set[str]) -> str | None:
    """None when every member has exactly one row of the group, at its newest message; else what is off."""
    newest = reader.newest_message(group)
    if newest is None:
        return "no messages"
    for member in sorted(member_uuids):
        rows = [row for row in reader.group_rows(member) if row.get("message_group_uuid") == group]
        if len(rows) != 1:
            return f"member {member} has {len(rows)} rows"
        if (rows[0]["sk"], rows[0].get("message")) != (newest["sk"], newest.get("message")):
            return f"member {member}'s row at {rows[0]['sk']}, newest message at {newest['sk']}"
    return None


def measure_lags(sends: list[Send], groups: dict[str, set[str]], watcher: RowWatcher, findings: Findings) -> None:
    """From each send's 200 to the moment both of its group's rows were seen at it (or a later message)."""
    findings.watch_failures = watcher.failures
    for send in sends:
        if send.response is None or send.must_be_refused or send.answered_at is None or not send.group:
            continue
        created_at = send.response.get("created_at", "")
        reached = [watcher.reached(member, send.group, created_at) for member in groups.get(send.group, ())]
        if not reached or None in reached:
            findings.sends_never_reflected += 1
            continue
        findings.lags.append(max(0.0, max(reached) - send.answered_at))  # type: ignore[type-var]
