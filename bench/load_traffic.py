"""The clients of ``make load``: the frontend's mix of requests over HTTP, every exchange recorded for the checks.

Each client signs in as one of the local users, does every action once, then until the deadline picks its next
action at random with the weights of :data:`MIX`: list its conversations (sometimes a page at a time, following the
``Link`` header), open one (sometimes following ``Link`` to older messages), send into one of its groups (some with
an ``Idempotency-Key``, some of those retried with the same key, some abandoned before the answer and retried until
settled, as a client whose response was lost does), start or resume a conversation by handle (pattern D), look a
user up, or send something the API must refuse. Under injected faults (``retry_failures``) every valid send carries
an ``Idempotency-Key`` and every send answered 5xx, or not answered at all, is retried with the same key and body
after a backoff, as a real client does; a 409 or 503 is retried after its ``Retry-After``. A client keeps trying for
``settle_seconds`` (the send function's ``Timeout`` and then one more invocation, see ``bench.load``). Every message
text is unique and names its run, client, sender and sequence number, so the checks find each send in the table.
"""
from __future__ import annotations

import random
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlsplit

import requests

from devtools.local_stack.stack_file import StackUser

LIST_GROUPS = "GET /api/message_groups"
LIST_MESSAGES = "GET /api/messages/{message_group_uuid}"
SEND = "POST /api/messages (into a group)"
START = "POST /api/messages (by handle)"
RETRY = "POST /api/messages (same Idempotency-Key)"
REFUSED = "POST /api/messages (must be refused)"
ABANDONED = "POST /api/messages (answer not awaited)"
USERS_SHORT = "GET /api/users/{handle}/short"
ROUTES = (LIST_GROUPS, LIST_MESSAGES, SEND, START, RETRY, REFUSED, ABANDONED, USERS_SHORT)

# (action, weight): reads dominate, as in the frontend; a few sends of every kind.
MIX = (("list_groups", 24), ("open_conversation", 26), ("send", 20), ("send_keyed", 4), ("send_keyed_retried", 4),
       ("send_lost_response", 2), ("start", 6), ("users_short", 8), ("refused", 6))
MESSAGE_MAX_CHARS = 1024  # docs/errors.md: over 1024 characters is a 422
REQUEST_TIMEOUT = (5.0, 30.0)  # connect, read (seconds)
LOST_RESPONSE_READ_TIMEOUT = 0.001  # the request goes out, the client gives up before the answer
RETRY_PAUSE_SECONDS = 0.25  # when a 409 or 503 names no Retry-After; the first backoff after a 5xx
MAX_RETRY_PAUSE_SECONDS = 2.0
# A refused send: its kind, the statuses the contract allows, and the code the API gives.
REFUSALS = {
    "blank": ({422}, "message_blank"),
    "too_long": ({422}, "message_exceed_max_chars"),
    "not_a_member": ({403, 404}, "message_group_not_found"),
    "malformed_group": ({400}, "invalid_message_group_uuid"),
}


@dataclass
class Exchange:
    """One request and its answer (``status`` None: no answer, see ``error``)."""
    route: str
    method: str
    path: str
    caller: str | None
    status: int | None
    seconds: float
    body: Any = None
    link: str | None = None
    retry_after: str | None = None
    error: str | None = None  # the client's exception, by name
    group: str | None = None  # the group a list-messages request asked for
    detail: str | None = None  # the client's exception, in words


@dataclass
class Send:
    """A POST /api/messages and what became of it: ``stored`` (a 200), ``refused`` (a 4xx) or ``unknown``."""
    kind: str  # "group", "start" or a key of REFUSALS
    caller: str
    text: str
    body: dict[str, str]
    key: str | None = None
    group: str | None = None  # the group asked for, or for a start the one the 200 named
    exchanges: list[Exchange] = field(default_factory=list)
    answered_at: float | None = None  # time.monotonic() of the first 200
    response: dict[str, Any] | None = None
    retried_response: Any = None  # the answer to the retry with the same key (send_keyed_retried)
    retried: bool = False

    @property
    def outcome(self) -> str:
        if self.response is not None:
            return "stored"
        if self.exchanges and self.exchanges[-1].status is not None and 400 <= self.exchanges[-1].status < 500 \
                and self.exchanges[-1].status != 409:
            return "refused"
        return "unknown"

    @property
    def must_be_refused(self) -> bool:
        return self.kind in REFUSALS


