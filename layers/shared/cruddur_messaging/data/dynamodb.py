"""The DynamoDB resource the containers create (one each, see ``cruddur_messaging.containers``), and translation of
outages into a 503."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionError as BotoConnectionError, HTTPClientError

from cruddur_messaging.errors import DependencyUnavailable
from cruddur_messaging.observability import logger

# Bounded: three attempts in all (standard mode: throttling and transient errors, with jittered back-off of at
# most 1 s then 2 s). The worst case, 3 x (1 s connect + 2 s read) + 3 s = 12 s, ends before the functions'
# timeout, so a client gets our 503 rather than a timeout; tests/integration/test_dynamodb_outage.py holds this.
CLIENT_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=1, read_timeout=2)

UNAVAILABLE_ERROR_CODES = frozenset({
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "LimitExceededException",
})


def create_dynamodb_resource():
    """A new resource (a container makes one); the endpoint and region come from the standard variables
    (AWS_ENDPOINT_URL, AWS_REGION)."""
    return boto3.resource("dynamodb", config=CLIENT_CONFIG)


def is_unavailable(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") in UNAVAILABLE_ERROR_CODES


@contextmanager
def dynamodb_errors_as_unavailable() -> Iterator[None]:
    """DynamoDB throttled or unreachable after the SDK's retries: a 503 the client may retry, never a 500."""
    try:
        yield
    except ClientError as error:
        if is_unavailable(error):
            logger.warning("DynamoDB unavailable", extra={"error_code": error.response["Error"]["Code"]})
            raise DependencyUnavailable("The message store is temporarily unavailable.") from error
        raise
    except (BotoConnectionError, HTTPClientError) as error:
        logger.warning("DynamoDB unreachable", extra={"error": str(error)})
        raise DependencyUnavailable("The message store is temporarily unavailable.") from error
