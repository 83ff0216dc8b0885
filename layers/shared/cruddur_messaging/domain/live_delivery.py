"""Fan-out: every new, edited or deleted message, every conversation list change, every read marker that moves
and every change of a member's unread totals, to the open connections it concerns.

**Where it runs.** In ``LiveDeliveryFunction``, a second consumer of the table's stream with its own event
source mapping and filter (inserts and updates of ``MSG#`` items, inserts and updates of ``GRP#`` rows, removals of
``GRP#`` rows that held unread messages), chosen over the alternatives:

- *in the send path* (create-message posting before it answers): every send would wait for the slowest of both
  members' connections, and a management API outage would fail or slow sends; rejected;
- *in the stream function*: one invocation less, but a 410 storm or a throttled connection would delay or fail
  the group-row moves (its records would be retried), and the two jobs would share one role and one retry
  policy; rejected;
- *a second stream consumer*: its failures and retries are its own (at most five retries within one minute of
  record age, no failure queue: a frame that old is no longer live, and clients resync through the HTTP API), its
  role holds only what delivery needs, and latency is one stream hop, the same as for the list rows. DynamoDB
  Streams serves two consumers per shard without throttling; a third would need a fan-out (EventBridge Pipes, Kinesis).

**What it sends.** An inserted ``MSG#`` item becomes ``message.created`` to every connection of both members
(found through the membership item, or the group rows for a tutorial-era group, cached per container: a
group's members never change). An updated ``MSG#`` item - its sender edited or deleted it (``domain.edit_messages``)
- becomes ``message.updated`` (the message as lists show it, with ``edited_at``) or ``message.deleted`` (its uuid and
``deleted_at``, no text) to the same connections. An inserted or updated ``GRP#`` row - the stream function moved
it or counted a message unread, the owner marked it read, a new conversation wrote it - becomes
``conversation.updated`` to every connection of its owner, the row being exactly their list-groups item (read state
included). So the list frame follows the list itself, and costs no read but the owner's connections.

**Unread frames** (the badge). A record that changes the ``unread_count`` of a row (``unread_owner_of``) sends
``unread`` - the owner's totals, exactly as ``GET /api/message_groups/unread`` answers them - to every connection of
the owner. The totals are read the badge's way (``ReadStateStore.unread_totals``, one ``Query`` of the owner's rows
returning only the counts), but strongly consistently, once per owner per batch and only for an owner with open
connections: a batch's records were all written before the batch was read, so one read after them sees them all,
and the last frame an owner gets was read after the last write that changed their counts: it equals the badge
once the rows settle. A move is a transaction that puts the new row (an ``INSERT``) and deletes the old one (a
``REMOVE``): the insert alone cannot tell a count that went from 3 to 0 (a sender who replies without marking read
first; sending marks read) from one that was 0 already, so the mapping also passes the removal of a row whose old
image has a count other than 0 (its filter cannot compare numbers: a record's ``N`` is a string, so the filter is
``anything-but "0"``), and nothing else about removals reaches this function. A move from 0 to 0 - the sender's
row, every send - thus costs nothing.

**Read frames** ("Seen"). The table's stream carries old and new images (``NEW_AND_OLD_IMAGES``), so an updated
group row says whether its owner's ``last_read_at`` moved forward; when it did, the *other* member (the row's
``user_uuid``) gets ``read`` with the owner's handle. Marking read is an in-place ``UpdateItem`` that only ever
moves the marker forward (``domain.group_row_timeline``), so each marker move is exactly one such record; a
request that changes nothing writes nothing, and no record follows. Mark-read itself stays within its two
requests. The owner's handle is not on
their own row (a row names the other member) but on the other member's row of the group: every group row that
passes through here teaches the container the handle it names, and a handle not seen yet costs one query of
the group's rows through the index (both handles at once), remembered per container like the members.

*Sending marks read*, but sends no ``read`` frame: the stream function moves the sender's row to a new key
(a delete and a put, not an update), and the other member already gets the sender's ``message.created``, which
says more (a reply; a "Seen" under one's own last message has no place once the other has answered). A new
conversation's transaction writes the sender's row read up to the first message (an insert, as the recipient's
row with its one unread), and the stream function then finds both rows exact and writes nothing: each member gets
one ``conversation.updated``, with the right count, and no ``read`` frame. Where the stream function writes a
marker in place - a record of the owner's own message arriving after a newer one, or one at or before the time
of a row written without read state (``bin/ddb/seed``'s) - the record is an update like mark-read's and
cannot be told from one without a read or an extra attribute, so it does send a ``read`` frame; it is true (a
sender has read what came before their message), and clients apply it as any other. A replayed older record
rewrites a row in place with only a new version (``domain.group_row_timeline``): its owner gets the same item
again with the higher version.
A record without an old image (written while the stream was ``NEW_IMAGE``) sends no ``read`` frame: whether the
marker moved cannot be told.

**Guarantees.** Records are delivered in stream order, one after another (each to all its connections in
parallel; a connection's frames of one record, its list item then its badge, one after another), so frames of a
conversation arrive in order. What becomes of a frame is settled per connection, within
the invocation, and never fails the record for the other connections (``data.connection_gateway`` bounds each post
to a few seconds and never retries one):

- 410: the connection is gone; its item is deleted on the spot;
- a permanent refusal (403, 413, 400): the frame is dropped for that connection;
- not taken now (429: throttled, or its client's buffer full; a timeout; the endpoint unreachable; a 5xx): the
  frame is dropped for that connection, it gets nothing more in this invocation, and it is closed
  (``DeleteConnection``) and its item forgotten, so that its client reconnects and resyncs through the HTTP API
  instead of silently missing frames. A close that fails keeps the item: the next frame tries again.

A record is retried only when its frames cannot be worked out: a DynamoDB failure (members, handles, connections, an
owner's totals) or a reader's handle not in the index yet. Both happen before any frame of the record is posted, and
the record is reported as the batch's item failure: Lambda checkpoints the records before it and resumes from it, so
nothing after it overtakes it and a retry sends only what was not sent. Only a crashed invocation (a bug, the
function's timeout) sends frames again (at least once: frames carry uuids, clients drop duplicates; a ``read`` frame
again carries the same marker). A record that appears twice in one batch is delivered once.
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable

from aws_lambda_powertools.metrics import MetricUnit
from boto3.dynamodb.types import TypeDeserializer

from cruddur_messaging.data import keys
from cruddur_messaging.data.connection_gateway import Closing, ConnectionGateway, Delivery
from cruddur_messaging.data.connections import ConnectionStore
from cruddur_messaging.data.messages import MessageStore
from cruddur_messaging.data.read_state import ReadStateStore
from cruddur_messaging.domain.list_messages import message_of
from cruddur_messaging.errors import DependencyUnavailable
from cruddur_messaging.models import (
    DeletedMessage,
    LiveConnection,
    MessageGroupSummary,
    UnreadBadge,
    conversation_updated_frame,
    message_created_frame,
    message_deleted_frame,
    message_updated_frame,
    read_frame,
    unread_frame,
)
from cruddur_messaging.observability import logger, metrics

# A connection recorded this recently may still be in its handshake, when the management API answers 410 too.
HANDSHAKE_GRACE = timedelta(seconds=10)
# Groups whose members (and members' handles) a warm container remembers (they never change; the bound only caps
# memory).
MEMBER_CACHE_SIZE = 10_000
# Parallel posts per record: one member's many tabs, or two members, do not queue behind each other.
POST_CONCURRENCY = 16
# A record is not started with less time than this left; it is redelivered instead.
DEADLINE_MARGIN_MILLIS = 3_000

Record = dict[str, Any]
_deserializer = TypeDeserializer()


@dataclass(frozen=True)
class Frame:
    """A frame and who gets it: every connection of each of ``recipients``."""

    recipients: tuple[str, ...]
    body: dict[str, Any]


class HandleNotIndexedYet(Exception):
    """The group's rows in the index do not name the reader yet (a group created a moment ago): the record is
    retried, as for any transient failure."""


def frames_of(record: Record, members_of: Callable[[str], frozenset[str]],
              handles: MemberHandles) -> list[Frame]:
    """The frames a stream record announces: none for anything but an inserted, edited or deleted message or an
    inserted or updated group row, or an image without the attributes a frame needs."""
    stream = record.get("dynamodb") or {}
    event_name = record.get("eventName")
    if event_name not in ("INSERT", "MODIFY") or "NewImage" not in stream:
        return []
    item = _image(stream["NewImage"])
    pk = str(item.get("pk", ""))
    try:
        if pk.startswith(keys.MESSAGE_PREFIX):
            group_uuid = keys.group_of_messages_pk(pk)
            body = _message_frame(group_uuid, event_name, stream.get("OldImage"), item)
            return [Frame(tuple(sorted(members_of(group_uuid))), body)] if body else []
        if pk.startswith(keys.GROUP_ROW_PREFIX):
            handles.learn(item)
            owner_uuid = keys.owner_of_group_rows_pk(pk)
            frames = [Frame((owner_uuid,), conversation_updated_frame(MessageGroupSummary.of_row(item)))]
            if event_name == "MODIFY" and _marker_moved(stream.get("OldImage"), item):
                group_uuid = item["message_group_uuid"]
                frames.append(Frame((item["user_uuid"],),
                                    read_frame(group_uuid, handles(group_uuid, owner_uuid), item["last_read_at"])))
            return frames
    except KeyError as missing:
        logger.warning("stream record without what its frame needs",
                       extra={"missing": str(missing), "event_id": record.get("eventID")})
    return []


def _message_frame(group_uuid: str, event_name: str, old_image: dict[str, Any] | None,
                   item: dict[str, Any]) -> dict[str, Any] | None:
    """The frame of a ``MSG#`` record: an insert is ``message.created``; an update that deleted the message (its
    new image has ``deleted_at``, its old one had not) is ``message.deleted``; one that edited it (``edited_at`` or
    the text changed) is ``message.updated``, the message as lists show it. Anything else (a write that changed
    neither) sends nothing. Without an old image (written while the stream was ``NEW_IMAGE``) an update is taken
    for what its new image says: a delivered frame again is harmless, clients apply it as the same state."""
    if event_name == "INSERT":
        return message_created_frame(group_uuid, message_of(item))
    old = _image(old_image) if old_image else {}
    if "deleted_at" in item:
        if "deleted_at" in old:
            return None
        return message_deleted_frame(DeletedMessage(message_group_uuid=group_uuid, uuid=item["message_uuid"],
                                                    deleted_at=item["deleted_at"]))
    if "edited_at" in item and (old.get("edited_at"), old.get("message")) != (item["edited_at"], item.get("message")):
        return message_updated_frame(group_uuid, message_of(item))
    return None


def unread_owner_of(record: Record) -> str | None:
    """The owner of the group row whose ``unread_count`` the record changed (an insert: from none; a removal: to
    none; an update: old image against new), or None. An update without an old image (written while the stream was
    ``NEW_IMAGE``) cannot be told: its owner, to be safe. A row without the attribute counts 0, as the badge counts
    it."""
    stream = record.get("dynamodb") or {}
    pk = str((stream.get("Keys") or {}).get("pk", {}).get("S", ""))
    event_name = record.get("eventName")
    if not pk.startswith(keys.GROUP_ROW_PREFIX) or event_name not in ("INSERT", "MODIFY", "REMOVE"):
        return None
    if event_name == "MODIFY" and "OldImage" not in stream:
        return keys.owner_of_group_rows_pk(pk)
    if _unread_count(stream.get("OldImage")) == _unread_count(stream.get("NewImage")):
        return None
    return keys.owner_of_group_rows_pk(pk)


def _unread_count(image: dict[str, Any] | None) -> int:
    return int(_image(image).get("unread_count") or 0) if image else 0


def _marker_moved(old_image: dict[str, Any] | None, row: dict[str, Any]) -> bool:
    """Whether the row's ``last_read_at`` is ahead of the old image's. Markers are canonical timestamps, compared
    as text as mark-read's own condition compares them. Without an old image it cannot be told: False."""
    marker = row.get("last_read_at")
    if old_image is None or not isinstance(marker, str):
        return False
    before = _image(old_image).get("last_read_at")
    return not isinstance(before, str) or marker > before