class Directory:
    """What the clients know of the groups: the seeded group, and every group a conversation start answered."""

    def __init__(self, members_of: dict[str, frozenset[str]]) -> None:
        self._lock = threading.Lock()
        self._members = dict(members_of)

    def add(self, group: str, members: frozenset[str]) -> None:
        with self._lock:
            self._members.setdefault(group, members)

    def groups_of(self, handle: str) -> list[str]:
        with self._lock:
            return sorted(group for group, members in self._members.items() if handle in members)

    def groups_without(self, handle: str) -> list[str]:
        with self._lock:
            return sorted(group for group, members in self._members.items() if handle not in members)

    def all(self) -> dict[str, frozenset[str]]:
        with self._lock:
            return dict(self._members)


@dataclass
class Recorder:
    """Everything the clients saw, appended from many threads."""
    exchanges: list[Exchange] = field(default_factory=list)
    sends: list[Send] = field(default_factory=list)
    failed_attempts: int = 0  # under injected faults: sends answered 5xx or not at all, each retried
    lock: threading.Lock = field(default_factory=threading.Lock)

    def exchange(self, exchange: Exchange) -> Exchange:
        with self.lock:
            self.exchanges.append(exchange)
        return exchange

    def send(self, send: Send) -> Send:
        with self.lock:
            self.sends.append(send)
        return send

    def failed_attempt(self) -> None:
        with self.lock:
            self.failed_attempts += 1


