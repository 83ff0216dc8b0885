"""No message text and no token in traces or logs: what the Tracer and the Logger would record for a send.

The Tracer's provider is replaced by one that records every subsegment, annotation, metadata and exception the
handler's decorator hands it (in Lambda, what goes to X-Ray). The Logger's output is read as Lambda would ship
it, at DEBUG so that nothing is filtered out, and so are other libraries' warnings (Lambda ships those too).
The handlers are imported afresh with the environment the template gives them, so the template's
``POWERTOOLS_TRACER_CAPTURE_RESPONSE`` is what is tested; with it turned on, the same check finds the message.
"""
from __future__ import annotations

import io
import json
import logging
import os
import sys
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

import aws_xray_sdk
import pytest

from cruddur_messaging import observability
from tests.support.api import assert_error, ok
from tests.support.calls import fail_dynamodb, writes_to
from tests.support.client import create_message_event
from tests.support.events import SEED_GROUP_UUID
from tests.support.people import ANDREW

CREATE_MESSAGE = "CreateMessageFunction"
TOKEN = "eyJraWQiOiJsb2NhbCJ9.eyJzdWIiOiJzZWNyZXQifQ.c2lnbmF0dXJlLW5vdC10by1iZS1sb2dnZWQ"
"""What API Gateway passes on in the Authorization header (the JWT authorizer verified it before)."""


@dataclass
class RecordedSubsegment:
    name: str
    annotations: dict[str, Any] = field(default_factory=dict)
    metadata: list[tuple[str, Any, str]] = field(default_factory=list)
    exceptions: list[Any] = field(default_factory=list)

    def put_annotation(self, key: str, value: Any) -> None:
        self.annotations[key] = value

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        self.metadata.append((key, value, namespace))

    def add_exception(self, exception: Any, stack: Any = None, remote: bool = False) -> None:
        self.exceptions.append((exception, stack))


@dataclass
class RecordingProvider:
    """Stands in for the X-Ray recorder behind Powertools' Tracer."""

    subsegments: list[RecordedSubsegment] = field(default_factory=list)

    @contextmanager
    def in_subsegment(self, name: str | None = None, **_: Any) -> Iterator[RecordedSubsegment]:
        subsegment = RecordedSubsegment(name or "")
        self.subsegments.append(subsegment)
        yield subsegment

    def put_annotation(self, key: str, value: Any) -> None:  # pragma: no cover - the handlers do not call it
        raise AssertionError("annotations go through the handler's subsegment")

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:  # pragma: no cover
        raise AssertionError("metadata goes through the handler's subsegment")


@dataclass
class Telemetry:
    provider: RecordingProvider
    logs: io.StringIO
    caplog: pytest.LogCaptureFixture

    def recorded(self) -> str:
        """Everything recorded, as text: trace subsegments, the Logger's lines, other loggers' warnings."""
        traces = json.dumps([subsegment.__dict__ for subsegment in self.provider.subsegments], default=repr)
        warnings = [f"{record.name} {record.getMessage()} {record.__dict__}" for record in self.caplog.records
                    if record.levelno >= logging.WARNING]
        return "\n".join([traces, self.logs.getvalue(), *warnings])


