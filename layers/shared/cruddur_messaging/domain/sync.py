"""``GET /api/sync``: what changed for the caller since a token, in bounded pages (docs/http-api.md, "Sync").

**What a token means.** A token holds a version floor ``V`` and a message floor ``T = V - LATE_AFTER``: the client
has seen every change of its group rows with a version up to ``V`` (versions: ``domain.group_row_timeline``) and
every message of its conversations up to ``T``. A sync lists the rows whose version is above ``V`` (one ``Query``
of ``group-row-version-index``), and for each the messages after ``T`` (one ``Query`` of the conversation), or
after just before ``late_from`` when the row records a message applied late since ``V`` (``late_version > V``): a
message at or before ``T`` that was applied after ``V`` was applied more than ``LATE_AFTER`` after it was created,
which is what the stream function records. So nothing the stream function has applied is missed; a message
created after ``T`` and not yet applied is listed too, and again later: clients drop messages they have by uuid.

**Pages.** At most ``CONVERSATIONS_PER_PAGE`` rows and ``MESSAGES_PER_PAGE`` messages a page. While more is
waiting (``complete: false``) the token keeps ``V`` and ``T`` and moves a position over the versions served; a
conversation cut by the message bound continues where it stopped (the continuation), on the next page. A row that
moves (a new message, a read marker) while the pages go gets a higher version, so a later page or the next sync
reports it again: clients keep the higher ``version`` of two copies of a list item.

**The next floor.** A finished sequence hands out ``V' = max(V, q - SETTLE)``, ``q`` the time of its *first*
page: a version is taken just before its write, and the index is eventually consistent, so a row written in the
last ``SETTLE`` before a query may not show yet, while one written earlier does (and so it was served by one of the
pages, or moved since, to a higher version). Rows changed in the last ``SETTLE`` are reported again by the next sync.

**Bounds.** A token whose ``V`` is older than ``SYNC_HORIZON`` is refused with 410 ``reload_required``: the rows
keep a record of a late message only that long. A token that is not one this API issued to this caller is a 400
``invalid_since``. Tokens are signed with the list cursors' key and scheme (``pagination.CursorCodec.seal``); a
list cursor is not a token, nor a token a cursor.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Protocol

from cruddur_messaging.clock import ONE_MICROSECOND, format_timestamp, instant_of
from cruddur_messaging.domain.group_row_timeline import (
    BEFORE_ANY_TIME, LATE_AFTER, SYNC_HORIZON, moment_of_version, version_at, version_of,
)
from cruddur_messaging.domain.list_messages import message_of
from cruddur_messaging.errors import BadRequest, ErrorCode, Gone
from cruddur_messaging.models import MessageGroupSummary, SyncedMessage, SyncPage, User
from cruddur_messaging.pagination import MAX_CURSOR_LENGTH, CursorCodec

Item = dict[str, Any]

SETTLE = timedelta(seconds=30)
"""How long a row's version may be ahead of the index showing it (a version is taken just before its write, and a
global secondary index catches up asynchronously, usually within a second): rows changed this recently are
reported again by the next sync rather than risk one not showing yet."""

CONVERSATIONS_PER_PAGE = 25
"""Rows a page reads from the index (and one more, to know whether more wait): one ``Query`` of messages each, so
a page makes at most 26 requests and answers within the API's 29 s even when each is slow."""

MESSAGES_PER_PAGE = 100
"""Messages a page lists: at most about 100 x 5 KB (1,024 characters, their names and keys), far under Lambda's
6 MB response, and a page a phone parses at once."""

TOKEN_KIND = "sync"
"""The payload key that makes a sealed text a sync token (a list cursor has ``p`` and ``k`` instead)."""


class SyncReads(Protocol):
    def rows_changed_after(self, owner_uuid: str, version: int, limit: int) -> Any:
        """``items`` (the owner's group rows with a version above ``version``, lowest first, at most ``limit``) and
        ``truncated`` (DynamoDB stopped before the end)."""

    def messages_after(self, message_group_uuid: str, after: str | None, limit: int) -> Any:
        """``items`` (the group's messages with ``sk`` above ``after``, oldest first, at most ``limit``) and
        ``has_more``."""


@dataclass(frozen=True)
class Continuation:
    """A conversation cut by the message bound: its messages above ``listed_from`` (None: from the first) and up
    to ``listed_through`` were listed."""

    message_group_uuid: str
    listed_from: str | None
    listed_through: str


