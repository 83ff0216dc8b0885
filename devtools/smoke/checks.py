"""The checks, in the order a conversation happens: the sender (A) starts one with the recipient (B) by handle
and writes twice, B lists, reads and marks read, both watch it live, a stranger (C) and a forged token are
turned away, B blocks A for a moment (A's sends refused, nothing stored) then unblocks (A writes a third
time), and A edits then deletes a fourth message while B watches. Each check is named in the report; a check
whose prerequisite did not pass is skipped, not run."""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterator
from urllib.parse import urlencode

from devtools.smoke.clients import (
    Api,
    CheckFailed,
    LiveSocket,
    SignedIn,
    expect,
    handshake_status,
    sign_in,
    tampered,
)
from devtools.smoke.target import ROLES, SmokeTarget, SmokeUser
from devtools.smoke.users import SmokeUsers

DEFAULT_WAIT_SECONDS = 30.0
"""How long what happens after a write (stream function, live delivery) may take to show."""
POLL_SECONDS = 0.5
MAX_SYNC_PAGES = 20
"""A sync's pages the check follows (two messages make one page; earlier runs' changes a few more)."""
PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"


@dataclass(frozen=True)
class Outcome:
    name: str
    status: str
    detail: str

    def line(self) -> str:
        return f"{self.status} {self.name}: {self.detail}"


@dataclass(frozen=True)
class Check:
    name: str
    run: Callable[[], str]
    """Returns the PASS line's detail, raises CheckFailed with the FAIL line's."""
    needs: tuple[str, ...] = ()