class LoadClient:
    """One simulated frontend user: a keep-alive HTTP session that acts until the deadline."""

    def __init__(self, *, number: int, run_id: str, api_url: str, user: StackUser, token: str,
                 users: list[StackUser], directory: Directory, recorder: Recorder, rng: random.Random,
                 deadline: float, settle_seconds: float, retry_failures: bool = False) -> None:
        self.number = number
        self.run_id = run_id
        self.api_url = api_url.rstrip("/")
        self.user = user
        self.users = users
        self.directory = directory
        self.recorder = recorder
        self.rng = rng
        self.deadline = deadline
        self.settle_seconds = settle_seconds
        self.retry_failures = retry_failures
        self.sequence = 0
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.actions: dict[str, Callable[[], None]] = {
            "list_groups": self.list_groups, "open_conversation": self.open_conversation, "send": self.send,
            "send_keyed": self.send_keyed, "send_keyed_retried": self.send_keyed_retried,
            "send_lost_response": self.send_lost_response, "start": self.start, "users_short": self.users_short,
            "refused": self.refused,
        }

    def run(self) -> None:
        """Every action once, in random order (so that even a short run does each kind), then the mix."""
        names, weights = zip(*MIX)
        try:
            for name in self.rng.sample(names, len(names)):
                self.actions[name]()
            while time.monotonic() < self.deadline:
                self.actions[self.rng.choices(names, weights)[0]]()
        finally:
            self.session.close()

    # --- reads ---------------------------------------------------------------------------------------------

    def list_groups(self) -> None:
        # The frontend asks for the default page; a client paging through asks for one item at a time.
        path = "/api/message_groups" + (f"?limit={self.rng.choice((1, 2))}" if self.rng.random() < 0.4 else "")
        self._follow_links(LIST_GROUPS, path, None)

    def open_conversation(self) -> None:
        groups = self.directory.groups_of(self.user.handle)
        if not groups:
            return self.start()
        group = self.rng.choice(groups)
        limit = self.rng.choice((None, None, 5, 10))
        path = f"/api/messages/{group}" + (f"?limit={limit}" if limit else "")
        self._follow_links(LIST_MESSAGES, path, group)

    def _follow_links(self, route: str, path: str, group: str | None) -> None:
        """The first page, then (sometimes, up to three times) the page its ``Link`` announces."""
        for _ in range(4):
            exchange = self._request(route, "GET", path, group=group)
            if exchange.status != 200 or not exchange.link or self.rng.random() < 0.5:
                return
            if link_path(exchange.link) != urlsplit(path).path:
                return  # a Link to another route or group: the checks report it, a client would not follow it
            path = link_target(exchange.link) or ""

    def users_short(self) -> None:
        handle = self.rng.choice(self.users).handle
        self._request(USERS_SHORT, "GET", f"/api/users/@{handle}/short", authorized=False)

    # --- sends ---------------------------------------------------------------------------------------------

    def send(self, *, key: str | None = None) -> Send | None:
        groups = self.directory.groups_of(self.user.handle)
        if not groups:
            self.start()
            return None
        group = self.rng.choice(groups)
        text = self._text("into a group")
        send = self.recorder.send(Send("group", self.user.handle, text, {"message": text, "message_group_uuid": group},
                                       key=key or self._fault_key(), group=group))
        self._post(SEND, send)
        return send

    def send_keyed(self) -> None:
        self.send(key=str(uuid.uuid4()))

    def send_keyed_retried(self) -> None:
        """Sends with a key, then again with the same key and body: the second answer must be the first."""
        send = self.send(key=str(uuid.uuid4()))
        if send is None or send.response is None:
            return
        send.retried = True
        retry = self._post(RETRY, send, record=False)
        send.retried_response = retry.body if retry.status == 200 else retry.status

    def send_lost_response(self) -> None:
        """Gives up on the answer right after sending, then retries with the same key until one arrives."""
        groups = self.directory.groups_of(self.user.handle)
        if not groups:
            return self.start()
        group = self.rng.choice(groups)
        text = self._text("answer lost, retried")
        send = self.recorder.send(Send("group", self.user.handle, text, {"message": text, "message_group_uuid": group},
                                       key=str(uuid.uuid4()), group=group))
        self._settle(send, self._post_once(ABANDONED, send, read_timeout=LOST_RESPONSE_READ_TIMEOUT), lost=True)

    def start(self) -> None:
        others = [user for user in self.users if user.handle != self.user.handle]
        other = self.rng.choice(others)
        text = self._text(f"to @{other.handle}")
        send = self.recorder.send(Send("start", self.user.handle, text, {"message": text, "handle": other.handle},
                                       key=self._fault_key()))
        self._post(START, send)
        if send.response is not None and isinstance(send.response.get("message_group_uuid"), str):
            send.group = send.response["message_group_uuid"]
            self.directory.add(send.group, frozenset((self.user.handle, other.handle)))

    def refused(self) -> None:
        kind = self.rng.choice(sorted(REFUSALS))
        own = self.directory.groups_of(self.user.handle)
        foreign = self.directory.groups_without(self.user.handle)
        text = self._text(f"must be refused: {kind}")
        group: str | None = self.rng.choice(own) if own else str(uuid.uuid4())
        if kind == "blank":
            text = self.rng.choice(("", " ", "   \n\t "))
        elif kind == "too_long":
            text = text + " " + "x" * (MESSAGE_MAX_CHARS - len(text))
        elif kind == "not_a_member":
            # A group of two other users if one is known yet, else one that does not exist: the same 404.
            group = self.rng.choice(foreign) if foreign else str(uuid.uuid4())
        else:
            group = self.rng.choice(("not-a-uuid", "5ae290ed-55d1-47a0-bc6d", "' OR 1=1 --"))
        send = self.recorder.send(Send(kind, self.user.handle, text, {"message": text, "message_group_uuid": group},
                                       group=group))
        self._post(REFUSED, send)

    def _text(self, what: str) -> str:
        self.sequence += 1
        return f"load {self.run_id} c{self.number:02d}#{self.sequence} @{self.user.handle} {what}"

    def _fault_key(self) -> str | None:
        """Under faults every valid send has a key: a client that retries a send whose outcome it does not know
        needs one, or it may store the message twice."""
        return str(uuid.uuid4()) if self.retry_failures else None

    def _post(self, route: str, send: Send, *, record: bool = True) -> Exchange:
        """The send, then (under faults) its retries until it settles; the last answer."""
        exchange = self._post_once(route, send, record=record)
        return self._settle(send, exchange, record=record) if self.retry_failures else exchange

    def _settle(self, send: Send, exchange: Exchange, *, record: bool = True, lost: bool = False) -> Exchange:
        """Retries with the same key and body while the answer says "try again": a 409 or 503 (after its
        ``Retry-After``), no answer (``lost``: the client gave up on it; under faults: a dropped connection) or, under
        faults, a 5xx (after a doubling backoff). Gives up after ``settle_seconds``; the checks then call a keyed send
        unsettled."""
        settle_by = time.monotonic() + self.settle_seconds
        pause = RETRY_PAUSE_SECONDS
        while time.monotonic() < settle_by:
            status = exchange.status
            if lost and status is None:
                lost = False  # its own choice: retried at once
            elif status in (409, 503) and send.key:
                time.sleep(min(retry_after_seconds(exchange.retry_after) or RETRY_PAUSE_SECONDS,
                               MAX_RETRY_PAUSE_SECONDS))
            elif self.retry_failures and (status is None or status >= 500):
                self.recorder.failed_attempt()
                time.sleep(pause * self.rng.uniform(0.5, 1.0))
                pause = min(pause * 2, MAX_RETRY_PAUSE_SECONDS)
            else:
                return exchange
            exchange = self._post_once(REFUSED if send.must_be_refused else RETRY, send, record=record)
        return exchange

    def _post_once(self, route: str, send: Send, *, record: bool = True, read_timeout: float | None = None) -> Exchange:
        headers = {"Idempotency-Key": send.key} if send.key else {}
        exchange = self._request(route, "POST", "/api/messages", json_body=send.body, headers=headers,
                                 read_timeout=read_timeout)
        if record:
            send.exchanges.append(exchange)
            if exchange.status == 200 and send.response is None and isinstance(exchange.body, dict):
                send.answered_at = time.monotonic()
                send.response = exchange.body
        return exchange

    def _request(self, route: str, method: str, path: str, *, group: str | None = None, authorized: bool = True,
                 json_body: Any = None, headers: dict[str, str] | None = None,
                 read_timeout: float | None = None) -> Exchange:
        timeout = (REQUEST_TIMEOUT[0], read_timeout or REQUEST_TIMEOUT[1])
        caller = self.user.handle if authorized else None
        started = time.perf_counter()
        try:
            if authorized:
                response = self.session.request(method, self.api_url + path, json=json_body, headers=headers,
                                                timeout=timeout)
            else:
                response = requests.request(method, self.api_url + path, timeout=timeout)
        except requests.RequestException as error:
            return self.recorder.exchange(Exchange(route, method, path, caller, None,
                                                   time.perf_counter() - started, error=type(error).__name__,
                                                   group=group, detail=str(error)[:300]))
        seconds = time.perf_counter() - started
        try:
            body = response.json()
        except ValueError:
            body = None
        return self.recorder.exchange(Exchange(route, method, path, caller, response.status_code, seconds, body,
                                               link=response.headers.get("link"),
                                               retry_after=response.headers.get("retry-after"), group=group))


def link_target(link: str) -> str | None:
    """The target of the ``rel="next"`` link of a ``Link`` header (RFC 8288), as sent: a path with its query."""
    for part in link.split(","):
        target, _, parameters = part.strip().partition(";")
        if target.startswith("<") and target.endswith(">") and 'rel="next"' in parameters.replace(" ", ""):
            return target[1:-1]
    return None


def link_path(link: str) -> str | None:
    target = link_target(link)
    return urlsplit(target).path if target is not None else None


def retry_after_seconds(value: str | None) -> float | None:
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None


def statuses_by_route(exchanges: list[Exchange]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for exchange in exchanges:
        counts[exchange.route][str(exchange.status) if exchange.status is not None else exchange.error or "none"] += 1
    return counts
