"""``GET /api/sync`` through its handler: answers, errors, the API's authorizer, and a client that reconnects,
on rows as their real writers (create-message, mark-read, the stream function) leave them."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from cruddur_messaging.data.messages import MessageStore
from cruddur_messaging.domain import sync as sync_domain
from cruddur_messaging.domain.group_row_timeline import SYNC_HORIZON, version_at
from cruddur_messaging.domain.sync import SyncToken, encode_token
from cruddur_messaging.models import User
from devtools.environment import LocalResources, template_context
from devtools.local_stack.api_server import HttpApi
from devtools.local_stack.cors import CorsPolicy
from devtools.local_stack.jwt_authorizer import Unauthorized
from devtools.stream_reader import STREAM_FUNCTION, StreamReader
from devtools.template import function_specs, http_api_spec, load_template
from tests.support.api import assert_error, next_cursor, ok
from tests.support.client import Caller
from tests.support.events import SEED_GROUP_UUID, as_user, load_event, with_query
from tests.support.people import ANDREW, BAYKO, LONDO, Person, stranger
from tests.support.table import messages_in, snapshot

SYNC = "SyncFunction"


def sync_event(person: Person, since: str | None = None) -> dict[str, Any]:
    event = as_user(load_event("sync"), person.handle)
    return with_query(event, since=since) if since is not None else event


def sync(aws, person: Person, since: str | None = None) -> dict[str, Any]:
    return aws.invoke(SYNC, sync_event(person, since))


def run_stream(aws, reader: StreamReader) -> None:
    records = reader.new_message_inserts()
    if records:
        aws.invoke(STREAM_FUNCTION, {"Records": records})


def test_a_sync_lists_what_changed_as_the_lists_show_it(aws, stream) -> None:
    start = ok(sync(aws, ANDREW))
    assert (start["conversations"], start["messages"], start["complete"]) == ([], [], True)
    group = Caller(aws, ANDREW).start_conversation("bayko", "Hello Bayko")
    ok(Caller(aws, BAYKO).send("Hello Andrew", group=group))
    run_stream(aws, stream)

    page = ok(sync(aws, ANDREW, start["since"]))
    assert page["complete"] is True
    assert page["conversations"] == ok(Caller(aws, ANDREW).list_groups())
    assert page["conversations"][0]["version"] > 0
    assert page["messages"] == [{**message, "message_group_uuid": group}
                                for message in ok(Caller(aws, ANDREW).list_messages(group))]


def test_bad_and_old_tokens_are_clear_errors_and_change_nothing(aws, seeded) -> None:
    before = snapshot(aws.table)
    assert_error(sync(aws, ANDREW, "yesterday"), 400, "invalid_since")
    assert_error(sync(aws, BAYKO, ok(sync(aws, ANDREW))["since"]), 400, "invalid_since")  # andrew's token
    cursor = next_cursor(Caller(aws, ANDREW).list_messages(SEED_GROUP_UUID, limit="1"))
    assert cursor is not None
    assert_error(sync(aws, ANDREW, cursor), 400, "invalid_since")
    codec = aws.container(SYNC).cursor_codec()
    old = SyncToken.starting_at(version_at(datetime.now(timezone.utc) - SYNC_HORIZON - timedelta(minutes=1)))
    assert_error(sync(aws, ANDREW, encode_token(codec, ANDREW.uuid, old)), 410, "reload_required")
    assert snapshot(aws.table) == before


def test_without_a_token_the_apis_authorizer_answers_401_and_the_function_never_runs() -> None:
    context = template_context(LocalResources(table_name="t", parameters={
        "CognitoUserPoolId": "us-east-1_pool", "CognitoUserPoolClientId": "client"}), stream_arn="arn:stream")
    specs = function_specs(load_template(), context)
    invoked: list[str] = []

    class Runner:
        def __init__(self) -> None:
            self.specs = specs

        def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
            invoked.append(logical_id)

    class RefusingAuthorizer:
        header_name = "authorization"

        def authorize(self, headers: dict[str, str], required_scopes: tuple[str, ...] = ()) -> Any:
            raise Unauthorized("no token")

    api = HttpApi(runner=Runner(), authorizer=RefusingAuthorizer(),
                  cors=CorsPolicy.from_configuration(http_api_spec(load_template(), context).cors))
    response = api.handle(method="GET", raw_path="/api/sync", raw_query="", headers=[], body=b"",
                          source_ip="127.0.0.1", protocol="HTTP/1.1")
    assert (response.status, json.loads(response.body)) == (401, {"message": "Unauthorized"})
    assert invoked == []
    [route] = specs[SYNC].routes
    assert route.authorized and route.scopes == ("aws.cognito.signin.user.admin",)


# --- a client that goes away and comes back -------------------------------------------------------------------


class Client:
    """A frontend's state: the list (by group) and each conversation's messages (by uuid), merged as the docs say:
    the higher version of a list item wins, a message already held is dropped."""

    def __init__(self, aws, person: Person) -> None:
        self.aws, self.person = aws, person
        self.conversations: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, dict[str, dict[str, Any]]] = {}
        self.since: str | None = None
        self.pages = 0

    def load(self) -> None:
        """Connect, then sync (a token of now), then load the list and the open conversations."""
        self.since = ok(sync(self.aws, self.person))["since"]
        self.conversations = {item["uuid"]: item for page in Caller(self.aws, self.person).all_groups()
                              for item in page}
        for group in self.conversations:
            self.messages[group] = server_messages(self.aws, self.person, group)

    def sync(self) -> None:
        for _ in range(100):
            page = ok(sync(self.aws, self.person, self.since))
            self.pages += 1
            for item in page["conversations"]:
                held = self.conversations.get(item["uuid"])
                if held is None or item["version"] > held["version"]:
                    self.conversations[item["uuid"]] = item
            for message in page["messages"]:
                group = message.pop("message_group_uuid")
                self.messages.setdefault(group, {}).setdefault(message["uuid"], message)
            self.since = page["since"]
            if page["complete"]:
                return
        raise AssertionError("the sync never completed")

    def listed(self) -> list[dict[str, Any]]:
        return sorted(self.conversations.values(), key=lambda item: item["created_at"], reverse=True)


def server_messages(aws, person: Person, group: str) -> dict[str, dict[str, Any]]:
    return {message["uuid"]: message for page in Caller(aws, person).all_messages(group) for message in page}


@pytest.mark.parametrize("page_sizes", [(25, 100), (2, 7)], ids=["default-pages", "small-pages"])
def test_a_client_that_reconnects_ends_with_exactly_the_servers_list_and_messages(aws, stream, monkeypatch,
                                                                                 page_sizes) -> None:
    monkeypatch.setattr(sync_domain, "CONVERSATIONS_PER_PAGE", page_sizes[0])
    monkeypatch.setattr(sync_domain, "MESSAGES_PER_PAGE", page_sizes[1])
    store = MessageStore(aws.table, template_context(aws.resources)["MessageGroupIndexName"])
    strangers = [stranger(number) for number in (1, 2, 3)]
    andrew_user = User(ANDREW.uuid, ANDREW.handle, ANDREW.display_name)
    groups: dict[str, Person | User] = {}
    for person in (BAYKO, LONDO):
        groups[Caller(aws, ANDREW).start_conversation(person.handle, "hello")] = person
    for other in strangers:
        group = str(uuid.uuid4())
        store.create_group(group, other, andrew_user, "hello", str(uuid.uuid4()),
                           datetime.now(timezone.utc).isoformat(timespec="microseconds"))
        groups[group] = other
    run_stream(aws, stream)

    client = Client(aws, ANDREW)
    client.load()
    # The client goes away. 50 messages arrive across the 5 conversations, some sent from andrew's other device,
    # the stream function applying them in batches; andrew reads two conversations on that device meanwhile.
    for index in range(50):
        group, other = list(groups.items())[index % 5]
        text = f"message {index}"
        if index % 7 == 3:
            ok(Caller(aws, ANDREW).send(text, group=group))
        elif isinstance(other, Person) and other.cognito_user_id:
            ok(Caller(aws, other).send(text, group=group))
        else:
            store.put_message(group, other, text, str(uuid.uuid4()),
                              datetime.now(timezone.utc).isoformat(timespec="microseconds"))
        if index % 9 == 8:
            run_stream(aws, stream)
        if index in (20, 41):
            ok(Caller(aws, ANDREW).mark_read(group))
    run_stream(aws, stream)

    client.sync()
    server_list = [item for page in Caller(aws, ANDREW).all_groups() for item in page]
    assert client.listed() == server_list
    assert sum(item["unread_count"] for item in client.listed()) == ok(Caller(aws, ANDREW).unread_badge())["messages"]
    for group in groups:
        assert client.messages[group] == server_messages(aws, ANDREW, group)
    assert sum(len(messages) for messages in client.messages.values()) == 5 + 50
    if page_sizes == (2, 7):
        assert client.pages > 3  # it took pages


def test_a_sync_reports_an_edit_of_a_message_long_before_its_token(aws, seeded, stream) -> None:
    """The stream function's write for an edit records the edited message on both rows (the late record), however
    old it is, so a client that was away gets the new text (``domain.group_row_timeline``, "Edits and deletes")."""
    stream.new_records()  # the seed's own records: its rows, written the tutorial's way, show its last message
    starts = {person.uuid: ok(sync(aws, person))["since"] for person in (ANDREW, BAYKO)}
    [old] = [item for item in messages_in(aws.table, SEED_GROUP_UUID) if item["message"] == seeded[2]["message"]]
    aws.table.update_item(Key={"pk": old["pk"], "sk": old["sk"]},
                          UpdateExpression="SET message = :text, edited_at = :now",
                          ExpressionAttributeValues={":text": "edited years later",
                                                     ":now": datetime.now(timezone.utc).isoformat()})
    run_stream(aws, stream)

    for person in (ANDREW, BAYKO):
        page = ok(sync(aws, person, starts[person.uuid]))
        assert [item["uuid"] for item in page["conversations"]] == [SEED_GROUP_UUID]
        assert [message["message"] for message in page["messages"] if message["created_at"] == old["sk"]] \
            == ["edited years later"], page["messages"]