@dataclass(frozen=True)
class SyncToken:
    """``floor``: V; ``message_floor``: T (as a version); ``position``: rows up to this version are served in this
    sequence of pages; ``next_floor``: the V of the next sequence, fixed by its first page (None before it)."""

    floor: int
    message_floor: int
    position: int
    next_floor: int | None = None
    continuation: Continuation | None = None

    @classmethod
    def starting_at(cls, floor: int) -> "SyncToken":
        """The first page of a sequence from ``floor`` (V), with ``T = V - LATE_AFTER``."""
        return cls(floor=floor, message_floor=floor - LATE_AFTER // timedelta(microseconds=1), position=floor)


def encode_token(codec: CursorCodec, owner_uuid: str, token: SyncToken) -> str:
    payload: dict[str, Any] = {TOKEN_KIND: owner_uuid, "v": token.floor, "t": token.message_floor,
                               "p": token.position}
    if token.next_floor is not None:
        payload["n"] = token.next_floor
    if token.continuation is not None:
        payload["c"] = [token.continuation.message_group_uuid, token.continuation.listed_from,
                        token.continuation.listed_through]
    return codec.seal(payload)


def decode_token(codec: CursorCodec, owner_uuid: str, text: str, now: datetime) -> SyncToken:
    """The token ``text`` seals; 400 ``invalid_since`` unless this API issued it to ``owner_uuid``, 410
    ``reload_required`` when it is older than ``SYNC_HORIZON``."""
    payload = codec.unseal(text) if 0 < len(text) <= MAX_CURSOR_LENGTH else None
    token = _token_of(payload) if isinstance(payload, dict) and payload.get(TOKEN_KIND) == owner_uuid else None
    if token is None:
        raise BadRequest("`since` is not a sync token of yours: reload, then sync without `since`.",
                         code=ErrorCode.INVALID_SINCE)
    if token.floor < version_at(now - SYNC_HORIZON):
        raise Gone(f"The sync token is over {SYNC_HORIZON.days} days old: reload, then sync without `since`.",
                   code=ErrorCode.RELOAD_REQUIRED)
    return token


def _token_of(payload: dict[str, Any]) -> SyncToken | None:
    numbers = [payload.get(name) for name in ("v", "t", "p")]
    next_floor = payload.get("n")
    if not all(_is_version(number) for number in numbers) or not (next_floor is None or _is_version(next_floor)):
        return None
    continuation = payload.get("c")
    if continuation is not None:
        if not (isinstance(continuation, list) and len(continuation) == 3 and isinstance(continuation[0], str)
                and (continuation[1] is None or isinstance(continuation[1], str)) and isinstance(continuation[2], str)):
            return None
        continuation = Continuation(*continuation)
    floor, message_floor, position = numbers
    return SyncToken(floor, message_floor, position, next_floor, continuation)


def _is_version(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def sync(reads: SyncReads, cursor_codec: Callable[[], CursorCodec], caller: User, since: str | None,
         now: datetime | None = None) -> SyncPage:
    """One page of what changed for ``caller`` since ``since`` (None: a token for now, and nothing read)."""
    now = now or datetime.now(timezone.utc)
    codec = cursor_codec()
    if since is None:
        fresh = SyncToken.starting_at(version_at(now - SETTLE))
        return SyncPage(since=encode_token(codec, caller.uuid, fresh), conversations=[], messages=[], complete=True)
    token = decode_token(codec, caller.uuid, since, now)
    page = _Page(reads, token)
    if page.continue_conversation():
        page.serve_rows(caller.uuid)
    next_floor = token.next_floor if token.next_floor is not None else max(token.floor, version_at(now - SETTLE))
    if page.complete:
        next_token = SyncToken.starting_at(next_floor)
    else:
        next_token = SyncToken(token.floor, token.message_floor, page.position, next_floor, page.continuation)
    messages = sorted(page.messages.values(), key=lambda message: (instant_of(message.created_at) or BEFORE_ANY_TIME,
                                                                   message.uuid))
    return SyncPage(since=encode_token(codec, caller.uuid, next_token), conversations=page.conversations,
                    messages=messages, complete=page.complete)


class _Page:
    """One page while it is served. Only the conversation a page serves first may be cut by the message bound
    (a later one that does not fit is left whole to the next page), so a token carries at most one continuation;
    a page that has one lists it first, whether or not the index shows its row now (the row may have moved, and
    its new place not show yet), so a cut conversation is always finished."""

    def __init__(self, reads: SyncReads, token: SyncToken) -> None:
        self.reads = reads
        self.token = token
        self.position = token.position
        self.listed = token.continuation
        """What this page knows is listed of one conversation: its rows list only what follows."""
        self.continuation: Continuation | None = None
        self.conversations: list[MessageGroupSummary] = []
        self.messages: dict[str, SyncedMessage] = {}
        self.budget = MESSAGES_PER_PAGE
        self.complete = True

    def continue_conversation(self) -> bool:
        """Lists the rest of the conversation the last page cut; False when the page is full with it."""
        listed = self.listed
        if listed is None:
            return True
        found = self.list_messages(listed.message_group_uuid, listed.listed_through)
        last = found.items[-1]["sk"] if found.items else listed.listed_through
        self.listed = Continuation(listed.message_group_uuid, listed.listed_from, last)
        if found.has_more or self.budget == 0:
            self.continuation, self.complete = self.listed, False
            return False
        return True

    def serve_rows(self, owner_uuid: str) -> None:
        found = self.reads.rows_changed_after(owner_uuid, self.position, CONVERSATIONS_PER_PAGE + 1)
        rows = whole_versions(found.items)
        if len(found.items) > len(rows) or found.truncated:
            self.complete = False
        for index, row in enumerate(rows):
            if row.get("message_group_uuid") and not self.serve_row(row, first=index == 0):
                self.complete = False
                return
            self.position = version_of(row)

    def serve_row(self, row: Item, first: bool) -> bool:
        """Lists the row and its messages; False when they do not fit: the first row is cut (the continuation says
        where), any other is left to the next page."""
        if self.budget == 0:
            return False
        group = row["message_group_uuid"]
        after = listed_from = message_floor_of(row, self.token)
        listed = self.listed
        if listed is not None and listed.message_group_uuid == group and covers(listed.listed_from, after):
            after, listed_from = listed.listed_through, listed.listed_from
        found = self.reads.messages_after(group, after, self.budget)
        if found.has_more and not first:
            return False
        self.conversations.append(MessageGroupSummary.of_row(row))
        self.add_messages(group, found.items)
        if found.has_more:
            self.continuation = Continuation(group, listed_from, found.items[-1]["sk"])
            return False
        return True

    def list_messages(self, group: str, after: str | None) -> Any:
        found = self.reads.messages_after(group, after, self.budget)
        self.add_messages(group, found.items)
        return found

    def add_messages(self, group: str, items: list[Item]) -> None:
        for item in items:
            message = SyncedMessage(**asdict(message_of(item)), message_group_uuid=group)
            self.messages[message.uuid] = message
        self.budget -= len(items)


def whole_versions(rows: list[Item]) -> list[Item]:
    """The rows a page serves of the index's answer (asked for one more than a page): at most a page, and never
    only some of the rows that share a version, since the next page starts above the last version served. (More
    than a page of one owner's rows with one version would take that many writes in the same microsecond.)"""
    if len(rows) <= CONVERSATIONS_PER_PAGE:
        return rows
    page, beyond = rows[:CONVERSATIONS_PER_PAGE], version_of(rows[CONVERSATIONS_PER_PAGE])
    whole = [row for row in page if version_of(row) < beyond]
    return whole or page


def message_floor_of(row: Item, token: SyncToken) -> str | None:
    """The ``sk`` the row's messages are listed after: ``T``, or just before ``late_from`` when the row records a
    late message applied since ``V``; None (from the first) when that record cannot be read."""
    after = sk_of_version(token.message_floor)
    if version_of({"version": row.get("late_version")}) > token.floor and row.get("late_from"):
        late_from = instant_of(row["late_from"])
        if late_from is None:
            return None
        after = min(after, format_timestamp(late_from - ONE_MICROSECOND))
    return after


def covers(listed_from: str | None, after: str | None) -> bool:
    """Whether messages listed from ``listed_from`` cover those after ``after`` (None: from the first)."""
    return listed_from is None or (after is not None and after >= listed_from)


def sk_of_version(version: int) -> str:
    return format_timestamp(moment_of_version(version))
