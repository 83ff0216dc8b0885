"""Secrets the functions read from SSM Parameter Store and Secrets Manager, cached per container."""
from __future__ import annotations

from functools import cached_property

from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from cruddur_messaging.config import Settings
from cruddur_messaging.data.dynamodb import CLIENT_CONFIG
from cruddur_messaging.errors import DependencyUnavailable
from cruddur_messaging.observability import logger


class Parameters:
    """A container's parameter and secret reads. Each provider (and its client) is created on first use, and keeps
    what it read for ``PARAMETER_CACHE_SECONDS``: a warm container reads each value again only that often."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    @cached_property
    def _ssm(self) -> SSMProvider:
        return SSMProvider(boto_config=CLIENT_CONFIG)

    @cached_property
    def _secrets(self) -> SecretsProvider:
        return SecretsProvider(boto_config=CLIENT_CONFIG)

    def database_url(self) -> str:
        """The PostgreSQL connection string (an SSM SecureString named by DATABASE_URL_PARAMETER)."""
        try:
            return self._ssm.get(self._settings.require_database(), decrypt=True,
                                 max_age=self._settings.parameter_cache_seconds)
        except GetParameterError as error:
            logger.warning("cannot read the database parameter", extra={"error": str(error)})
            raise DependencyUnavailable("The user directory is temporarily unavailable.") from error

    def cursor_signing_key(self) -> bytes:
        """The HMAC key of the pagination cursors (a Secrets Manager secret named by CURSOR_SECRET_ID)."""
        try:
            secret = self._secrets.get(self._settings.require_cursor_secret(),
                                       max_age=self._settings.parameter_cache_seconds)
        except GetParameterError as error:
            logger.warning("cannot read the cursor signing secret", extra={"error": str(error)})
            raise DependencyUnavailable("The service is temporarily unavailable.") from error
        return secret.encode() if isinstance(secret, str) else secret
