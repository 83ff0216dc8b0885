"""What a Lambda container builds once and reuses while it is warm: one object per function, created by the
function's handler module at import (Lambda's init phase) and handed, member by member, to the domain.

Creating a container reads and validates the function's settings, so bad configuration fails the cold start, and
builds what costs no round trip: the user repository (its one PostgreSQL connection opens with the first query
and reopens when it dropped) and the callers' cache over it. What creates a client is built on first use and
kept (``cached_property``): the boto3 resource and the stores over it, the SSM and Secrets Manager providers
(inside ``Parameters``), the idempotency persistence layer, the management API's client; so are the card,
member and handle caches and the live-delivery pool. A warm invocation reuses all of it; a new container - a
fresh import of the handler module - starts from nothing, since no domain or data module keeps anything at
module level (``tests/unit/test_containers.py`` holds this).

Each member imports its module where it builds it: a function imports at init what it did before (its handler
imports its domain modules, which import their stores) and nothing it never uses (PostgreSQL in the stream
functions, Powertools idempotency outside create-message, PyJWT outside the authorizer).
"""
from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from cruddur_messaging.config import (
    AuthorizerSettings,
    DatabaseTls,
    LiveSettings,
    SendLimitSettings,
    Settings,
    SyncSettings,
)

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from cruddur_messaging.data.blocks import BlockStore
    from cruddur_messaging.data.connection_gateway import ConnectionGateway
    from cruddur_messaging.data.connections import ConnectionStore
    from cruddur_messaging.data.group_rows import GroupRowStore
    from cruddur_messaging.data.messages import MessageStore
    from cruddur_messaging.data.read_state import ReadStateStore
    from cruddur_messaging.data.row_versions import RowVersionReads
    from cruddur_messaging.domain.access_tokens import AccessTokenVerifier
    from cruddur_messaging.domain.create_message import MessageSending
    from cruddur_messaging.domain.identity import CallerDirectory
    from cruddur_messaging.domain.live_delivery import GroupMembers, MemberHandles
    from cruddur_messaging.domain.users_short import UserCards
    from cruddur_messaging.pagination import CursorCodec


class Container:
    """The table and its stores: the stream function's container, and the base of the others."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings.from_environment()

    @cached_property
    def dynamodb(self) -> Any:
        """The container's one boto3 DynamoDB resource: every store shares its client and connection pool."""
        from cruddur_messaging.data.dynamodb import create_dynamodb_resource

        return create_dynamodb_resource()

    @cached_property
    def table(self) -> Any:
        return self.dynamodb.Table(self.settings.table_name)

    @cached_property
    def message_store(self) -> MessageStore:
        from cruddur_messaging.data.messages import MessageStore

        return MessageStore(self.table, self.settings.message_group_index_name,
                            reads_tutorial_data=self.settings.reads_tutorial_data)

    @cached_property
    def group_row_store(self) -> GroupRowStore:
        from cruddur_messaging.data.group_rows import GroupRowStore

        return GroupRowStore(self.table, self.settings.message_group_index_name)

    @cached_property
    def read_state_store(self) -> ReadStateStore:
        from cruddur_messaging.data.read_state import ReadStateStore

        return ReadStateStore(self.table)


class Callers:
    """A function that knows its callers or users (PostgreSQL): the HTTP API's and the WebSocket authorizer. Each
    reads the TLS settings of PostgreSQL (``DatabaseTls``) in its ``__init__``, so a bad one fails the cold start."""

    settings: Settings

    def _caller_directory(self, tls: DatabaseTls) -> CallerDirectory:
        """The user repository (its one connection opens with the first query) and the callers' cache over it."""
        from cruddur_messaging.data.parameters import Parameters
        from cruddur_messaging.data.postgres import PostgresDatabase
        from cruddur_messaging.data.users import PostgresUserRepository
        from cruddur_messaging.domain.identity import CallerDirectory

        self.parameters = Parameters(self.settings)
        self.users = PostgresUserRepository(PostgresDatabase(self.parameters.database_url, tls))
        return CallerDirectory(self.users, self.settings.caller_cache_ttl_seconds)


class ApiContainer(Callers, Container):
    """The HTTP API's functions: the table, their callers and users."""

    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__(settings)
        self.callers = self._caller_directory(DatabaseTls.from_environment())

    @cached_property
    def user_cards(self) -> UserCards:
        from cruddur_messaging.domain.users_short import UserCards

        return UserCards(self.users)

    @cached_property
    def block_store(self) -> BlockStore:
        from cruddur_messaging.data.blocks import BlockStore

        return BlockStore(self.table)

    def cursor_codec(self) -> CursorCodec:
        """The codec of the pagination cursors; its key comes through the container's secret cache."""
        from cruddur_messaging.pagination import CursorCodec

        return CursorCodec(self.parameters.cursor_signing_key())