@dataclass
class Smoke:
    target: SmokeTarget
    wait_seconds: float = DEFAULT_WAIT_SECONDS
    run_id: str = field(default_factory=lambda: datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ-")
                        + secrets.token_hex(2))
    users: dict[str, SignedIn] = field(default_factory=dict)
    sockets: dict[str, LiveSocket] = field(default_factory=dict)
    group: str | None = None
    sync_since: str | None = None
    """B's sync token from before the run's messages (the ``sync start`` check)."""
    sent: list[dict[str, Any]] = field(default_factory=list)
    marked_read: bool = False
    deleted: list[str] = field(default_factory=list)
    """The uuids of the messages the run deleted (their tombstones stay in the conversation)."""
    accounts: dict[str, SmokeUser] = field(init=False)
    """The users the run signs in as: the target's, or those it made (``create users``)."""

    def __post_init__(self) -> None:
        self.api = Api(self.target)
        self.accounts = dict(self.target.users)
        self.made = SmokeUsers(self.target.user_store) if self.target.user_store else None

    def checks(self) -> list[Check]:
        live, sent = "websocket connect", "send"
        made = [Check("create users", self.create_users)] if self.made else []
        return made + [
            Check("sign-in", self.sign_in, tuple(check.name for check in made)),
            Check("users-short", self.users_short, ("sign-in",)),
            Check(live, self.connect, ("sign-in",)),
            Check("websocket ping", self.ping, (live,)),
            Check("sync start", self.sync_start, ("sign-in",)),
            Check("start conversation", self.start_conversation, ("sign-in",)),
            Check(sent, self.send, ("start conversation",)),
            Check("list", self.list_groups, (sent,)),
            Check("read", self.read_messages, (sent,)),
            Check("sync", self.sync, ("sync start", sent)),
            Check("websocket message.created", self.live_messages, (live, sent)),
            Check("websocket conversation.updated", self.live_conversation, (live, sent)),
            Check("badge", self.badge, (sent,)),
            Check("mark read", self.mark_read, (sent,)),
            Check("websocket read", self.live_read, (live, "mark read")),
            Check("bad token", self.bad_token, ("sign-in",)),
            Check("stranger", self.stranger, ("start conversation",)),
            Check("block", self.block, ("mark read",)),
            Check("edit and delete", self.edit_and_delete, (live, "block")),
        ]

    def run(self) -> Iterator[Outcome]:
        """Runs every check (skipping those whose prerequisites failed), then closes what it opened and removes
        the users it made (the ``remove users`` check)."""
        passed: set[str] = set()
        try:
            try:
                for check in self.checks():
                    blocked = [name for name in check.needs if name not in passed]
                    if blocked:
                        yield Outcome(check.name, SKIP, f"needs {', '.join(blocked)}")
                        continue
                    outcome = self.outcome(check)
                    if outcome.status == PASS:
                        passed.add(check.name)
                    yield outcome
            finally:
                self.close()
            if self.made:
                yield self.outcome(Check("remove users", self.made.remove))
        finally:
            if self.made and (self.made.created or self.made.rows):  # interrupted: the users go all the same
                self.made.remove()

    @staticmethod
    def outcome(check: Check) -> Outcome:
        try:
            return Outcome(check.name, PASS, check.run())
        except CheckFailed as failure:
            return Outcome(check.name, FAIL, str(failure))
        except Exception as error:  # a crash is reported as that check's failure, and the run goes on
            return Outcome(check.name, FAIL, f"unexpected {type(error).__name__}: {error}")

    def left_behind(self) -> str:
        """What the run wrote that the API cannot delete."""
        if not self.sent:
            return "nothing was written"
        sender, recipient = self.handle("sender"), self.handle("recipient")
        read = f"; {recipient} read them" if self.marked_read else f"; still unread by {recipient}"
        tombstones = f" and the tombstone of the {len(self.deleted)} it deleted" if self.deleted else ""
        return (f"the conversation {self.group} between {sender} and {recipient} keeps the {len(self.sent)} "
                f"messages of run {self.run_id}{tombstones}{read}")

    def close(self) -> None:
        for socket in self.sockets.values():
            socket.close()
        self.sockets.clear()
        self.api.close()

    # --- helpers ---------------------------------------------------------------------------------------------
    def token(self, role: str) -> str:
        return self.users[role].access_token

    def handle(self, role: str) -> str:
        return self.users[role].handle

    def eventually(self, probe: Callable[[], Any], done: Callable[[Any], bool]) -> tuple[bool, Any]:
        """Polls ``probe`` until ``done`` holds for its result or the wait is over: (held, last result)."""
        deadline = time.monotonic() + self.wait_seconds
        while True:
            seen = probe()
            if done(seen) or time.monotonic() > deadline:
                return done(seen), seen
            time.sleep(POLL_SECONDS)

    def frame(self, role: str, wanted: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
        found = self.sockets[role].wait_for(wanted, self.wait_seconds)
        if found is None:
            raise CheckFailed(f"{self.handle(role)}'s socket got no {what} in {self.wait_seconds:g}s "
                              f"(it got: {', '.join(self.sockets[role].types()) or 'nothing'})")
        return found

    # --- the checks --------------------------------------------------------------------------------------------
    def create_users(self) -> str:
        assert self.made is not None
        self.accounts = self.made.create()
        return ", ".join(f"{role} {self.accounts[role].handle}" for role in ROLES) + " in the pool and the users table"

    def sign_in(self) -> str:
        for role in ROLES:
            self.users[role] = sign_in(self.target, self.accounts[role])
        return ", ".join(f"{role} {self.handle(role)}" for role in ROLES)

    def users_short(self) -> str:
        handle = self.handle("recipient")
        card = expect(self.api.request("GET", f"/api/users/@{handle}/short"), 200)
        if not isinstance(card, dict) or str(card.get("handle", "")).lower() != handle.lower() \
                or not card.get("uuid") or "display_name" not in card:
            raise CheckFailed(f"GET /api/users/@{handle}/short answered {card!r}")
        return f"@{handle} is {card['uuid']}, without a token"

    def connect(self) -> str:
        for role in ("sender", "recipient"):
            self.sockets[role] = LiveSocket.open(self.target, self.token(role))
        return "sender and recipient connected with Sec-WebSocket-Protocol: cruddur.v1, <token>"

    def ping(self) -> str:
        self.sockets["sender"].send({"action": "ping"})
        self.frame("sender", lambda frame: frame == {"type": "pong"}, "pong")
        return "ping answered pong"

    def sync_start(self) -> str:
        page = expect(self.api.request("GET", "/api/sync", self.token("recipient")), 200)
        if not isinstance(page, dict) or not page.get("since") or (page.get("conversations"), page.get("messages"),
                                                                     page.get("complete")) != ([], [], True):
            raise CheckFailed(f"GET /api/sync without since answered {page!r}")
        self.sync_since = page["since"]
        return f"{self.handle('recipient')} has a sync token of now"

    def synced(self) -> tuple[dict[str, Any] | None, list[str]]:
        """B's sync since the ``sync start`` token, every page: the group's list item and its messages' uuids."""
        since, item, uuids = self.sync_since, None, []
        for _ in range(MAX_SYNC_PAGES):
            page = expect(self.api.request("GET", f"/api/sync?{urlencode({'since': since})}", self.token("recipient")),
                          200)
            item = next((group for group in page["conversations"] if group.get("uuid") == self.group), item)
            uuids += [message.get("uuid") for message in page["messages"]
                      if message.get("message_group_uuid") == self.group]
            since = page["since"]
            if page["complete"]:
                break
        return item, uuids

    def sync(self) -> str:
        wanted = [message["uuid"] for message in self.sent]
        held, (item, uuids) = self.eventually(self.synced, lambda seen: seen[0] is not None
                                              and seen[0].get("message") == self.sent[-1]["message"]
                                              and seen[0].get("version", 0) > 0
                                              and [uuid for uuid in seen[1] if uuid in wanted] == wanted)
        if not held:
            raise CheckFailed(f"{self.handle('recipient')}'s sync since the start did not show the group at the last "
                              f"message and both messages in {self.wait_seconds:g}s; item {item!r}, messages {uuids}")
        return f"{self.handle('recipient')}'s sync shows the group (version {item['version']}) and both messages"

    def start_conversation(self) -> str:
        text = f"smoke {self.run_id}: hello"
        message = expect(self.api.send(self.token("sender"), {"handle": self.handle("recipient"), "message": text}),
                         200)
        self.check_message(message, text)
        if not message.get("message_group_uuid"):
            raise CheckFailed(f"POST /api/messages by handle answered no message_group_uuid: {message!r}")
        self.group = message["message_group_uuid"]
        self.sent.append(message)
        return f"{self.handle('sender')} -> @{self.handle('recipient')}: group {self.group}"

    def send(self) -> str:
        text = f"smoke {self.run_id}: second"
        message = expect(self.api.send(self.token("sender"), {"message_group_uuid": self.group, "message": text}),
                         200)
        self.check_message(message, text)
        self.sent.append(message)
        return f"message {message['uuid']} into the group"

    def check_message(self, message: Any, text: str) -> None:
        if not isinstance(message, dict) or message.get("message") != text or not message.get("uuid") \
                or message.get("handle") != self.handle("sender") or not message.get("created_at"):
            raise CheckFailed(f"POST /api/messages answered {message!r}")

    def list_groups(self) -> str:
        last = self.sent[-1]

        def item() -> dict[str, Any] | None:
            groups = expect(self.api.request("GET", "/api/message_groups?limit=100", self.token("recipient")), 200)
            return next((group for group in groups if group.get("uuid") == self.group), None)

        held, seen = self.eventually(item, lambda group: group is not None and group.get("message") == last["message"]
                                     and group.get("handle") == self.handle("sender"))
        if not held:
            raise CheckFailed(f"{self.handle('recipient')}'s list did not show the group with the last message in "
                              f"{self.wait_seconds:g}s; its item: {seen!r}")
        return f"{self.handle('recipient')}'s list shows the group at the last message"

    def read_messages(self) -> str:
        messages = expect(self.api.request("GET", f"/api/messages/{self.group}?limit=100", self.token("recipient")),
                          200)
        uuids = [message.get("uuid") for message in messages]
        wanted = [message["uuid"] for message in self.sent]
        if [uuid for uuid in uuids if uuid in wanted] != wanted:
            raise CheckFailed(f"GET /api/messages/{self.group} answered the uuids {uuids}, not {wanted} in order")
        times = [message.get("created_at") for message in messages]
        if times != sorted(times):
            raise CheckFailed(f"GET /api/messages/{self.group} is not in ascending time order: {times}")
        return f"{self.handle('recipient')} reads both messages, oldest first"

    def live_messages(self) -> str:
        for role in ("recipient", "sender"):
            for message in self.sent:
                self.frame(role, lambda frame, uuid=message["uuid"]: frame.get("type") == "message.created"
                           and frame.get("message_group_uuid") == self.group
                           and frame.get("message", {}).get("uuid") == uuid, f"message.created for {message['uuid']}")
            order = [frame["message"]["uuid"] for frame in self.sockets[role].frames
                     if frame.get("type") == "message.created" and frame.get("message_group_uuid") == self.group]
            if order != [message["uuid"] for message in self.sent]:
                raise CheckFailed(f"{self.handle(role)}'s socket got message.created in the order {order}")
        return "both members' sockets got both messages, in order"

    def live_conversation(self) -> str:
        for role, other in (("recipient", "sender"), ("sender", "recipient")):
            self.frame(role, lambda frame, other=other: frame.get("type") == "conversation.updated"
                       and frame.get("conversation", {}).get("uuid") == self.group
                       and frame["conversation"].get("message") == self.sent[-1]["message"]
                       and frame["conversation"].get("handle") == self.handle(other),
                       "conversation.updated at the last message")
        return "both members' sockets got their list item at the last message"

    def badge(self) -> str:
        def unread() -> Any:
            return expect(self.api.request("GET", "/api/message_groups/unread", self.token("recipient")), 200)

        # At least: a real user may have other unread conversations, and an earlier run's messages if it failed
        # before marking them read.
        held, seen = self.eventually(unread, lambda badge: isinstance(badge, dict)
                                     and badge.get("conversations", 0) >= 1
                                     and badge.get("messages", 0) >= len(self.sent))
        if not held:
            raise CheckFailed(f"{self.handle('recipient')}'s badge stayed {seen!r} for {self.wait_seconds:g}s "
                              f"(expected at least 1 conversation, {len(self.sent)} messages)")
        return f"{self.handle('recipient')}'s badge: {seen['conversations']} conversations, {seen['messages']} messages"

    def mark_read(self) -> str:
        answer = expect(self.api.request("POST", f"/api/message_groups/{self.group}/read", self.token("recipient"),
                                         {}), 200)
        expected = {"message_group_uuid": self.group, "last_read_at": self.sent[-1]["created_at"], "unread_count": 0}
        if answer != expected:
            raise CheckFailed(f"POST /api/message_groups/{self.group}/read answered {answer!r}, not {expected!r}")
        self.marked_read = True
        return f"{self.handle('recipient')} read up to {answer['last_read_at']}"

    def live_read(self) -> str:
        seen = {"type": "read", "message_group_uuid": self.group, "handle": self.handle("recipient"),
                "last_read_at": self.sent[-1]["created_at"]}
        self.frame("sender", lambda frame: frame == seen, f"read frame {seen}")
        return f"{self.handle('sender')}'s socket was told {self.handle('recipient')} read it"

    def bad_token(self) -> str:
        forged = tampered(self.token("sender"))
        response = self.api.request("GET", "/api/message_groups", forged)
        if response.status_code != 401:
            raise CheckFailed(f"GET /api/message_groups with a forged token answered {response.status_code}, not 401")
        status = handshake_status(self.target, forged)
        if status != 401:
            raise CheckFailed(f"the WebSocket handshake with a forged token was "
                              f"{'accepted' if status is None else f'refused with {status}'}, not refused with 401")
        return "a forged token gets 401 over HTTP and at the WebSocket handshake"

    def stranger(self) -> str:
        token, group = self.token("stranger"), self.group
        answers = {
            f"GET /api/messages/{group}": self.api.request("GET", f"/api/messages/{group}", token),
            "POST /api/messages": self.api.send(token, {"message_group_uuid": group,
                                                        "message": f"smoke {self.run_id}: stranger"}),
            f"POST /api/message_groups/{group}/read": self.api.request("POST", f"/api/message_groups/{group}/read",
                                                                       token, {}),
        }
        wrong = [f"{request} answered {response.status_code}" for request, response in answers.items()
                 if response.status_code != 404]
        if wrong:
            raise CheckFailed(f"{self.handle('stranger')} is not a member, but {'; '.join(wrong)} (expected 404)")
        return f"{self.handle('stranger')} gets 404 reading, writing and marking the group read"

    def block(self) -> str:
        """B blocks A: A's sends (into the group and by handle) and B's are refused and store nothing; B unblocks
        (even when a step failed, so a real user is never left blocked) and A's next send goes through."""
        sender, recipient = self.handle("sender"), self.handle("recipient")
        path = f"/api/users/@{sender}/block"
        state = expect(self.api.request("POST", path, self.token("recipient")), 200)
        if state.get("blocked") is not True or str(state.get("handle", "")).lower() != sender.lower():
            raise CheckFailed(f"POST {path} answered {state!r}")
        try:
            text = f"smoke {self.run_id}: while blocked"
            refusals = {
                "A into the group": (self.api.send(self.token("sender"), {"message_group_uuid": self.group,
                                                                          "message": text}), "recipient_unavailable"),
                "A by handle": (self.api.send(self.token("sender"), {"handle": recipient, "message": text}),
                                "recipient_unavailable"),
                "B into the group": (self.api.send(self.token("recipient"), {"message_group_uuid": self.group,
                                                                             "message": text}), "user_blocked"),
            }
            wrong = [f"{who} answered {response.status_code} {response.text[:120]}"
                     for who, (response, code) in refusals.items()
                     if response.status_code != 403 or code not in response.text]
            if wrong:
                raise CheckFailed(f"while {recipient} blocks {sender}: {'; '.join(wrong)} (expected 403)")
            messages = expect(self.api.request("GET", f"/api/messages/{self.group}?limit=100",
                                               self.token("recipient")), 200)
            if any(message.get("message") == text for message in messages):
                raise CheckFailed(f"a refused send was stored in {self.group}")
        finally:
            unblocked = expect(self.api.request("DELETE", path, self.token("recipient")), 200)
        if unblocked.get("blocked") is not False:
            raise CheckFailed(f"DELETE {path} answered {unblocked!r}")
        text = f"smoke {self.run_id}: unblocked"
        message = expect(self.api.send(self.token("sender"), {"message_group_uuid": self.group, "message": text}),
                         200)
        self.check_message(message, text)
        self.sent.append(message)
        expect(self.api.request("POST", f"/api/message_groups/{self.group}/read", self.token("recipient"), {}), 200)
        return (f"while {recipient} blocked {sender}, {sender}'s sends got 403 recipient_unavailable and "
                f"{recipient}'s 403 user_blocked, nothing stored; unblocked, {sender}'s send went through")

    def edit_and_delete(self) -> str:
        """A sends a fourth message, edits it and deletes it: B's socket and B's page of the conversation follow,
        the text is gone, an edit of the deleted message and C's delete get 404; B marks the conversation read."""
        sender, group = self.token("sender"), self.group
        message = expect(self.api.send(sender, {"message_group_uuid": group,
                                                "message": f"smoke {self.run_id}: to be edited"}), 200)
        path = f"/api/messages/{group}/{message['uuid']}"
        text = f"smoke {self.run_id}: edited"
        edited = expect(self.api.request("PATCH", path, sender, {"message": text}), 200)
        if edited.get("message") != text or not edited.get("edited_at") or edited.get("uuid") != message["uuid"]:
            raise CheckFailed(f"PATCH {path} answered {edited!r}")
        self.frame("recipient", lambda frame: frame.get("type") == "message.updated"
                   and frame.get("message") == edited, "message.updated with the edit")
        deleted = expect(self.api.request("DELETE", path, sender), 200)
        if deleted != {"message_group_uuid": group, "uuid": message["uuid"], "deleted_at": deleted.get("deleted_at")} \
                or not deleted.get("deleted_at"):
            raise CheckFailed(f"DELETE {path} answered {deleted!r}")
        self.deleted.append(message["uuid"])
        self.frame("recipient", lambda frame: frame == {"type": "message.deleted", **deleted}, "message.deleted")
        listed = expect(self.api.request("GET", f"/api/messages/{group}?limit=100", self.token("recipient")), 200)
        tombstone = next((item for item in listed if item.get("uuid") == message["uuid"]), None)
        if tombstone is None or (tombstone.get("message"), tombstone.get("deleted_at")) != ("", deleted["deleted_at"]):
            raise CheckFailed(f"GET /api/messages/{group} shows the deleted message as {tombstone!r}")
        refused = {
            f"A's PATCH {path} after the delete": self.api.request("PATCH", path, sender, {"message": text}),
            f"C's DELETE {path}": self.api.request("DELETE", path, self.token("stranger")),
        }
        wrong = [f"{request} answered {response.status_code} {response.text[:120]}"
                 for request, response in refused.items()
                 if response.status_code != 404 or "message_not_found" not in response.text]
        if wrong:
            raise CheckFailed(f"{'; '.join(wrong)} (expected 404 message_not_found)")
        expect(self.api.request("POST", f"/api/message_groups/{group}/read", self.token("recipient"), {}), 200)
        return (f"{self.handle('sender')} edited and deleted {message['uuid']}; {self.handle('recipient')}'s socket "
                f"and page followed, the text is gone, an edit after the delete and "
                f"{self.handle('stranger')}'s delete got 404")
