"""The functions' roles, as CloudFormation receives them from the SAM transform, are least privilege, and enough.

No role carries a managed policy; the only statements on ``*`` are the ones IAM offers no narrower resource for
(X-Ray, and EC2 network interfaces only when the functions run in the VPC); logs go only to the function's own
log group and the stream is read only from this table. Every AWS request each function sends on its real
code paths (tutorial-era data, new conversations, idempotency records kept, replayed, refused and deleted) is
allowed by that function's own policy in template.yaml, and each scenario reaches every kind of request the
function makes. The policies refuse what the functions never do, and a function reaching outside its policy
fails the check. All of it holds for either ``TutorialData``: deployed with ``migrated``, the roles lose exactly the
statements only the tutorial-era fallback needs, and the functions never need them.

Requests are recorded as sent (the serialized body of every AWS call), attributed to the function being invoked,
and checked with ``tests.support.iam`` (LeadingKeys, EnclosingOperation) as IAM would authorize them.
"""
from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import unquote, urlsplit

import botocore.client
import pytest
from boto3.dynamodb.conditions import Key

from cruddur_messaging.data import keys
from cruddur_messaging.data.connections import ConnectionStore
from cruddur_messaging.data.group_rows import GroupRowStore
from cruddur_messaging.data.messages import MessageStore
from cruddur_messaging.domain.group_row_timeline import version_at
from cruddur_messaging.domain.sync import SyncToken, encode_token
from cruddur_messaging.models import LiveConnection
from devtools import iam_table
from devtools.environment import LOCAL_ACCOUNT_ID, LocalResources, local_function_specs, template_context
from devtools.iam_table import MIGRATED, NETWORK_INTERFACES, OWN_LOGS, RESOURCES, TRACES
from devtools.ops.ddb_migrate import migrate_table
from devtools.stream_reader import STREAM_FUNCTION
from tests.support.api import assert_error, ok
from tests.support.client import Caller
from tests.support.containers import cold_start
from tests.support.events import SEED_GROUP_UUID, as_user, load_event, with_query
from tests.support.iam import (
    Request,
    allowed,
    execution_role_id,
    function_ids,
    granted_statements,
    managed_policy_arns,
    policy_statements,
    requests_of,
    role_context,
    transformed,
)
from tests.support.live import client_frame_event, connect_event, delivery_mapping, disconnect_event
from tests.support.people import ANDREW, BAYKO, LONDO
from tests.support.table import census
from tests.support.tutorial import seed_conversation, tutorial_client

from devtools.template import load_template, parameter_defaults

LIST_GROUPS = "ListGroupsFunction"
LIST_MESSAGES = "ListMessagesFunction"
CREATE_MESSAGE = "CreateMessageFunction"
USERS_SHORT = "UsersShortFunction"
BLOCKS = "BlocksFunction"
MARK_READ = "MarkReadFunction"
SYNC = "SyncFunction"
EDIT_MESSAGE = "EditMessageFunction"
HTTP_FUNCTIONS = tuple(logical_id for logical_id, spec in local_function_specs(
    LocalResources(table_name="cruddur-messages"), stream_arn="no-stream-needed-for-the-routes").items() if spec.routes)
"""The functions behind the HTTP API's routes, from the template: a function given a route is checked here."""
IN_TRANSACTION = "TransactWriteItems"
LONDO_LEGACY_GROUP = "0b6e7c52-3f1d-4a8e-9c2b-5d4f6a7e8b90"
"""andrewbrown and londo's conversation, written the tutorial's way (no pair, no membership item)."""

Shape = tuple[str, str, str | None]
"""A request as the policies tell requests apart: action, key prefix (``GRP#``...) or ``index``, enclosing op."""


@dataclass(frozen=True)
class Sent:
    function: str
    service: str
    operation: str
    body: dict[str, Any]
    method: str = ""
    url_path: str = ""
    """The whole path, the endpoint's included (``/{stage}/@connections/{id}`` for the management API)."""


@dataclass
class RecordingFunctions:
    """Invokes the template's functions as ``aws.invoke`` does, recording every AWS request as sent, with the
    function that sent it. Calls are made in-process, so a request belongs to the function being invoked."""

    aws: Any
    sent: list[Sent] = field(default_factory=list)
    current: str | None = None

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        self.current = logical_id
        try:
            return self.aws.invoke(logical_id, event)
        finally:
            self.current = None

    def record(self, client: Any, operation_model: Any, request_dict: dict[str, Any]) -> None:
        if self.current is not None:
            self.sent.append(Sent(self.current, client.meta.service_model.service_name, operation_model.name,
                                  json.loads(request_dict["body"] or b"{}"), request_dict["method"],
                                  urlsplit(request_dict["url"]).path))

    def of(self, logical_id: str) -> list[Sent]:
        return [sent for sent in self.sent if sent.function == logical_id]


@pytest.fixture
def functions(aws: Any, monkeypatch: pytest.MonkeyPatch) -> RecordingFunctions:
    """At the last seam before the wire (``BaseClient._make_request``): every client, the idempotency layer's
    and the parameter providers' included, once per call as serialized (moto answers below it)."""
    recording = RecordingFunctions(aws)
    make_request = botocore.client.BaseClient._make_request

    def recorded(client: Any, operation_model: Any, request_dict: dict[str, Any], request_context: Any) -> Any:
        recording.record(client, operation_model, request_dict)
        return make_request(client, operation_model, request_dict, request_context)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_request", recorded)
    return recording


def arns(resources: LocalResources) -> tuple[str, str]:
    context = template_context(resources)
    table_arn = context["MessagesTable.Arn"]
    return table_arn, f"{table_arn}/index/{context['MessageGroupIndexName']}"


def database_url_read(functions: RecordingFunctions) -> Shape:
    resources = functions.aws.resources
    return ("ssm:GetParameter",
            f"arn:aws:ssm:{resources.region}:{LOCAL_ACCOUNT_ID}:parameter{resources.database_url_parameter}", None)


def cursor_key_read(functions: RecordingFunctions) -> Shape:
    return "secretsmanager:GetSecretValue", functions.aws.resources.cursor_secret_name, None


def iam_requests(resources: LocalResources, sent: Sent) -> list[Request]:
    """What IAM authorizes for one call: DynamoDB's per item and key, the parameter and the secret by resource."""
    if sent.service == "dynamodb":
        return requests_of(sent.operation, sent.body, arns(resources)[0])
    if (sent.service, sent.operation) == ("ssm", "GetParameter"):
        return [Request("ssm:GetParameter",
                        f"arn:aws:ssm:{resources.region}:{LOCAL_ACCOUNT_ID}:parameter{sent.body['Name']}")]
    if (sent.service, sent.operation) == ("secretsmanager", "GetSecretValue"):
        return [Request("secretsmanager:GetSecretValue", sent.body["SecretId"])]
    if sent.service == "apigatewaymanagementapi":
        # arn:...:execute-api:region:account:api-id/stage/VERB/@connections/id; url_path is /stage/@connections/id
        stage, path = sent.url_path.lstrip("/").split("/", 1)
        return [Request("execute-api:ManageConnections", f"{websocket_api_arn(resources)}/{stage}/{sent.method}/"
                                                         f"{unquote(path)}")]
    raise AssertionError(f"no IAM mapping for {sent.service}:{sent.operation}")


