"""Configuration from environment variables, read and validated once per container: at cold start, when the
handler module builds its container (``cruddur_messaging.containers``)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


class ConfigurationError(RuntimeError):
    """A required environment variable is missing or invalid: the function cannot start."""


TUTORIAL_DATA_READ = "read"
TUTORIAL_DATA_MIGRATED = "migrated"
TUTORIAL_DATA_MODES = (TUTORIAL_DATA_READ, TUTORIAL_DATA_MIGRATED)
"""``TUTORIAL_DATA`` (the template's ``TutorialData``): ``read`` serves groups and pairs written the tutorial's way
through ``data.tutorial_data``; ``migrated``, for a table ``bin/ddb/migrate`` upgraded, never looks for them."""


@dataclass(frozen=True)
class Settings:
    table_name: str
    message_group_index_name: str
    database_url_parameter: str | None
    cursor_secret_id: str | None
    caller_cache_ttl_seconds: int
    parameter_cache_seconds: int
    tutorial_data: str = TUTORIAL_DATA_READ

    @classmethod
    def from_environment(cls, environ: os._Environ[str] | dict[str, str] = os.environ) -> "Settings":
        return cls(
            table_name=_required(environ, "TABLE_NAME"),
            message_group_index_name=_required(environ, "MESSAGE_GROUP_INDEX_NAME"),
            database_url_parameter=_optional(environ, "DATABASE_URL_PARAMETER"),
            cursor_secret_id=_optional(environ, "CURSOR_SECRET_ID"),
            caller_cache_ttl_seconds=_positive_int(environ, "CALLER_CACHE_TTL_SECONDS", 300),
            parameter_cache_seconds=_positive_int(environ, "PARAMETER_CACHE_SECONDS", 300),
            tutorial_data=_one_of(environ, "TUTORIAL_DATA", TUTORIAL_DATA_MODES),
        )

    @property
    def reads_tutorial_data(self) -> bool:
        """Whether the stores fall back on ``data.tutorial_data`` for a group or pair without its item."""
        return self.tutorial_data == TUTORIAL_DATA_READ

    def require_database(self) -> str:
        if not self.database_url_parameter:
            raise ConfigurationError("environment variable DATABASE_URL_PARAMETER is required")
        return self.database_url_parameter

    def require_cursor_secret(self) -> str:
        if not self.cursor_secret_id:
            raise ConfigurationError("environment variable CURSOR_SECRET_ID is required")
        return self.cursor_secret_id


@dataclass(frozen=True)
class SyncSettings:
    """``GET /api/sync``'s own variable: the index of the group rows by version (the template's
    ``RowVersionIndexName``), set on its function only."""

    row_version_index_name: str

    @classmethod
    def from_environment(cls, environ: os._Environ[str] | dict[str, str] = os.environ) -> "SyncSettings":
        return cls(row_version_index_name=_required(environ, "ROW_VERSION_INDEX_NAME"))


SSLMODE_VERIFY_FULL = "verify-full"
SSLMODE_REQUIRE = "require"
DATABASE_SSLMODES = (SSLMODE_VERIFY_FULL, SSLMODE_REQUIRE)
"""``DATABASE_SSLMODE`` (the template's ``DatabaseSslMode``): ``verify-full`` by default, ``require`` the floor; libpq's
weaker modes (``prefer``, its default, ``allow``, ``disable``) may end up unencrypted and are refused at cold start."""
RDS_CA_BUNDLE = Path(__file__).parent / "data" / "certs" / "rds-ca-bundle.pem"
"""The Amazon RDS certificate authorities of every region and the Amazon Trust Services roots of RDS Proxy, shipped
in the layer (``make certs`` regenerates it; README, "PostgreSQL over TLS")."""


@dataclass(frozen=True)
class DatabaseTls:
    """How the functions connect to PostgreSQL over TCP: always encrypted, and with ``verify-full`` the server's
    certificate must chain to ``root_cert`` and name the host (libpq's ``sslmode``/``sslrootcert``). Read at cold start,
    when a container that reads PostgreSQL is built: a bad mode or a missing bundle fails the function's init."""

    sslmode: str
    root_cert: Path

    @classmethod
    def from_environment(cls, environ: os._Environ[str] | dict[str, str] = os.environ) -> "DatabaseTls":
        sslmode = _one_of(environ, "DATABASE_SSLMODE", DATABASE_SSLMODES)
        root_cert = Path(_optional(environ, "DATABASE_SSLROOTCERT") or RDS_CA_BUNDLE)
        if sslmode == SSLMODE_VERIFY_FULL and not root_cert.is_file():
            raise ConfigurationError(f"DATABASE_SSLROOTCERT: no certificate bundle at {root_cert}")
        return cls(sslmode=sslmode, root_cert=root_cert)


@dataclass(frozen=True)
class LiveSettings:
    """The live functions' side of the WebSocket API: where its management API is and how many connections a
    user keeps. ``WEBSOCKET_API_ENDPOINT`` is the API's own endpoint (``wss://{api id}.execute-api...``, the
    template's ``ApiEndpoint``); its management API answers on ``https://`` at the same host under the stage."""

    management_endpoint: str
    connections_per_user: int

    @classmethod
    def from_environment(cls, environ: os._Environ[str] | dict[str, str] = os.environ) -> "LiveSettings":
        endpoint = _required(environ, "WEBSOCKET_API_ENDPOINT")
        stage = _required(environ, "WEBSOCKET_STAGE")
        return cls(management_endpoint=management_endpoint_of(endpoint, stage),
                   connections_per_user=_positive_int(environ, "LIVE_CONNECTIONS_PER_USER", 10))


def management_endpoint_of(api_endpoint: str, stage: str) -> str:
    """``wss://host`` -> ``https://host/stage`` (and ``ws://`` -> ``http://`` for a local stand-in)."""
    scheme, separator, rest = api_endpoint.partition("://")
    if not separator or scheme not in ("wss", "ws", "https", "http"):
        raise ConfigurationError(f"WEBSOCKET_API_ENDPOINT must be a ws(s):// or http(s):// URL, got {api_endpoint!r}")
    http_scheme = {"wss": "https", "ws": "http"}.get(scheme, scheme)
    return f"{http_scheme}://{rest.rstrip('/')}/{stage.strip('/')}"


@dataclass(frozen=True)
class AuthorizerSettings:
    """What the WebSocket API's authorizer accepts: access tokens of this pool (issuer) for this app client."""

    issuer: str
    app_client_id: str

    @classmethod
    def from_environment(cls, environ: os._Environ[str] | dict[str, str] = os.environ) -> "AuthorizerSettings":
        return cls(issuer=_required(environ, "COGNITO_ISSUER").rstrip("/"),
                   app_client_id=_required(environ, "COGNITO_APP_CLIENT_ID"))


@dataclass(frozen=True)
class SendLimitSettings:
    """Create-message's per-user limits (the template's ``SendBurst``, ``SendRatePerSecond``, ``NewConversationBurst``,
    ``NewConversationRatePerMinute``): how many messages, and new conversations, a user may send at once, and how
    fast that allowance comes back (``domain.send_limits``). Read at cold start: a missing or bad value fails it."""

    send_burst: int
    send_rate_per_second: int
    new_conversation_burst: int
    new_conversation_rate_per_minute: int

    @classmethod
    def from_environment(cls, environ: os._Environ[str] | dict[str, str] = os.environ) -> "SendLimitSettings":
        return cls(send_burst=_required_positive_int(environ, "SEND_BURST"),
                   send_rate_per_second=_required_positive_int(environ, "SEND_RATE_PER_SECOND"),
                   new_conversation_burst=_required_positive_int(environ, "NEW_CONVERSATION_BURST"),
                   new_conversation_rate_per_minute=_required_positive_int(environ,
                                                                           "NEW_CONVERSATION_RATE_PER_MINUTE"))


def _required(environ: os._Environ[str] | dict[str, str], name: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"environment variable {name} is required")
    return value


def _optional(environ: os._Environ[str] | dict[str, str], name: str) -> str | None:
    return environ.get(name, "").strip() or None


def _positive_int(environ: os._Environ[str] | dict[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip() or str(default)
    if not raw.isdigit() or int(raw) <= 0:
        raise ConfigurationError(f"environment variable {name} must be a positive integer, got {raw!r}")
    return int(raw)


def _required_positive_int(environ: os._Environ[str] | dict[str, str], name: str) -> int:
    raw = _required(environ, name)
    if not raw.isdigit() or int(raw) <= 0:
        raise ConfigurationError(f"environment variable {name} must be a positive integer, got {raw!r}")
    return int(raw)


def _one_of(environ: os._Environ[str] | dict[str, str], name: str, allowed: tuple[str, ...]) -> str:
    """The variable's value, one of ``allowed``; the first when it is unset or empty."""
    raw = environ.get(name, "").strip() or allowed[0]
    if raw not in allowed:
        raise ConfigurationError(f"environment variable {name} must be one of {', '.join(allowed)}, got {raw!r}")
    return raw
