"""Configuration from environment variables, read and validated once per container (at cold start)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache


class ConfigurationError(RuntimeError):
    """A required environment variable is missing or invalid: the function cannot start."""


@dataclass(frozen=True)
class Settings:
    table_name: str
    message_group_index_name: str
    database_url_parameter: str | None
    cursor_secret_id: str | None
    caller_cache_ttl_seconds: int
    parameter_cache_seconds: int

    @classmethod
    def from_environment(cls, environ: os._Environ[str] | dict[str, str] = os.environ) -> "Settings":
        def required(name: str) -> str:
            value = environ.get(name, "").strip()
            if not value:
                raise ConfigurationError(f"environment variable {name} is required")
            return value

        def optional(name: str) -> str | None:
            return environ.get(name, "").strip() or None

        def positive_int(name: str, default: int) -> int:
            raw = environ.get(name, "").strip() or str(default)
            if not raw.isdigit() or int(raw) <= 0:
                raise ConfigurationError(f"environment variable {name} must be a positive integer, got {raw!r}")
            return int(raw)

        return cls(
            table_name=required("TABLE_NAME"),
            message_group_index_name=required("MESSAGE_GROUP_INDEX_NAME"),
            database_url_parameter=optional("DATABASE_URL_PARAMETER"),
            cursor_secret_id=optional("CURSOR_SECRET_ID"),
            caller_cache_ttl_seconds=positive_int("CALLER_CACHE_TTL_SECONDS", 300),
            parameter_cache_seconds=positive_int("PARAMETER_CACHE_SECONDS", 300),
        )

    def require_database(self) -> str:
        if not self.database_url_parameter:
            raise ConfigurationError("environment variable DATABASE_URL_PARAMETER is required")
        return self.database_url_parameter

    def require_cursor_secret(self) -> str:
        if not self.cursor_secret_id:
            raise ConfigurationError("environment variable CURSOR_SECRET_ID is required")
        return self.cursor_secret_id


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The container's settings; tests call ``get_settings.cache_clear()`` after changing the environment."""
    return Settings.from_environment()