def websocket_api_arn(resources: LocalResources) -> str:
    context = template_context(resources)
    return f"arn:aws:execute-api:{resources.region}:{LOCAL_ACCOUNT_ID}:{context['LiveWebSocketApi']}"


def shape(request: Request, index_arn: str) -> Shape:
    if request.action == "execute-api:ManageConnections":
        verb = request.resource.split("/")[2]
        return request.action, verb, None
    if request.resource == index_arn:
        where = "index"
    elif "/index/" in request.resource:  # another index: its name, and the key prefix when it has one
        where = f"index {request.resource.rsplit('/', 1)[1]} {(request.leading_key or '').split('#', 1)[0]}#"
    elif request.leading_key:
        where = request.leading_key.split("#", 1)[0] + "#"
    else:
        where = request.resource
    return request.action, where, request.enclosing_operation


def refused(functions: RecordingFunctions, logical_id: str) -> list[Request]:
    """The requests the function sent that its policy does not allow."""
    statements = policy_statements(functions.aws.resources, logical_id)
    return [request for sent in functions.of(logical_id) for request in iam_requests(functions.aws.resources, sent)
            if not allowed(statements, request)]


def assert_within_policy(functions: RecordingFunctions, logical_id: str, expected: set[Shape]) -> None:
    """Every request allowed, and the scenario reached exactly the expected kinds of request (so it tested the
    paths it claims to, and the function does nothing more)."""
    resources = functions.aws.resources
    requests = [request for sent in functions.of(logical_id) for request in iam_requests(resources, sent)]
    assert {shape(request, arns(resources)[1]) for request in requests} == expected
    assert refused(functions, logical_id) == []


# --- the functions, on their real code paths ---------------------------------------------------------------


def test_list_groups_only_queries_group_rows(functions, seeded) -> None:
    ok(Caller(functions, ANDREW).send("Hello Londo", handle="londo"))
    ok(Caller(functions, BAYKO).send("Hello Londo", handle="londo"))
    cold_start()  # the reads below fetch their own parameter and secret, as a container of their own would

    andrew = Caller(functions, ANDREW)
    assert [group["uuid"] for group in ok(andrew.list_groups())][-1] == SEED_GROUP_UUID
    assert sum(len(page) for page in andrew.all_groups(limit="1")) == 2  # cursors, signed and checked
    assert len(ok(Caller(functions, LONDO).list_groups())) == 2
    assert_error(functions.invoke(LIST_GROUPS, load_event("list-groups-tampered-cursor")), 400, "invalid_cursor")
    assert ok(andrew.unread_badge()) == {"conversations": 0, "messages": 0}  # the badge, on the same function

    assert_within_policy(functions, LIST_GROUPS, {
        ("dynamodb:Query", "GRP#", None),
        database_url_read(functions),
        cursor_key_read(functions),
    })


def test_list_messages_only_reads_memberships_messages_and_the_index(functions, seeded) -> None:
    new_group = Caller(functions, ANDREW).start_conversation("londo", "Hello Londo")
    ok(Caller(functions, LONDO).send("Hello Andrew", group=new_group))
    cold_start()

    andrew = Caller(functions, ANDREW)
    assert len(ok(andrew.list_messages(SEED_GROUP_UUID))) == len(seeded)  # legacy: members through the index
    assert sum(len(page) for page in andrew.all_messages(new_group, limit="1")) == 2  # membership item, cursors
    assert_error(Caller(functions, LONDO).list_messages(SEED_GROUP_UUID), 404, "message_group_not_found")
    assert_error(andrew.list_messages(str(uuid.uuid4())), 404, "message_group_not_found")

    assert_within_policy(functions, LIST_MESSAGES, {
        ("dynamodb:GetItem", "GROUP#", None),
        ("dynamodb:Query", "index", None),
        ("dynamodb:Query", "MSG#", None),
        database_url_read(functions),
        cursor_key_read(functions),
    })


def test_create_message_writes_only_what_its_paths_need(functions, seeded, monkeypatch) -> None:
    seed_conversation(tutorial_client(functions.aws), LONDO_LEGACY_GROUP, ANDREW, LONDO,
                      datetime(2023, 3, 25, 10, 0, tzinfo=timezone.utc), lines=["Ambassador.", "Mr. Brown."])
    andrew, bayko, londo = Caller(functions, ANDREW), Caller(functions, BAYKO), Caller(functions, LONDO)

    # Into a legacy group: members found through the index, then recorded (PutItem GROUP#, outside a transaction).
    ok(andrew.send("Still here?", group=SEED_GROUP_UUID))
    ok(bayko.send("Always.", group=SEED_GROUP_UUID))  # now one consistent read of the membership item
    assert_error(londo.send("Let me in", group=SEED_GROUP_UUID), 404, "message_group_not_found")
    # A legacy pair: no pair item, found through londo's group rows, then recorded (PutItem PAIR# and GROUP#).
    assert ok(londo.send("Remember me?", handle="andrewbrown"))["message_group_uuid"] == LONDO_LEGACY_GROUP
    # A new conversation: pair, membership, both group rows and the first message in one transaction.
    new_group = ok(bayko.send("Hello Londo", handle="londo"))["message_group_uuid"]
    assert ok(londo.send("Hello Bayko", handle="bayko"))["message_group_uuid"] == new_group  # the pair item

    # Idempotency: the record is put, completed (UpdateItem), replayed, refused for another body...
    first = ok(andrew.send("Exactly once", group=SEED_GROUP_UUID, idempotency_key="once"))
    assert ok(andrew.send("Exactly once", group=SEED_GROUP_UUID, idempotency_key="once")) == first
    assert_error(andrew.send("Another body", group=SEED_GROUP_UUID, idempotency_key="once"), 422,
                 "idempotency_key_reused")
    # ... deleted when the request fails, so the key stays usable ...
    assert_error(andrew.send("Anyone?", handle="nobody-by-that-name", idempotency_key="failing"), 404,
                 "user_not_found")
    assert census(functions.aws.table)["IDEMPOTENCY#"] == 1
    # ... and read back (GetItem) when a failed conditional put does not return the existing record.
    persistence = functions.aws.container(CREATE_MESSAGE).message_sending.persistence
    monkeypatch.setattr(persistence, "return_value_on_condition", {})
    assert ok(andrew.send("Exactly once", group=SEED_GROUP_UUID, idempotency_key="once")) == first

    assert_within_policy(functions, CREATE_MESSAGE, {
        ("dynamodb:GetItem", "GROUP#", None),
        ("dynamodb:Query", "PAIR#", None),
        ("dynamodb:Query", "index", None),
        ("dynamodb:Query", "GRP#", None),
        ("dynamodb:PutItem", "GROUP#", None),
        ("dynamodb:PutItem", "PAIR#", None),
        ("dynamodb:PutItem", "MSG#", None),
        ("dynamodb:PutItem", "PAIR#", IN_TRANSACTION),
        ("dynamodb:PutItem", "GROUP#", IN_TRANSACTION),
        ("dynamodb:PutItem", "GRP#", IN_TRANSACTION),
        ("dynamodb:PutItem", "MSG#", IN_TRANSACTION),
        ("dynamodb:PutItem", "IDEMPOTENCY#", None),
        ("dynamodb:UpdateItem", "IDEMPOTENCY#", None),
        ("dynamodb:DeleteItem", "IDEMPOTENCY#", None),
        ("dynamodb:GetItem", "IDEMPOTENCY#", None),
        ("dynamodb:UpdateItem", "LIMIT#", None),
        database_url_read(functions),
    })
    idempotency_keys = {request.leading_key for sent in functions.of(CREATE_MESSAGE)
                        for request in requests_of(sent.operation, sent.body, arns(functions.aws.resources)[0])
                        if (request.leading_key or "").startswith("IDEMPOTENCY#")}
    # One partition per request ("once" and "failing"), all under the function's own prefix.
    assert len(idempotency_keys) == 2
    assert all(key.startswith(keys.IDEMPOTENCY_PREFIX) for key in idempotency_keys)