@pytest.fixture
def telemetry(aws, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> Iterator[Telemetry]:
    provider = RecordingProvider()
    monkeypatch.setattr(observability.tracer, "provider", provider)
    logs = io.StringIO()
    monkeypatch.setattr(observability.logger.registered_handler, "stream", logs)
    level = observability.logger.log_level
    observability.logger.setLevel(logging.DEBUG)
    caplog.set_level(logging.WARNING)
    fresh_handler_module(monkeypatch)
    yield Telemetry(provider, logs, caplog)
    observability.logger.setLevel(level)


def fresh_handler_module(monkeypatch: pytest.MonkeyPatch) -> None:
    """The next invocation imports the handler again (a new container), under the current environment."""
    monkeypatch.delitem(sys.modules, f"cruddur_function_{CREATE_MESSAGE}", raising=False)


def send(aws, text: str, idempotency_key: str | None = None, **target: str) -> dict[str, Any]:
    event = create_message_event(ANDREW, {"message": text, **target}, idempotency_key)
    event["headers"]["authorization"] = f"Bearer {TOKEN}"
    return aws.invoke(CREATE_MESSAGE, event)


def secret_text() -> str:
    return f"meet me at the docking bay {uuid.uuid4()}"


def assert_private(telemetry: Telemetry, text: str) -> None:
    recorded = telemetry.recorded()
    assert text not in recorded
    assert TOKEN not in recorded and TOKEN.split(".")[2] not in recorded


def test_a_send_records_neither_the_message_nor_the_token(aws, seeded, telemetry) -> None:
    texts = [secret_text() for _ in range(3)]
    assert ok(send(aws, texts[0], message_group_uuid=SEED_GROUP_UUID))["message"] == texts[0]
    assert ok(send(aws, texts[1], handle="londo"))["message"] == texts[1]  # a new conversation
    assert ok(send(aws, texts[2], "key-1", message_group_uuid=SEED_GROUP_UUID))["message"] == texts[2]
    assert ok(send(aws, texts[2], "key-1", message_group_uuid=SEED_GROUP_UUID))["message"] == texts[2]  # replayed

    # The tracer saw the invocations (so an empty record is not why nothing was found)...
    handler_segments = [s for s in telemetry.provider.subsegments if s.name == "## lambda_handler"]
    assert len(handler_segments) == 4
    assert all(s.annotations["Service"] == "cruddur-messaging" for s in handler_segments)
    # ...and neither the message nor the token is in what was recorded.
    for text in texts:
        assert_private(telemetry, text)


def test_a_failed_send_records_neither(aws, seeded, telemetry, monkeypatch) -> None:
    text = secret_text()
    refused = fail_dynamodb(monkeypatch, when=writes_to("MSG#"))
    assert_error(send(aws, text, message_group_uuid=SEED_GROUP_UUID), 503, "dependency_unavailable")
    assert refused == ["PutItem"]
    assert '"message":"DynamoDB unavailable"' in telemetry.logs.getvalue()  # the Logger's lines were read
    assert_private(telemetry, text)


def test_with_responses_captured_the_check_finds_the_message(aws, seeded, telemetry, monkeypatch) -> None:
    """The Tracer's default (what the template turns off): the response, and so the message, goes to X-Ray."""
    monkeypatch.setenv("POWERTOOLS_TRACER_CAPTURE_RESPONSE", "true")
    fresh_handler_module(monkeypatch)
    text = secret_text()
    ok(send(aws, text, message_group_uuid=SEED_GROUP_UUID))
    assert text in telemetry.recorded()


def test_the_template_turns_response_capture_off_for_every_function(aws) -> None:
    from devtools.environment import local_function_specs

    specs = local_function_specs(aws.resources, aws.stream_arn)
    assert {spec.environment.get("POWERTOOLS_TRACER_CAPTURE_RESPONSE") for spec in specs.values()} == {"false"}
    assert os.environ["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false"


def test_xray_records_no_item_data_of_dynamodb_calls() -> None:
    """The X-Ray SDK's patched botocore records only whitelisted parameters: for DynamoDB, never an item."""
    whitelist_path = os.path.join(os.path.dirname(aws_xray_sdk.__file__), "ext", "resources",
                                  "aws_para_whitelist.json")
    with open(whitelist_path) as file:
        operations = json.load(file)["services"]["dynamodb"]["operations"]
    recorded = {name for operation in operations.values() for key in ("request_parameters", "response_parameters")
                for name in operation.get(key, [])}
    assert recorded.isdisjoint({"Item", "Items", "Key", "TransactItems", "ExpressionAttributeValues", "Attributes"})
