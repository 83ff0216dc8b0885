"""Secrets the functions read from SSM Parameter Store and Secrets Manager, cached per container."""
from __future__ import annotations

from functools import lru_cache

from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from cruddur_messaging.config import get_settings
from cruddur_messaging.data.dynamodb import CLIENT_CONFIG
from cruddur_messaging.errors import DependencyUnavailable
from cruddur_messaging.observability import logger


@lru_cache(maxsize=1)
def _ssm() -> SSMProvider:
    return SSMProvider(boto_config=CLIENT_CONFIG)


@lru_cache(maxsize=1)
def _secrets() -> SecretsProvider:
    return SecretsProvider(boto_config=CLIENT_CONFIG)


def database_url() -> str:
    """The PostgreSQL connection string (an SSM SecureString named by DATABASE_URL_PARAMETER)."""
    settings = get_settings()
    try:
        return _ssm().get(settings.require_database(), decrypt=True, max_age=settings.parameter_cache_seconds)
    except GetParameterError as error:
        logger.warning("cannot read the database parameter", extra={"error": str(error)})
        raise DependencyUnavailable("The user directory is temporarily unavailable.") from error


def cursor_signing_key() -> bytes:
    """The HMAC key of the pagination cursors (a Secrets Manager secret named by CURSOR_SECRET_ID)."""
    settings = get_settings()
    try:
        secret = _secrets().get(settings.require_cursor_secret(), max_age=settings.parameter_cache_seconds)
    except GetParameterError as error:
        logger.warning("cannot read the cursor signing secret", extra={"error": str(error)})
        raise DependencyUnavailable("The service is temporarily unavailable.") from error
    return secret.encode() if isinstance(secret, str) else secret