class CreateMessageContainer(ApiContainer):
    """Create-message's: also the senders' limits, whose settings (``SendLimitSettings``) are read at cold start."""

    def __init__(self, settings: Settings | None = None, limit_settings: SendLimitSettings | None = None) -> None:
        super().__init__(settings)
        self.limit_settings = limit_settings or SendLimitSettings.from_environment()

    @cached_property
    def message_sending(self) -> MessageSending:
        """Create-message's store, users, idempotency (its persistence layer has a DynamoDB client of its own) and
        limits (on the container's table; a request that resumes an earlier attempt's plan is not counted again)."""
        from cruddur_messaging.data.dynamodb import CLIENT_CONFIG
        from cruddur_messaging.data.idempotency import CreateMessageIdempotencyLayer
        from cruddur_messaging.data.send_limits import LimitStore
        from cruddur_messaging.domain.create_message import MessageSending
        from cruddur_messaging.domain.send_limits import SendLimits

        persistence = CreateMessageIdempotencyLayer(table_name=self.settings.table_name, boto_config=CLIENT_CONFIG)
        limits = SendLimits(LimitStore(self.table), self.limit_settings, resumed=persistence.resumed)
        return MessageSending(self.message_store, self.users, persistence, limits, blocks=self.block_store)


class SyncContainer(ApiContainer):
    """``GET /api/sync``: the HTTP API's container, and the reads of the index of group rows by version."""

    def __init__(self, settings: Settings | None = None, sync_settings: SyncSettings | None = None) -> None:
        super().__init__(settings)
        self.sync_settings = sync_settings or SyncSettings.from_environment()

    @cached_property
    def row_version_reads(self) -> RowVersionReads:
        from cruddur_messaging.data.row_versions import RowVersionReads

        return RowVersionReads(self.table, self.sync_settings.row_version_index_name)


class WebSocketApi:
    """The WebSocket API's side of a container: its connections and its management API."""

    table: Any
    live_settings: LiveSettings

    @cached_property
    def connection_store(self) -> ConnectionStore:
        from cruddur_messaging.data.connections import ConnectionStore

        return ConnectionStore(self.table)

    @cached_property
    def connection_gateway(self) -> ConnectionGateway:
        from cruddur_messaging.data.connection_gateway import ConnectionGateway

        return ConnectionGateway.at(self.live_settings.management_endpoint)


class LiveConnectionContainer(WebSocketApi, Container):
    """``$connect``, ``$disconnect`` and ``$default``: the caller's connections (the caller comes in the authorizer's
    context, never from PostgreSQL), the management API."""

    def __init__(self, settings: Settings | None = None, live_settings: LiveSettings | None = None) -> None:
        super().__init__(settings)
        self.live_settings = live_settings or LiveSettings.from_environment()


class LiveDeliveryContainer(WebSocketApi, Container):
    """Live delivery: the members' connections, the management API, the member and handle caches, the post pool."""

    def __init__(self, settings: Settings | None = None, live_settings: LiveSettings | None = None) -> None:
        super().__init__(settings)
        self.live_settings = live_settings or LiveSettings.from_environment()

    @cached_property
    def group_members(self) -> GroupMembers:
        from cruddur_messaging.domain.live_delivery import GroupMembers

        return GroupMembers(self.message_store)

    @cached_property
    def member_handles(self) -> MemberHandles:
        from cruddur_messaging.domain.live_delivery import MemberHandles

        return MemberHandles(self.message_store)

    @cached_property
    def post_executor(self) -> ThreadPoolExecutor:
        from concurrent.futures import ThreadPoolExecutor

        from cruddur_messaging.domain.live_delivery import POST_CONCURRENCY

        return ThreadPoolExecutor(max_workers=POST_CONCURRENCY, thread_name_prefix="post-to-connection")


class AuthorizerContainer(Callers):
    """The WebSocket API's ``$connect`` authorizer: the token verifier and its JWKS cache, and the callers (the only
    function of the WebSocket API that reads PostgreSQL)."""

    def __init__(self, authorizer_settings: AuthorizerSettings | None = None, settings: Settings | None = None) -> None:
        self.authorizer_settings = authorizer_settings or AuthorizerSettings.from_environment()
        self.settings = settings or Settings.from_environment()
        self.database_tls = DatabaseTls.from_environment()

    @cached_property
    def callers(self) -> CallerDirectory:
        """Built with the first admitted token: a refused one (no token, a forged one) never loads PostgreSQL's
        client, and the init stays within the cold-start budget next to PyJWT and ``cryptography``."""
        return self._caller_directory(self.database_tls)

    @cached_property
    def access_token_verifier(self) -> AccessTokenVerifier:
        from cruddur_messaging.domain.access_tokens import AccessTokenVerifier

        return AccessTokenVerifier.of(self.authorizer_settings)
