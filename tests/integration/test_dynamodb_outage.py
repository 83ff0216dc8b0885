"""DynamoDB unavailable (throttled or unreachable once the SDK's bounded retries are spent): a 503 with
``Retry-After``, never a 500, and nothing half-written."""
from __future__ import annotations

import socket
import time

import boto3
import pytest
from botocore.retries.standard import ExponentialBackoff

from devtools.environment import LocalResources, local_function_specs

from tests.support.api import assert_error, ok
from tests.support.calls import (
    ErrorFactory, Predicate, aws_error, fail_dynamodb, operation_is, throttled, unreachable, writes_to,
)
from tests.support.client import Caller
from tests.support.containers import cold_start
from tests.support.events import SEED_GROUP_UUID, load_event
from tests.support.people import ANDREW, BAYKO
from tests.support.table import census, messages_in, snapshot


def unavailable(aws, monkeypatch: pytest.MonkeyPatch, function: str, event: str,
                when: Predicate = lambda operation, params: True, error: ErrorFactory = throttled) -> list[str]:
    """Invokes ``function`` with ``event`` while the DynamoDB calls ``when`` selects fail (``fail_dynamodb``): the
    answer must be a 503 ``dependency_unavailable``. Returns the operations refused."""
    refused = fail_dynamodb(monkeypatch, when, error)
    assert_error(aws.invoke(function, load_event(event)), 503, "dependency_unavailable")
    return refused


def test_list_groups_throttled_is_503(aws, seeded, monkeypatch) -> None:
    Caller(aws, ANDREW).list_groups()  # warm
    refused = unavailable(aws, monkeypatch, "ListGroupsFunction", "list-groups", operation_is("Query"))
    assert refused == ["Query"]


def test_list_messages_unreachable_is_503(aws, seeded, monkeypatch) -> None:
    refused = unavailable(aws, monkeypatch, "ListMessagesFunction", "list-messages", error=unreachable)
    assert refused == ["GetItem"]


def test_post_into_a_group_fails_whole(aws, seeded, monkeypatch) -> None:
    before = snapshot(aws.table)
    refused = unavailable(aws, monkeypatch, "CreateMessageFunction", "create-message-into-group", writes_to("MSG#"))
    assert refused == ["PutItem"]
    # The legacy group's members may have been recorded on the way (a fact, not a half-written message)...
    after = [item for item in snapshot(aws.table) if not item["pk"].startswith("GROUP#")]
    assert after == before  # ...but no message and nothing else.


@pytest.mark.parametrize("error", [
    throttled,
    unreachable,
    aws_error("TransactionCanceledException", "Transaction cancelled",
              CancellationReasons=[{"Code": "None"}, {"Code": "None"}, {"Code": "ThrottlingError"},
                                   {"Code": "None"}, {"Code": "None"}]),
], ids=["throttled", "unreachable", "cancelled-by-throttling"])
def test_starting_a_conversation_fails_whole(aws, monkeypatch, error) -> None:
    before = snapshot(aws.table)
    refused = unavailable(aws, monkeypatch, "CreateMessageFunction", "create-message-new-conversation",
                          operation_is("TransactWriteItems"), error=error)
    assert refused == ["TransactWriteItems"]
    assert snapshot(aws.table) == before


def test_idempotent_request_that_failed_can_be_retried_with_its_key(aws, seeded, monkeypatch) -> None:
    with monkeypatch.context() as outage:
        unavailable(aws, outage, "CreateMessageFunction", "create-message-idempotent", writes_to("MSG#"))
    # A 503 cannot tell whether the put was applied: the record is kept, for the retry to settle (resume) it.
    assert census(aws.table)["IDEMPOTENCY#"] == 1
    first = ok(aws.invoke("CreateMessageFunction", load_event("create-message-idempotent")))
    assert ok(aws.invoke("CreateMessageFunction", load_event("create-message-idempotent"))) == first
    assert [item["message_uuid"] for item in messages_in(aws.table, SEED_GROUP_UUID)
            if item["message"].startswith("Sent exactly once")] == [first["uuid"]]


def test_idempotency_store_unavailable_is_503_and_nothing_is_sent(aws, seeded, monkeypatch) -> None:
    before = snapshot(aws.table)
    refused = unavailable(aws, monkeypatch, "CreateMessageFunction", "create-message-idempotent",
                          writes_to("IDEMPOTENCY#"))
    assert refused == ["PutItem"]
    assert snapshot(aws.table) == before


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_dead_endpoint_is_503_within_the_sdk_retry_bound(aws, seeded, monkeypatch) -> None:
    """No fault injection: the functions' DynamoDB endpoint points where nothing listens, so the SDK really
    tries, retries (standard mode) and gives up. Only the back-off sleeps are skipped."""
    attempts: list[str] = []
    monkeypatch.setattr(ExponentialBackoff, "delay_amount",
                        lambda self, context: attempts.append(context.operation_model.name) or 0)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", f"http://127.0.0.1:{closed_port()}")
    cold_start()
    started = time.monotonic()
    assert_error(Caller(aws, BAYKO).list_messages(SEED_GROUP_UUID), 503, "dependency_unavailable")
    assert_error(Caller(aws, BAYKO).send("anyone?", group=SEED_GROUP_UUID), 503, "dependency_unavailable")
    assert time.monotonic() - started < 5
    # Two requests (each stopped at its membership read), each call tried 3 times in all: 2 back-offs each.
    assert attempts == ["GetItem"] * 4


def test_the_sdk_retry_bound_ends_before_the_function_timeout() -> None:
    """Worst case of one DynamoDB call: every attempt waits out both timeouts, every back-off its maximum
    (standard mode: at most 2^(n-1) s before retry n). It must end before Lambda's timeout, or the client would
    get API Gateway's 500 for a timed-out function instead of our 503."""
    from cruddur_messaging.data.dynamodb import CLIENT_CONFIG

    attempts = CLIENT_CONFIG.retries["total_max_attempts"]
    per_attempt = CLIENT_CONFIG.connect_timeout + CLIENT_CONFIG.read_timeout
    back_offs = sum(min(20, 2 ** (retry - 1)) for retry in range(1, attempts))
    specs = local_function_specs(LocalResources(table_name="t"), stream_arn="no-stream-needed-for-the-timeouts")
    timeout = min(spec.timeout_seconds for spec in specs.values() if spec.routes)  # the functions behind the API
    assert attempts * per_attempt + back_offs < timeout


def test_configuration_unreadable_is_503(aws, seeded) -> None:
    """The database URL parameter or the cursor secret cannot be read at cold start: 503, not 500."""
    region = aws.resources.region
    boto3.client("secretsmanager", region_name=region).delete_secret(
        SecretId=aws.resources.cursor_secret_name, ForceDeleteWithoutRecovery=True)
    cold_start()
    assert_error(aws.invoke("ListGroupsFunction", load_event("list-groups")), 503, "dependency_unavailable")
    boto3.client("ssm", region_name=region).delete_parameter(Name=aws.resources.database_url_parameter)
    cold_start()
    assert_error(aws.invoke("UsersShortFunction", load_event("users-short")), 503, "dependency_unavailable")