def test_list_messages_with_tutorial_data_migrated_makes_no_fallback_read(functions, seeded, monkeypatch) -> None:
    functions.aws.deploy_with(monkeypatch, TutorialData="migrated")
    andrew = Caller(functions, ANDREW)
    assert_error(andrew.list_messages(SEED_GROUP_UUID), 404, "message_group_not_found")  # not migrated yet
    migrate_table(functions.aws.table)
    assert len(ok(andrew.list_messages(SEED_GROUP_UUID))) == len(seeded)  # its membership item now
    new_group = andrew.start_conversation("londo", "Hello Londo")
    ok(Caller(functions, LONDO).send("Hello Andrew", group=new_group))
    assert sum(len(page) for page in andrew.all_messages(new_group, limit="1")) == 2
    assert_error(Caller(functions, LONDO).list_messages(SEED_GROUP_UUID), 404, "message_group_not_found")

    assert_within_policy(functions, LIST_MESSAGES, {
        ("dynamodb:GetItem", "GROUP#", None),
        ("dynamodb:Query", "MSG#", None),
        database_url_read(functions),
        cursor_key_read(functions),
    })


def test_create_message_with_tutorial_data_migrated_writes_groups_only_in_their_transaction(functions, seeded,
                                                                                             monkeypatch) -> None:
    functions.aws.deploy_with(monkeypatch, TutorialData="migrated")
    andrew, bayko, londo = Caller(functions, ANDREW), Caller(functions, BAYKO), Caller(functions, LONDO)
    assert_error(andrew.send("Still here?", group=SEED_GROUP_UUID), 404, "message_group_not_found")  # not migrated
    migrate_table(functions.aws.table)
    ok(andrew.send("Still here?", group=SEED_GROUP_UUID))  # the membership item bin/ddb/migrate wrote
    assert_error(londo.send("Let me in", group=SEED_GROUP_UUID), 404, "message_group_not_found")
    assert ok(bayko.send("Remember me?", handle="andrewbrown"))["message_group_uuid"] == SEED_GROUP_UUID  # its pair
    # A new pair: no look for a tutorial-era group, straight to the transaction.
    new_group = ok(bayko.send("Hello Londo", handle="londo"))["message_group_uuid"]
    assert ok(londo.send("Hello Bayko", handle="bayko"))["message_group_uuid"] == new_group

    assert_within_policy(functions, CREATE_MESSAGE, {
        ("dynamodb:GetItem", "GROUP#", None),
        ("dynamodb:Query", "PAIR#", None),
        ("dynamodb:PutItem", "MSG#", None),
        ("dynamodb:PutItem", "PAIR#", IN_TRANSACTION),
        ("dynamodb:PutItem", "GROUP#", IN_TRANSACTION),
        ("dynamodb:PutItem", "GRP#", IN_TRANSACTION),
        ("dynamodb:PutItem", "MSG#", IN_TRANSACTION),
        ("dynamodb:UpdateItem", "LIMIT#", None),
        database_url_read(functions),
    })


def test_mark_read_only_reads_rows_memberships_and_messages_and_updates_group_rows(functions, seeded,
                                                                                  monkeypatch) -> None:
    andrew, bayko, londo = Caller(functions, ANDREW), Caller(functions, BAYKO), Caller(functions, LONDO)
    assert ok(andrew.mark_read(SEED_GROUP_UUID))["unread_count"] == 0  # index, then UpdateItem GRP#
    # Before the row's own time (the first line, andrew's): + a COUNT query of MSG#.
    assert ok(bayko.mark_read(SEED_GROUP_UUID, "2023-03-24T19:04:07.123456+00:00"))["unread_count"] == 1
    assert_error(londo.mark_read(SEED_GROUP_UUID), 404, "message_group_not_found")  # + GetItem GROUP#
    new_group = ok(bayko.send("Hello Londo", handle="londo"))["message_group_uuid"]
    monkeypatch.setattr(GroupRowStore, "rows_in_index", lambda store, group_uuid: [])  # not in the index yet
    assert ok(londo.mark_read(new_group))["unread_count"] == 0  # membership, then Query GRP# (consistent)

    assert_within_policy(functions, MARK_READ, {
        ("dynamodb:Query", "index", None),
        ("dynamodb:GetItem", "GROUP#", None),
        ("dynamodb:Query", "GRP#", None),
        ("dynamodb:Query", "MSG#", None),
        ("dynamodb:UpdateItem", "GRP#", None),
        database_url_read(functions),
    })


def test_edit_message_only_reads_memberships_and_finds_and_updates_messages(functions, seeded) -> None:
    andrew, bayko = Caller(functions, ANDREW), Caller(functions, BAYKO)
    [first, second] = seeded[:2]  # andrewbrown's and bayko's tutorial-era lines: found by reading the conversation
    new_group = andrew.start_conversation("londo", "Hello Londo")
    sent = ok(andrew.send("A UUIDv7 message", group=new_group))
    cold_start()

    ok(andrew.edit(SEED_GROUP_UUID, first["uuid"], "Edited"))  # legacy members through the index
    ok(andrew.delete(SEED_GROUP_UUID, first["uuid"]))
    assert_error(andrew.edit(SEED_GROUP_UUID, second["uuid"], "Not mine"), 403, "not_sender")
    ok(andrew.edit(new_group, sent["uuid"], "Edited"))  # the membership item, then one query of a millisecond
    ok(andrew.delete(new_group, sent["uuid"]))
    assert_error(bayko.delete(new_group, sent["uuid"]), 404, "message_not_found")

    assert_within_policy(functions, EDIT_MESSAGE, {
        ("dynamodb:GetItem", "GROUP#", None),
        ("dynamodb:Query", "index", None),
        ("dynamodb:Query", "MSG#", None),
        ("dynamodb:UpdateItem", "MSG#", None),
        database_url_read(functions),
    })


