"""Fixtures of the stream function's tests (import them into a test module to use them)."""
from __future__ import annotations

from typing import Any, Iterator

import boto3
import pytest

from devtools.stream_reader import STREAM_FUNCTION, StreamReader
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
    """Botocore event hooks on the stream function's DynamoDB client (created now, kept by its container)."""
    registered = Hooks(aws.container(STREAM_FUNCTION).dynamodb.meta.client.meta.events)
    yield registered
    registered.clear()


@pytest.fixture
def calls(hooks: Hooks) -> CallCounter:
    """The DynamoDB calls the function makes, by operation."""
    counter = CallCounter()
    hooks.on("before-call.dynamodb", counter)
    return counter