def _image(image: dict[str, Any]) -> dict[str, Any]:
    return {name: _deserializer.deserialize(value) for name, value in image.items()}


class GroupMembers:
    """Who belongs to a group, remembered per container."""

    def __init__(self, store: MessageStore, capacity: int = MEMBER_CACHE_SIZE) -> None:
        self._store = store
        self._capacity = capacity
        self._members: dict[str, frozenset[str]] = {}

    def __call__(self, message_group_uuid: str) -> frozenset[str]:
        cached = self._members.get(message_group_uuid)
        if cached is not None:
            return cached
        membership = self._store.members_of(message_group_uuid)
        if membership is None:
            return frozenset()  # not remembered: a group whose membership is still being written
        if len(self._members) >= self._capacity:
            self._members.clear()
        self._members[message_group_uuid] = membership.member_uuids
        return membership.member_uuids


class MemberHandles:
    """The handle each member of a group goes by in the group's rows (on the other member's row, so the handle
    the other member's list shows), remembered per container: handles on the rows never change."""

    def __init__(self, store: MessageStore, capacity: int = MEMBER_CACHE_SIZE) -> None:
        self._store = store
        self._capacity = capacity
        self._handles: dict[tuple[str, str], str] = {}

    def learn(self, row: dict[str, Any]) -> None:
        """A group row names the other member and their handle: remembered at no cost."""
        group_uuid, user_uuid, handle = row.get("message_group_uuid"), row.get("user_uuid"), row.get("user_handle")
        if isinstance(group_uuid, str) and isinstance(user_uuid, str) and isinstance(handle, str):
            self._remember(group_uuid, user_uuid, handle)

    def __call__(self, message_group_uuid: str, user_uuid: str) -> str:
        handle = self._handles.get((message_group_uuid, user_uuid))
        if handle is None:
            for named_uuid, named_handle in self._store.handles_named_in_group_rows(message_group_uuid).items():
                self._remember(message_group_uuid, named_uuid, named_handle)
            handle = self._handles.get((message_group_uuid, user_uuid))
        if handle is None:
            raise HandleNotIndexedYet(message_group_uuid)
        return handle

    def _remember(self, message_group_uuid: str, user_uuid: str, handle: str) -> None:
        if len(self._handles) >= self._capacity:
            self._handles.clear()
        self._handles[(message_group_uuid, user_uuid)] = handle