def test_blocks_writes_both_sides_of_a_block_only_in_their_transaction(functions, seeded) -> None:
    bayko, andrew = Caller(functions, BAYKO), Caller(functions, ANDREW)
    ok(bayko.block("andrewbrown"))
    ok(bayko.block("londo"))
    assert len(ok(bayko.blocks())) == 2
    ok(bayko.unblock("londo"))
    assert_error(bayko.block("bayko"), 422, "block_self")
    # The send's check of the pair's blocks is create-message's (a Query of the pair's partition).
    assert_error(andrew.send("Hello?", group=SEED_GROUP_UUID), 403, "recipient_unavailable")

    assert_within_policy(functions, BLOCKS, {
        ("dynamodb:UpdateItem", "BLOCK#", IN_TRANSACTION),
        ("dynamodb:UpdateItem", "PAIR#", IN_TRANSACTION),
        ("dynamodb:DeleteItem", "BLOCK#", IN_TRANSACTION),
        ("dynamodb:DeleteItem", "PAIR#", IN_TRANSACTION),
        ("dynamodb:Query", "BLOCK#", None),
        database_url_read(functions),
    })
    assert refused(functions, CREATE_MESSAGE) == []


def test_sync_only_queries_the_callers_rows_by_version_and_their_messages(functions, seeded) -> None:
    aws = functions.aws
    new_group = Caller(functions, ANDREW).start_conversation("londo", "Hello Londo")
    codec = aws.container(SYNC).cursor_codec()
    since = encode_token(codec, ANDREW.uuid, SyncToken.starting_at(version_at(datetime.now(timezone.utc)
                                                                              - timedelta(hours=1))))
    for row in aws.table.query(KeyConditionExpression=Key("pk").eq(keys.group_rows_pk(ANDREW.uuid)))["Items"]:
        aws.table.put_item(Item={**row, "version": version_at(datetime.now(timezone.utc))})  # as its writer would
    cold_start()

    event = as_user(load_event("sync"), ANDREW.handle)
    assert ok(functions.invoke(SYNC, event))["messages"] == []  # a token of now: no DynamoDB request
    page = ok(functions.invoke(SYNC, with_query(as_user(load_event("sync"), ANDREW.handle), since=since)))
    assert {item["uuid"] for item in page["conversations"]} == {new_group, SEED_GROUP_UUID}
    assert [message["message"] for message in page["messages"]] == ["Hello Londo"]
    assert_error(functions.invoke(SYNC, load_event("sync-invalid-since")), 400, "invalid_since")

    version_index = parameter_defaults(load_template())["RowVersionIndexName"]
    assert_within_policy(functions, SYNC, {
        ("dynamodb:Query", f"index {version_index} GRP#", None),
        ("dynamodb:Query", "MSG#", None),
        database_url_read(functions),
        cursor_key_read(functions),
    })


def test_users_short_touches_no_dynamodb(functions) -> None:
    assert ok(functions.invoke(USERS_SHORT, load_event("users-short")))["handle"] == "bayko"
    assert_error(functions.invoke(USERS_SHORT, load_event("users-short-unknown")), 404, "user_not_found")

    assert_within_policy(functions, USERS_SHORT, {
        database_url_read(functions),
    })


# --- ... and the check can fail ----------------------------------------------------------------------------


def test_a_function_reaching_outside_its_policy_is_caught(functions, seeded, monkeypatch) -> None:
    """ListGroups made to also read a membership item and a conversation's messages: both requests refused."""
    list_group_rows = MessageStore.list_group_rows

    def overreaching(store: MessageStore, owner_uuid: str, limit: int, start_key: Any) -> Any:
        store.get_membership(SEED_GROUP_UUID)
        store.list_messages(SEED_GROUP_UUID, limit, None)
        return list_group_rows(store, owner_uuid, limit, start_key)

    monkeypatch.setattr(MessageStore, "list_group_rows", overreaching)
    ok(Caller(functions, ANDREW).list_groups())

    table_arn, _ = arns(functions.aws.resources)
    assert refused(functions, LIST_GROUPS) == [
        Request("dynamodb:GetItem", table_arn, f"GROUP#{SEED_GROUP_UUID}"),
        Request("dynamodb:Query", table_arn, f"MSG#{SEED_GROUP_UUID}"),
    ]


GROUP = SEED_GROUP_UUID
USER = ANDREW.uuid
DEPLOYS = pytest.mark.parametrize("resources", [RESOURCES, MIGRATED], ids=["TutorialData=read",
                                                                            "TutorialData=migrated"])
TABLE_ARN, INDEX_ARN = arns(RESOURCES)
VERSION_INDEX_ARN = f"{TABLE_ARN}/index/{parameter_defaults(load_template())['RowVersionIndexName']}"
FALLBACK_STATEMENTS = {
    LIST_MESSAGES: {"FindLegacyGroupMembersThroughTheIndex"},
    CREATE_MESSAGE: {"FindLegacyGroupMembersThroughTheIndex", "FindLegacyPairsThroughTheSendersGroupRows",
                     "RecordLegacyMembershipsAndPairs"},
    EDIT_MESSAGE: {"FindLegacyGroupMembersThroughTheIndex"},
}
"""What only the tutorial fallback (``data/tutorial_data.py``) needs: granted only with ``TutorialData=read``."""


