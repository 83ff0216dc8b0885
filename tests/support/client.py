"""A signed-in user calling the functions, built on the files in ``events/`` (as the frontend would call them)."""
from __future__ import annotations

from typing import Any, Callable

from tests.support.api import follow_pages, ok
from tests.support.events import as_user, load_event, with_body, with_group, with_query
from tests.support.people import Person

Invoke = Callable[[str, dict[str, Any]], dict[str, Any]]


def list_groups_event(person: Person, **query: str) -> dict[str, Any]:
    event = as_user(load_event("list-groups"), person.handle)
    return with_query(event, **query) if query else event


def list_messages_event(person: Person, message_group_uuid: str, **query: str) -> dict[str, Any]:
    event = with_group(as_user(load_event("list-messages"), person.handle), message_group_uuid)
    return with_query(event, **query) if query else event


def create_message_event(person: Person, body: Any, idempotency_key: str | None = None) -> dict[str, Any]:
    event = with_body(as_user(load_event("create-message-into-group"), person.handle), body)
    if idempotency_key is not None:
        event["headers"]["idempotency-key"] = idempotency_key
    return event


def mark_read_event(person: Person, message_group_uuid: str, body: Any = None) -> dict[str, Any]:
    event = as_user(load_event("mark-read"), person.handle)
    path = f"/api/message_groups/{message_group_uuid}/read"
    event["pathParameters"] = {"message_group_uuid": message_group_uuid}
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    return with_body(event, body) if body is not None else event


def change_message_event(person: Person, message_group_uuid: str, message_uuid: str,
                         body: Any = None) -> dict[str, Any]:
    """``PATCH`` of the message with ``body``, or ``DELETE`` of it without one."""
    event = as_user(load_event("edit-message" if body is not None else "delete-message"), person.handle)
    event["pathParameters"] = {"message_group_uuid": message_group_uuid, "message_uuid": message_uuid}
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/api/messages/{message_group_uuid}/{message_uuid}"
    return with_body(event, body) if body is not None else event


def unread_badge_event(person: Person) -> dict[str, Any]:
    return as_user(load_event("unread-badge"), person.handle)


def block_event(person: Person, handle: str, method: str = "POST") -> dict[str, Any]:
    event = as_user(load_event("block-user" if method == "POST" else "unblock-user"), person.handle)
    handle = f"@{handle.removeprefix('@')}"  # as the frontend sends it
    event["pathParameters"] = {"handle": handle}
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/api/users/{handle}/block"
    return event


class Caller:
    """``Caller(aws, ANDREW).send(handle="bayko", message="Hi")`` and so on; each returns the raw response."""

    def __init__(self, aws: Any, person: Person) -> None:
        self.aws = aws
        self.person = person

    def list_groups(self, **query: str) -> dict[str, Any]:
        return self.aws.invoke("ListGroupsFunction", list_groups_event(self.person, **query))

    def list_messages(self, message_group_uuid: str, **query: str) -> dict[str, Any]:
        return self.aws.invoke("ListMessagesFunction", list_messages_event(self.person, message_group_uuid, **query))

    def send(self, message: str, *, group: str | None = None, handle: str | None = None,
             idempotency_key: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"message": message}
        if group is not None:
            body["message_group_uuid"] = group
        if handle is not None:
            body["handle"] = handle
        return self.aws.invoke("CreateMessageFunction", create_message_event(self.person, body, idempotency_key))

    def mark_read(self, message_group_uuid: str, read_at: str | None = None) -> dict[str, Any]:
        body = {"read_at": read_at} if read_at is not None else None
        return self.aws.invoke("MarkReadFunction", mark_read_event(self.person, message_group_uuid, body))

    def edit(self, message_group_uuid: str, message_uuid: str, message: Any) -> dict[str, Any]:
        body = {"message": message}
        return self.aws.invoke("EditMessageFunction",
                               change_message_event(self.person, message_group_uuid, message_uuid, body))

    def delete(self, message_group_uuid: str, message_uuid: str) -> dict[str, Any]:
        return self.aws.invoke("EditMessageFunction",
                               change_message_event(self.person, message_group_uuid, message_uuid))

    def unread_badge(self) -> dict[str, Any]:
        return self.aws.invoke("ListGroupsFunction", unread_badge_event(self.person))

    def block(self, handle: str) -> dict[str, Any]:
        return self.aws.invoke("BlocksFunction", block_event(self.person, handle))

    def unblock(self, handle: str) -> dict[str, Any]:
        return self.aws.invoke("BlocksFunction", block_event(self.person, handle, "DELETE"))

    def blocks(self) -> dict[str, Any]:
        return self.aws.invoke("BlocksFunction", as_user(load_event("list-blocks"), self.person.handle))

    def start_conversation(self, handle: str, message: str = "Hello there") -> str:
        """The group uuid of a conversation with ``handle`` (new or reused), after sending ``message``."""
        return ok(self.send(message, handle=handle))["message_group_uuid"]

    def all_groups(self, **query: str) -> list[list[dict[str, Any]]]:
        return follow_pages(lambda event: self.aws.invoke("ListGroupsFunction", event),
                            lambda: list_groups_event(self.person, **query))

    def all_messages(self, message_group_uuid: str, **query: str) -> list[list[dict[str, Any]]]:
        return follow_pages(lambda event: self.aws.invoke("ListMessagesFunction", event),
                            lambda: list_messages_event(self.person, message_group_uuid, **query))
