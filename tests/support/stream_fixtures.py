"""Fixtures of the stream function's tests (import them into a test module to use them)."""
from __future__ import annotations

from typing import Any, Iterator

import boto3
import pytest

from cruddur_messaging.data.dynamodb import dynamodb_resource
from devtools.stream_reader import StreamReader
from tests.support.streams import CallCounter, Hooks


@pytest.fixture
def ddb(aws: Any) -> Any:
    """A plain low-level client, the way the tutorial's scripts write."""
    return boto3.client("dynamodb", region_name=aws.resources.region)


@pytest.fixture
def stream(aws: Any) -> StreamReader:
    return StreamReader(aws.stream_arn, aws.resources)


@pytest.fixture
def hooks(aws: Any) -> Iterator[Hooks]:
    """Botocore event hooks on the client of the function's layer (created now, cached for the container)."""
    registered = Hooks(dynamodb_resource().meta.client.meta.events)
    yield registered
    registered.clear()


@pytest.fixture
def calls(hooks: Hooks) -> CallCounter:
    """The DynamoDB calls the function makes, by operation."""
    counter = CallCounter()
    hooks.on("before-call.dynamodb", counter)
    return counter