@pytest.mark.parametrize("logical_id, request_", [
    (LIST_GROUPS, Request("dynamodb:GetItem", TABLE_ARN, f"GRP#{USER}")),
    (LIST_GROUPS, Request("dynamodb:Query", TABLE_ARN, f"MSG#{GROUP}")),
    (LIST_GROUPS, Request("dynamodb:Query", INDEX_ARN, GROUP)),
    (LIST_GROUPS, Request("dynamodb:PutItem", TABLE_ARN, f"GRP#{USER}", IN_TRANSACTION)),
    (LIST_MESSAGES, Request("dynamodb:Query", TABLE_ARN, f"GRP#{USER}")),
    (LIST_MESSAGES, Request("dynamodb:Query", TABLE_ARN, f"GROUP#{GROUP}")),
    (LIST_MESSAGES, Request("dynamodb:GetItem", TABLE_ARN, f"MSG#{GROUP}")),
    (LIST_MESSAGES, Request("dynamodb:GetItem", TABLE_ARN, f"PAIR#{USER}#{BAYKO.uuid}")),
    (LIST_MESSAGES, Request("dynamodb:PutItem", TABLE_ARN, f"GROUP#{GROUP}")),
    (LIST_MESSAGES, Request("dynamodb:Scan", TABLE_ARN)),
    (CREATE_MESSAGE, Request("dynamodb:PutItem", TABLE_ARN, f"GRP#{USER}")),
    (CREATE_MESSAGE, Request("dynamodb:DeleteItem", TABLE_ARN, f"GRP#{USER}", IN_TRANSACTION)),
    (CREATE_MESSAGE, Request("dynamodb:UpdateItem", TABLE_ARN, f"MSG#{GROUP}")),
    (CREATE_MESSAGE, Request("dynamodb:DeleteItem", TABLE_ARN, f"MSG#{GROUP}")),
    (CREATE_MESSAGE, Request("dynamodb:DeleteItem", TABLE_ARN, f"PAIR#{USER}#{BAYKO.uuid}")),
    (CREATE_MESSAGE, Request("dynamodb:UpdateItem", TABLE_ARN, f"GROUP#{GROUP}", IN_TRANSACTION)),
    (CREATE_MESSAGE, Request("dynamodb:ConditionCheckItem", TABLE_ARN, f"PAIR#{USER}#{BAYKO.uuid}", IN_TRANSACTION)),
    (CREATE_MESSAGE, Request("dynamodb:Query", TABLE_ARN, f"MSG#{GROUP}")),
    (CREATE_MESSAGE, Request("dynamodb:GetItem", TABLE_ARN, f"GRP#{USER}")),
    (CREATE_MESSAGE, Request("dynamodb:DeleteItem", TABLE_ARN, "IDEMPOTENCY#another-function")),
    (CREATE_MESSAGE, Request("dynamodb:PutItem", TABLE_ARN, "IDEMPOTENCY#create-message-2")),
    (CREATE_MESSAGE, Request("dynamodb:PutItem", TABLE_ARN, "IDEMPOTENCY#create-message")),
    (CREATE_MESSAGE, Request("dynamodb:GetItem", TABLE_ARN, "IDEMPOTENCY#another-function#0a1b")),
    (CREATE_MESSAGE, Request("secretsmanager:GetSecretValue", RESOURCES.cursor_secret_name)),
    (CREATE_MESSAGE, Request("dynamodb:GetItem", TABLE_ARN, f"PAIR#{USER}#{BAYKO.uuid}")),
    (CREATE_MESSAGE, Request("dynamodb:Query", TABLE_ARN, f"BLOCK#{USER}")),
    (CREATE_MESSAGE, Request("dynamodb:UpdateItem", TABLE_ARN, f"PAIR#{USER}#{BAYKO.uuid}", IN_TRANSACTION)),
    (BLOCKS, Request("dynamodb:PutItem", TABLE_ARN, f"PAIR#{USER}#{BAYKO.uuid}")),
    (BLOCKS, Request("dynamodb:PutItem", TABLE_ARN, f"PAIR#{USER}#{BAYKO.uuid}", IN_TRANSACTION)),
    (BLOCKS, Request("dynamodb:UpdateItem", TABLE_ARN, f"BLOCK#{USER}")),
    (BLOCKS, Request("dynamodb:DeleteItem", TABLE_ARN, f"PAIR#{USER}#{BAYKO.uuid}")),
    (BLOCKS, Request("dynamodb:UpdateItem", TABLE_ARN, f"GROUP#{GROUP}", IN_TRANSACTION)),
    (BLOCKS, Request("dynamodb:Query", TABLE_ARN, f"PAIR#{USER}#{BAYKO.uuid}")),
    (BLOCKS, Request("dynamodb:GetItem", TABLE_ARN, f"BLOCK#{USER}")),
    (BLOCKS, Request("dynamodb:Query", TABLE_ARN, f"MSG#{GROUP}")),
    (BLOCKS, Request("dynamodb:Query", INDEX_ARN, GROUP)),
    (BLOCKS, Request("secretsmanager:GetSecretValue", RESOURCES.cursor_secret_name)),
    (CREATE_MESSAGE, Request("dynamodb:PutItem", TABLE_ARN, f"LIMIT#{USER}")),
    (CREATE_MESSAGE, Request("dynamodb:DeleteItem", TABLE_ARN, f"LIMIT#{USER}")),
    (CREATE_MESSAGE, Request("dynamodb:GetItem", TABLE_ARN, f"LIMIT#{USER}")),
    (CREATE_MESSAGE, Request("dynamodb:UpdateItem", TABLE_ARN, f"GRP#{USER}")),
    (MARK_READ, Request("dynamodb:UpdateItem", TABLE_ARN, f"LIMIT#{USER}")),
    (LIST_GROUPS, Request("dynamodb:UpdateItem", TABLE_ARN, f"LIMIT#{USER}")),
    (MARK_READ, Request("dynamodb:UpdateItem", TABLE_ARN, f"MSG#{GROUP}")),
    (MARK_READ, Request("dynamodb:UpdateItem", TABLE_ARN, f"GROUP#{GROUP}")),
    (MARK_READ, Request("dynamodb:PutItem", TABLE_ARN, f"GRP#{USER}")),
    (MARK_READ, Request("dynamodb:DeleteItem", TABLE_ARN, f"GRP#{USER}")),
    (MARK_READ, Request("dynamodb:PutItem", TABLE_ARN, f"GRP#{USER}", IN_TRANSACTION)),
    (MARK_READ, Request("dynamodb:GetItem", TABLE_ARN, f"PAIR#{USER}#{BAYKO.uuid}")),
    (MARK_READ, Request("dynamodb:Query", TABLE_ARN, "IDEMPOTENCY#create-message#0a1b")),
    (MARK_READ, Request("secretsmanager:GetSecretValue", RESOURCES.cursor_secret_name)),
    (LIST_GROUPS, Request("dynamodb:UpdateItem", TABLE_ARN, f"GRP#{USER}")),
    (USERS_SHORT, Request("dynamodb:GetItem", TABLE_ARN, f"GROUP#{GROUP}")),
    (USERS_SHORT, Request("dynamodb:Query", TABLE_ARN, f"GRP#{USER}")),
    (USERS_SHORT, Request("secretsmanager:GetSecretValue", RESOURCES.cursor_secret_name)),
    (SYNC, Request("dynamodb:Query", TABLE_ARN, f"GRP#{USER}")),
    (SYNC, Request("dynamodb:Query", INDEX_ARN, GROUP)),
    (SYNC, Request("dynamodb:Query", VERSION_INDEX_ARN, f"CONN#{USER}")),
    (SYNC, Request("dynamodb:Query", VERSION_INDEX_ARN, f"MSG#{GROUP}")),
    (SYNC, Request("dynamodb:GetItem", TABLE_ARN, f"GROUP#{GROUP}")),
    (SYNC, Request("dynamodb:UpdateItem", TABLE_ARN, f"GRP#{USER}")),
    (EDIT_MESSAGE, Request("dynamodb:PutItem", TABLE_ARN, f"MSG#{GROUP}")),
    (EDIT_MESSAGE, Request("dynamodb:DeleteItem", TABLE_ARN, f"MSG#{GROUP}")),
    (EDIT_MESSAGE, Request("dynamodb:UpdateItem", TABLE_ARN, f"GRP#{USER}")),
    (EDIT_MESSAGE, Request("dynamodb:Query", TABLE_ARN, f"GRP#{USER}")),
    (EDIT_MESSAGE, Request("dynamodb:UpdateItem", TABLE_ARN, f"GROUP#{GROUP}")),
    (EDIT_MESSAGE, Request("dynamodb:GetItem", TABLE_ARN, f"MSG#{GROUP}")),
    (EDIT_MESSAGE, Request("dynamodb:Scan", TABLE_ARN)),
    (EDIT_MESSAGE, Request("secretsmanager:GetSecretValue", RESOURCES.cursor_secret_name)),
], ids=lambda value: value if isinstance(value, str) else "-".join(
    filter(None, (value.action, (value.leading_key or "").split("#")[0], value.enclosing_operation))))