@dataclass
class DeliveryCounts:
    delivered: int = 0
    gone: int = 0
    rejected: int = 0
    failed: int = 0
    skipped: int = 0
    """Frames not posted: their connection failed to take an earlier one in the same invocation."""
    closed: int = 0
    """Connections closed and forgotten for failing to take a frame."""
    not_closed: int = 0

    def add(self, outcome: Delivery) -> None:
        setattr(self, outcome.value, getattr(self, outcome.value) + 1)


@dataclass
class LiveDelivery:
    """Delivers one batch of stream records; a new one per invocation (it caches connections per batch), over the
    container's clients, member and handle caches and post pool (``containers.LiveDeliveryContainer``)."""

    connections: ConnectionStore
    gateway: ConnectionGateway
    members_of: Callable[[str], frozenset[str]]
    handles: MemberHandles
    read_states: ReadStateStore
    executor: ThreadPoolExecutor
    now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
    counts: DeliveryCounts = field(default_factory=DeliveryCounts)
    _connections_of: dict[str, list[LiveConnection]] = field(default_factory=dict, init=False)
    _dropped: set[str] = field(default_factory=set, init=False)
    _totals_sent: set[str] = field(default_factory=set, init=False)
    """Owners whose unread totals this batch has read and sent (once per batch: ``unread_owner_of``)."""
    _closing: list[tuple[LiveConnection, Future[Closing]]] = field(default_factory=list, init=False)

    def deliver(self, records: Iterable[Record], remaining_millis: Callable[[], int] | None = None) -> dict[str, Any]:
        """The partial batch response: empty, or the first record none of whose frames was posted because they
        could not be worked out (Lambda resumes from it)."""
        try:
            return self._deliver(records, remaining_millis)
        finally:
            self._finish_closing()

    def publish_metrics(self) -> None:
        for name, value in (("FramesDelivered", self.counts.delivered), ("ConnectionsGone", self.counts.gone),
                            ("FramesRejected", self.counts.rejected), ("FramesFailed", self.counts.failed),
                            ("FramesSkipped", self.counts.skipped), ("SlowConnectionsClosed", self.counts.closed),
                            ("SlowConnectionsNotClosed", self.counts.not_closed)):
            if value:
                metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)

    def _deliver(self, records: Iterable[Record], remaining_millis: Callable[[], int] | None) -> dict[str, Any]:
        seen: set[str] = set()
        for record in records:
            event_id = str(record.get("eventID", ""))
            if event_id and event_id in seen:
                continue
            seen.add(event_id)
            if remaining_millis is not None and remaining_millis() < DEADLINE_MARGIN_MILLIS:
                return _failure(record)
            try:
                targets = self._targets(record)
            except HandleNotIndexedYet as not_yet:
                logger.info("reader's handle not in the group index yet; the record is retried",
                            extra={"message_group_uuid": str(not_yet), "event_id": event_id})
                return _failure(record)
            except DependencyUnavailable:
                return _failure(record)
            self._post(targets)
        return {"batchItemFailures": []}

    def _targets(self, record: Record) -> list[tuple[LiveConnection, dict[str, Any]]]:
        """Every (connection, frame) the record makes: all of the record's reads, before anything is posted."""
        targets = [(connection, frame.body) for frame in frames_of(record, self.members_of, self.handles)
                   for user_uuid in frame.recipients for connection in self._connections(user_uuid)]
        owner_uuid = unread_owner_of(record)
        if owner_uuid is not None and owner_uuid not in self._totals_sent and self._connections(owner_uuid):
            conversations, messages = self.read_states.unread_totals(owner_uuid, consistent=True)
            self._totals_sent.add(owner_uuid)
            body = unread_frame(UnreadBadge(conversations=conversations, messages=messages))
            targets += [(connection, body) for connection in self._connections(owner_uuid)]
        return targets

    def _post(self, targets: list[tuple[LiveConnection, dict[str, Any]]]) -> None:
        """Posts to the connections in parallel, and a connection's frames of the record in order, one after another
        (its list item before its badge), stopping at the first it does not take; whatever a connection answers
        is settled for that connection alone."""
        frames_by_connection: dict[str, tuple[LiveConnection, list[dict[str, Any]]]] = {}
        for connection, body in targets:
            frames_by_connection.setdefault(connection.connection_id, (connection, []))[1].append(body)
        postable = [entry for connection_id, entry in frames_by_connection.items()
                    if connection_id not in self._dropped]
        posted = list(self.executor.map(lambda entry: self._post_in_order(*entry), postable))
        self.counts.skipped += len(targets) - sum(len(outcomes) for outcomes in posted)
        for (connection, _), outcomes in zip(postable, posted):
            for outcome in outcomes:
                self.counts.add(outcome)
            outcome = outcomes[-1]
            if outcome is Delivery.GONE:
                self._forget_gone(connection)
            elif outcome is Delivery.FAILED and connection.connection_id not in self._dropped:
                self._dropped.add(connection.connection_id)
                self._closing.append((connection, self.executor.submit(self.gateway.close,
                                                                       connection.connection_id)))

    def _post_in_order(self, connection: LiveConnection, bodies: list[dict[str, Any]]) -> list[Delivery]:
        """The connection's frames one after another, up to the first that finds it gone or does not get through (the
        others are skipped; a frame refused for good is only that frame): the outcome of each frame posted. Runs in
        the pool: it counts nothing itself."""
        outcomes: list[Delivery] = []
        for body in bodies:
            outcomes.append(self.gateway.post(connection.connection_id, body))
            if outcomes[-1] in (Delivery.GONE, Delivery.FAILED):
                break
        return outcomes

    def _connections(self, user_uuid: str) -> list[LiveConnection]:
        if user_uuid not in self._connections_of:
            self._connections_of[user_uuid] = self.connections.of_user(user_uuid, self.now())
        return self._connections_of[user_uuid]

    def _forget_gone(self, connection: LiveConnection) -> None:
        self._connections_of[connection.user_uuid] = [
            known for known in self._connections_of.get(connection.user_uuid, [])
            if known.connection_id != connection.connection_id]
        try:
            self.connections.remove_gone(connection, connected_before=self.now() - HANDSHAKE_GRACE)
        except DependencyUnavailable:
            # Frames went out already: the record is not failed for it. The next delivery, or the TTL, removes it.
            logger.warning("a gone connection's item was not deleted")

    def _finish_closing(self) -> None:
        """Waits for the closes (bounded as posts are) and forgets the connections closed; a table resource is not
        shared with the pool's threads, so the items are deleted here."""
        for connection, closing in self._closing:
            if closing.result() is Closing.FAILED:
                self.counts.not_closed += 1
                continue
            self.counts.closed += 1
            try:
                self.connections.remove(connection.user_uuid, connection.connection_id)
            except DependencyUnavailable:
                logger.warning("a closed connection's item was not deleted")  # its TTL deletes it
        if self._closing:
            logger.info("connections that did not take a frame were closed",
                        extra={"closed": self.counts.closed, "not_closed": self.counts.not_closed})
        self._closing.clear()


def _failure(record: Record) -> dict[str, Any]:
    return {"batchItemFailures": [{"itemIdentifier": record["dynamodb"]["SequenceNumber"]}]}