def test_the_policies_refuse_what_the_functions_never_do(logical_id, request_) -> None:
    assert not allowed(policy_statements(RESOURCES, logical_id), request_)


@pytest.mark.parametrize("logical_id, request_", [
    (LIST_MESSAGES, Request("dynamodb:Query", INDEX_ARN, GROUP)),
    (CREATE_MESSAGE, Request("dynamodb:Query", INDEX_ARN, GROUP)),
    (CREATE_MESSAGE, Request("dynamodb:Query", TABLE_ARN, f"GRP#{USER}")),
    (CREATE_MESSAGE, Request("dynamodb:PutItem", TABLE_ARN, f"GROUP#{GROUP}")),
    (CREATE_MESSAGE, Request("dynamodb:PutItem", TABLE_ARN, f"PAIR#{USER}#{BAYKO.uuid}")),
    (EDIT_MESSAGE, Request("dynamodb:Query", INDEX_ARN, GROUP)),
], ids=lambda value: value if isinstance(value, str) else "-".join(
    filter(None, (value.action, (value.leading_key or "index").split("#")[0]))))
def test_with_tutorial_data_migrated_the_policies_refuse_the_fallbacks_requests(logical_id, request_) -> None:
    assert allowed(policy_statements(RESOURCES, logical_id), request_)
    assert not allowed(policy_statements(MIGRATED, logical_id), request_)


# --- the checker's own rules --------------------------------------------------------------------------------


def test_a_put_is_checked_against_its_items_partition_key() -> None:
    body = {"TableName": "cruddur-messages", "Item": {"pk": {"S": f"GRP#{USER}"}, "sk": {"S": "2026"}}}
    [request] = requests_of("PutItem", body, TABLE_ARN)
    assert request == Request("dynamodb:PutItem", TABLE_ARN, f"GRP#{USER}")
    assert not allowed(policy_statements(RESOURCES, CREATE_MESSAGE), request)  # not outside the transaction


@pytest.mark.parametrize("condition", [
    {"KeyConditionExpression": "message_group_uuid = :g", "ExpressionAttributeValues": {":g": {"S": GROUP}}},
    {"KeyConditionExpression": "#n0 = :v0 AND #n1 > :v1", "ExpressionAttributeNames": {"#n0": "message_group_uuid",
                                                                                          "#n1": "sk"},
     "ExpressionAttributeValues": {":v0": {"S": GROUP}, ":v1": {"S": "2023"}}},
])
def test_an_index_query_leads_with_the_index_partition_key(condition) -> None:
    """On the index, LeadingKeys is the bare group uuid: a ``GRP#`` condition there would refuse every query."""
    index_name = INDEX_ARN.rsplit("/", 1)[1]
    [request] = requests_of("Query", {"TableName": "cruddur-messages", "IndexName": index_name, **condition},
                            TABLE_ARN)
    assert request == Request("dynamodb:Query", INDEX_ARN, GROUP)
    grp_only = {"Effect": "Allow", "Action": "dynamodb:Query", "Resource": INDEX_ARN,
                "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["GRP#*"]}}}
    assert not allowed([grp_only], request)
    assert allowed(policy_statements(RESOURCES, LIST_MESSAGES), request)


def test_condition_operators_behave_as_in_iam() -> None:
    def statement(operator: str, key: str, values: list[str]) -> list[dict[str, Any]]:
        return [{"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": TABLE_ARN,
                 "Condition": {operator: {key: values}}}]

    put = Request("dynamodb:PutItem", TABLE_ARN, "IDEMPOTENCY#create-message")
    assert allowed(statement("ForAllValues:StringEquals", "dynamodb:LeadingKeys", ["IDEMPOTENCY#create-message"]), put)
    assert not allowed(statement("ForAllValues:StringEquals", "dynamodb:LeadingKeys", ["IDEMPOTENCY#*"]), put)
    assert allowed(statement("ForAllValues:StringLike", "dynamodb:LeadingKeys", ["IDEMPOTENCY#create-?essage"]), put)
    assert not allowed(statement("ForAllValues:StringLike", "dynamodb:LeadingKeys", ["[I]DEMPOTENCY#*"]), put)
    assert allowed(statement("ForAnyValue:StringLike", "dynamodb:LeadingKeys", ["MSG#*", "IDEMPOTENCY#*"]), put)
    # A key the request has no value for: ForAllValues holds (vacuously), ForAnyValue does not.
    assert allowed(statement("ForAllValues:StringEquals", "dynamodb:EnclosingOperation", ["TransactWriteItems"]), put)
    assert not allowed(statement("ForAnyValue:StringEquals", "dynamodb:EnclosingOperation", ["TransactWriteItems"]),
                       put)
    with pytest.raises(NotImplementedError):
        allowed(statement("StringEquals", "dynamodb:LeadingKeys", ["x"]), put)
    with pytest.raises(NotImplementedError):
        allowed(statement("ForAllValues:StringLike", "dynamodb:Attributes", ["pk"]), put)
    with pytest.raises(NotImplementedError):
        requests_of("BatchWriteItem", {"RequestItems": {}}, TABLE_ARN)


@DEPLOYS
@pytest.mark.parametrize("logical_id", HTTP_FUNCTIONS)
def test_every_statement_says_what_it_is_for(logical_id, resources) -> None:
    statements = policy_statements(resources, logical_id)
    assert all(statement.get("Sid", "").isalnum() for statement in statements)
    assert len({statement["Sid"] for statement in statements}) == len(statements)


# --- the roles as CloudFormation receives them: managed policies, "*" resources, logs, the stream ----------------

POSTGRES_FUNCTIONS = (*HTTP_FUNCTIONS, "LiveAuthorizerFunction")
"""The functions that read PostgreSQL: the WebSocket API's caller is resolved by its authorizer, not its routes."""
ALL_FUNCTIONS = tuple(function_ids(transformed()))
"""Every function of the template, in its order (a function added later is checked, and needs its docs/deploying.md
row)."""
STREAM_READS = {"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"}


def granted_on_any_resource(statements: list[dict[str, Any]]) -> set[str]:
    return {action for statement in statements if statement["Effect"] == "Allow" and "*" in _list(statement["Resource"])
            for action in _list(statement["Action"])}


def unavoidable_on_any_resource(logical_id: str, use_vpc: bool) -> set[str]:
    return TRACES | (NETWORK_INTERFACES if use_vpc and logical_id in POSTGRES_FUNCTIONS else set())


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_the_transform_leaves_every_function_with_its_own_role_from_the_template() -> None:
    cloudformation = transformed()
    assert set(ALL_FUNCTIONS) >= {*HTTP_FUNCTIONS, STREAM_FUNCTION}
    roles = [execution_role_id(cloudformation, logical_id) for logical_id in ALL_FUNCTIONS]
    assert len(set(roles)) == len(roles)
    assert all(load_template()["Resources"][role]["Type"] == "AWS::IAM::Role" for role in roles)  # none generated


@DEPLOYS
@pytest.mark.parametrize("use_vpc", [False, True], ids=["public-database", "UseVpc"])
@pytest.mark.parametrize("logical_id", ALL_FUNCTIONS)
def test_no_managed_policy_and_on_any_resource_only_what_iam_cannot_narrow(logical_id, use_vpc, resources) -> None:
    assert managed_policy_arns(resources, logical_id, use_vpc) == []
    statements = granted_statements(resources, logical_id, use_vpc)
    assert granted_on_any_resource(statements) == unavoidable_on_any_resource(logical_id, use_vpc)


@DEPLOYS
@pytest.mark.parametrize("logical_id", ALL_FUNCTIONS)
def test_logs_go_only_to_the_functions_own_log_group(logical_id, resources) -> None:
    cloudformation = transformed(parameters=resources.parameters)
    context = role_context(resources, cloudformation)
    log_groups = {resource_id: context[f"{resource_id}.Arn"] for resource_id, resource
                  in cloudformation["Resources"].items() if resource["Type"] == "AWS::Logs::LogGroup"}
    function = cloudformation["Resources"][logical_id]["Properties"]
    own = function["LoggingConfig"]["LogGroup"]["Ref"]
    statements = policy_statements(resources, logical_id)
    for log_group_id, arn in log_groups.items():
        for action in OWN_LOGS | {"logs:CreateLogGroup"}:
            expected = log_group_id == own and action in OWN_LOGS
            assert allowed(statements, Request(action, arn)) == expected, (log_group_id, action)
    retention = cloudformation["Resources"][own]["Properties"]["RetentionInDays"]
    assert retention == {"Ref": "LogRetentionDays"}


def test_the_stream_is_read_only_from_this_table() -> None:
    statements = policy_statements(RESOURCES, STREAM_FUNCTION)
    stream_arn = role_context(RESOURCES, transformed())["MessagesTable.StreamArn"]
    other_stream = stream_arn.replace(f"table/{RESOURCES.table_name}/", "table/another-table/")
    for action in STREAM_READS - {"dynamodb:ListStreams"}:
        assert allowed(statements, Request(action, stream_arn))
        assert not allowed(statements, Request(action, other_stream))
    assert allowed(statements, Request("dynamodb:ListStreams", f"{TABLE_ARN}/stream/*"))
    for logical_id in HTTP_FUNCTIONS:
        assert not any(allowed(policy_statements(RESOURCES, logical_id), Request(action, stream_arn))
                       for action in STREAM_READS)


@pytest.mark.parametrize("logical_id", ALL_FUNCTIONS)
def test_with_tutorial_data_migrated_a_role_loses_only_the_fallbacks_statements(logical_id) -> None:
    fallback = FALLBACK_STATEMENTS.get(logical_id, set())
    read = policy_statements(RESOURCES, logical_id, use_vpc=True)
    assert {statement["Sid"] for statement in read} >= fallback
    assert policy_statements(MIGRATED, logical_id, use_vpc=True) == [
        statement for statement in read if statement["Sid"] not in fallback]


def test_roles_sam_would_generate_are_caught() -> None:
    """Without their own roles, SAM generates them with managed policies on "*": logs everywhere, every stream of
    the account, and the VPC policy even when the VpcConfig resolves to nothing. The checks above see all three."""
    template = copy.deepcopy(load_template())
    for logical_id in (LIST_GROUPS, STREAM_FUNCTION):
        del template["Resources"][logical_id]["Properties"]["Role"]
        del template["Resources"][f"{logical_id}Role"]  # SAM generates one of that name
    cloudformation = transformed(template)

    assert managed_policy_arns(RESOURCES, LIST_GROUPS, use_vpc=False, cloudformation=cloudformation) == [
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
        "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole",
    ]
    list_groups = granted_on_any_resource(granted_statements(RESOURCES, LIST_GROUPS, False, cloudformation))
    assert list_groups - unavoidable_on_any_resource(LIST_GROUPS, False) >= {
        "logs:CreateLogGroup", "logs:PutLogEvents", "ec2:CreateNetworkInterface"}
    stream = granted_on_any_resource(granted_statements(RESOURCES, STREAM_FUNCTION, False, cloudformation))
    assert stream - unavoidable_on_any_resource(STREAM_FUNCTION, False) >= STREAM_READS | {"logs:PutLogEvents"}


# --- ... and the deploying page says exactly that ---------------------------------------------------------------


def test_the_deploying_page_describes_the_roles_as_transformed() -> None:
    """The least-privilege table of docs/deploying.md is what the transformed roles grant, with either ``TutorialData``
    (``make openapi`` writes it), a row for every function."""
    rows = [iam_table.documented_row(logical_id) for logical_id in ALL_FUNCTIONS]
    assert iam_table.render_table().splitlines()[2:] == rows
    assert iam_table.main(["--check"]) == 0  # stale: run `make openapi`


# --- the live functions (WebSocket API) ----------------------------------------------------------------------

LIVE_CONNECTION = "LiveConnectionFunction"
LIVE_DELIVERY = "LiveDeliveryFunction"
LIVE_AUTHORIZER = "LiveAuthorizerFunction"


def test_the_connection_function_keeps_only_its_callers_connections(functions, live, connections,
                                                                     monkeypatch) -> None:
    monkeypatch.setenv("LIVE_CONNECTIONS_PER_USER", "1")
    for connection_id in ("tab-1", "tab-2"):  # the second tells the first (POST), then closes it (DELETE)
        assert functions.invoke(LIVE_CONNECTION, connect_event(ANDREW, connections.open(connection_id)))[
            "statusCode"] == 200
    assert functions.invoke(LIVE_CONNECTION, disconnect_event(ANDREW, "tab-2")) == {"statusCode": 200}
    assert json.loads(functions.invoke(LIVE_CONNECTION, client_frame_event('{"action": "ping"}'))["body"]) == {
        "type": "pong"}
    assert connections.closed == ["tab-1"]

    assert_within_policy(functions, LIVE_CONNECTION, {
        ("dynamodb:Query", "CONN#", None),
        ("dynamodb:PutItem", "CONN#", None),
        ("dynamodb:DeleteItem", "CONN#", None),
        ("execute-api:ManageConnections", "POST", None),
        ("execute-api:ManageConnections", "DELETE", None),
    })


def test_the_delivery_function_reads_members_and_connections_and_posts_frames(functions, live, connections,
                                                                               seeded, stream) -> None:
    gone_since = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()
    store = ConnectionStore(live.table)
    for person in (ANDREW, BAYKO):
        store.add(LiveConnection(person.uuid, connections.open(f"{person.handle}-open"), gone_since))
    store.add(LiveConnection(BAYKO.uuid, "bayko-gone", gone_since))
    store.add(LiveConnection(BAYKO.uuid, connections.open("bayko-stuck"), gone_since))
    connections.stuck.add("bayko-stuck")  # 429: closed (DELETE @connections) and forgotten
    mapping = delivery_mapping(live)

    def deliver_new_records() -> None:
        records = [record for record in stream.new_records() if mapping.accepts(record)]
        assert records and functions.invoke(LIVE_DELIVERY, {"Records": records}) == {"batchItemFailures": []}

    deliver_new_records()  # the tutorial-era conversation: members found through the index; bayko-gone is 410
    started = ok(Caller(functions, ANDREW).send("A new conversation", handle="londo"))  # the membership item
    deliver_new_records()
    assert len(connections.frames["bayko-open"]) == len(seeded) + 1  # every message, and their own row
    assert connections.types("andrewbrown-open")[-2:] == ["conversation.updated", "message.created"]
    cold_start()  # a container that has seen none of the conversation's rows: londo's handle through the index
    ok(Caller(functions, LONDO).mark_read(started["message_group_uuid"]))
    deliver_new_records()
    assert connections.frames["andrewbrown-open"][-1]["type"] == "read"
    # A message the stream function counts unread on bayko's row: his badge, summed from his own GRP# rows.
    ok(Caller(functions, ANDREW).send("Counted", group=SEED_GROUP_UUID))
    records = stream.new_records()
    assert functions.invoke(STREAM_FUNCTION, {"Records": [record for record in records
                                                          if stream.mapping.accepts(record)]}) == {
        "batchItemFailures": []}
    records = [record for record in records + stream.new_records() if mapping.accepts(record)]
    assert functions.invoke(LIVE_DELIVERY, {"Records": records}) == {"batchItemFailures": []}
    assert "unread" in connections.types("bayko-open")

    assert_within_policy(functions, LIVE_DELIVERY, {
        ("dynamodb:GetItem", "GROUP#", None),
        ("dynamodb:Query", "index", None),
        ("dynamodb:Query", "CONN#", None),
        ("dynamodb:Query", "GRP#", None),
        ("dynamodb:DeleteItem", "CONN#", None),
        ("execute-api:ManageConnections", "POST", None),
        ("execute-api:ManageConnections", "DELETE", None),
    })
    assert connections.closed == ["bayko-stuck"]


LIVE_API = websocket_api_arn(RESOURCES)


@pytest.mark.parametrize("logical_id, request_", [
    (LIVE_CONNECTION, Request("dynamodb:Query", TABLE_ARN, f"GRP#{USER}")),
    (LIVE_CONNECTION, Request("dynamodb:PutItem", TABLE_ARN, f"MSG#{GROUP}")),
    (LIVE_CONNECTION, Request("dynamodb:GetItem", TABLE_ARN, f"GROUP#{GROUP}")),
    (LIVE_CONNECTION, Request("execute-api:ManageConnections", f"{LIVE_API}/live/GET/@connections/abc=")),
    (LIVE_DELIVERY, Request("dynamodb:PutItem", TABLE_ARN, f"CONN#{USER}")),
    (LIVE_DELIVERY, Request("dynamodb:Query", TABLE_ARN, f"MSG#{GROUP}")),
    (LIVE_DELIVERY, Request("dynamodb:DeleteItem", TABLE_ARN, f"GRP#{USER}")),
    (LIVE_DELIVERY, Request("execute-api:ManageConnections", f"{LIVE_API}/live/GET/@connections/abc=")),
    (LIVE_DELIVERY, Request("execute-api:ManageConnections",
                            f"arn:aws:execute-api:us-east-1:{LOCAL_ACCOUNT_ID}:another-api/live/POST/@connections/a")),
    (LIVE_DELIVERY, Request("execute-api:ManageConnections", f"{LIVE_API}/another-stage/POST/@connections/abc=")),
    (LIVE_DELIVERY, Request("ssm:GetParameter",
                            f"arn:aws:ssm:us-east-1:{LOCAL_ACCOUNT_ID}:parameter{RESOURCES.database_url_parameter}")),
    (LIVE_CONNECTION, Request("ssm:GetParameter",
                              f"arn:aws:ssm:us-east-1:{LOCAL_ACCOUNT_ID}:parameter{RESOURCES.database_url_parameter}")),
    (LIVE_AUTHORIZER, Request("dynamodb:Query", TABLE_ARN, f"CONN#{USER}")),
    (LIVE_AUTHORIZER, Request("execute-api:ManageConnections", f"{LIVE_API}/live/POST/@connections/abc=")),
], ids=lambda value: value if isinstance(value, str) else "-".join(
    filter(None, (value.action, (value.leading_key or value.resource.split("/")[-3]).split("#")[0]))))
def test_the_live_policies_refuse_what_the_live_functions_never_do(logical_id, request_) -> None:
    assert not allowed(policy_statements(RESOURCES, logical_id), request_)


def test_the_authorizer_reads_only_the_database_url_parameter() -> None:
    """It resolves the caller's user uuid in PostgreSQL (``domain.live_callers``): the URL, and no other parameter."""
    statements = policy_statements(RESOURCES, LIVE_AUTHORIZER)
    parameter = f"arn:aws:ssm:us-east-1:{LOCAL_ACCOUNT_ID}:parameter{RESOURCES.database_url_parameter}"
    assert allowed(statements, Request("ssm:GetParameter", parameter))
    assert not allowed(statements, Request("ssm:GetParameter", f"{parameter}-other"))
    assert not allowed(statements, Request("ssm:GetParameters", parameter))


@pytest.mark.parametrize("logical_id", [LIVE_CONNECTION, LIVE_DELIVERY, LIVE_AUTHORIZER])
def test_every_live_statement_says_what_it_is_for(logical_id) -> None:
    statements = policy_statements(RESOURCES, logical_id)
    assert all(statement.get("Sid", "").isalnum() for statement in statements)
    assert len({statement["Sid"] for statement in statements}) == len(statements)
