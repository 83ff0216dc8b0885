"""The WebSocket API of ``template.yaml`` on a local port, as API Gateway runs it (``sam local`` cannot run
WebSocket APIs at all: aws-sam-cli #896, #7975).

- **Handshake** (``$connect``): the route's REQUEST authorizer function runs first; failing with the message
  ``Unauthorized`` refuses the handshake with a 401, a policy that does not allow the route with a 403, any other
  error with a 500 - all with API Gateway's JSON bodies. Then the route's integration runs with the authorizer's
  context: a non-2xx answer refuses the handshake with that status, and its ``Sec-WebSocket-Protocol`` header
  selects the subprotocol.
- **Frames**: each one goes to the route its ``RouteSelectionExpression`` (``$request.body.action``) names, else
  to ``$default``; with a route response, the function's ``body`` is sent back on the connection.
- **Close**: ``$disconnect`` runs once the connection is gone.
- **Management API** (``POST``/``GET``/``DELETE`` ``[/{stage}]/@connections/{id}``, 410 ``GoneException`` for a
  connection that is not open, 429 ``LimitExceededException`` at once for one whose client stopped reading or after
  a send cancelled at ``SEND_TIMEOUT_SECONDS``), which the functions reach with boto3's ``apigatewaymanagementapi``
  client. It listens on a port of its own: the ``websockets`` server reads no request bodies (``Request.parse``
  refuses any ``Content-Length`` but 0), and ``PostToConnection`` carries its frame as the body.

Every function runs through ``runner.invoke`` (worker threads here, so that the event loop keeps serving).
The sockets are the ``websockets`` package's; this module only plays API Gateway around them.
"""
from __future__ import annotations

import asyncio
import base64
import fnmatch
import json
import logging
import re
import secrets
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Mapping, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from devtools.environment import LOCAL_ACCOUNT_ID, WEBSOCKET_API_ID
from devtools.template import WebSocketApiSpec, WebSocketRoute

log = logging.getLogger(__name__)

Invoke = Callable[[str, dict[str, Any]], Any]

# API Gateway's quotas: 128 KB per message (frames of up to 32 KB), 29 s per integration.
MAX_MESSAGE_BYTES = 128 * 1024
INTEGRATION_TIMEOUT_SECONDS = 29
# How long a management call waits for a frame to be handed to the socket before the send is cancelled and the
# call answered 429 (a socket whose buffer is full already is answered at once): well inside the functions' 2 s
# read timeout (cruddur_messaging.data.connection_gateway), so they get the answer.
SEND_TIMEOUT_SECONDS = 1
# The kernel's send buffer of each connection's socket. API Gateway holds a bounded buffer per client (it answers
# 429 once "the WebSocket client side buffer is full"); left to itself, Linux grows a socket's buffer to megabytes,
# and a client that stops reading would be noticed only that late.
CLIENT_SEND_BUFFER_BYTES = 4 * 1024
# API Gateway's own answer when an integration or authorizer fails.
INTERNAL_ERROR = "Internal server error"
_MANAGEMENT_PATH = re.compile(r"^(?:/[^/@]+)?/@connections/(?P<connection_id>[^/?]+)$")


class AuthorizerRefused(Exception):
    """The handshake is refused before ``$connect``'s integration runs."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Session:
    """A connection as API Gateway knows it: its id, who authorized it, when it was last active."""

    connection_id: str
    source_ip: str
    user_agent: str
    authorizer: dict[str, Any] | None = None
    subprotocol: str | None = None
    connected_at: float = field(default_factory=time.time)
    last_active_at: float = field(default_factory=time.time)
    socket: ServerConnection | None = None


def new_connection_id() -> str:
    """Shaped like API Gateway's (12 random bytes, base64: ``L0SM9cOFvHcCIhw=``)."""
    return base64.b64encode(secrets.token_bytes(10)).decode()


def policy_allows(policy: Any, method_arn: str) -> bool:
    """An IAM policy of an authorizer's answer: some Allow of ``execute-api:Invoke`` on the route and no Deny."""
    statements = policy.get("Statement", []) if isinstance(policy, Mapping) else []
    statements = [statements] if isinstance(statements, Mapping) else statements

    def matches(statement: Mapping[str, Any]) -> bool:
        actions = statement.get("Action", [])
        resources = statement.get("Resource", [])
        actions = [actions] if isinstance(actions, str) else actions
        resources = [resources] if isinstance(resources, str) else resources
        return (any(fnmatch.fnmatchcase("execute-api:Invoke", action) for action in actions)
                and any(fnmatch.fnmatchcase(method_arn, resource) for resource in resources))

    effects = {statement.get("Effect") for statement in statements if matches(statement)}
    return "Allow" in effects and "Deny" not in effects


class ConnectionRegistry(Protocol):
    """What the management API acts on: the open connections (the local WebSocket API's, or a test's)."""

    def open_session(self, connection_id: str) -> Session | None: ...

    def send(self, session: Session, data: bytes) -> None:
        """Hands a frame to the connection; raises ConnectionClosed if it is gone, ClientBufferFull or TimeoutError
        if it is stuck."""

    def close(self, session: Session) -> None: ...


class LocalWebSocketApi:
    """Serves ``spec`` on ``host:port`` (sockets) and ``host:management_port`` (the management API)."""

    def __init__(self, spec: WebSocketApiSpec, invoke: Invoke, host: str, port: int, management_port: int,
                 region: str, max_concurrent_invocations: int = 32) -> None:
        self.spec = spec
        self.host = host
        self.port = port
        self.region = region
        self._invoke = invoke
        self._invocations = ThreadPoolExecutor(max_workers=max_concurrent_invocations,
                                               thread_name_prefix="websocket-invoke")
        self._sessions: dict[str, Session] = {}
        self._pending: dict[uuid.UUID, Session] = {}
        self._closing: set[asyncio.Future[None]] = set()
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._stop_requested: asyncio.Event | None = None
        self._stopping = False
        # Bound now: a port in use fails the start, not a request later.
        self.management = ManagementServer((host, management_port), self)
        self._management_thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="websocket-api", daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._startup_error is not None:
            self.management.server_close()
            raise self._startup_error
        self._management_thread = threading.Thread(target=self.management.serve_forever,
                                                   name="websocket-management-api", daemon=True)
        self._management_thread.start()

    def stop(self) -> None:
        """Closes every connection (no ``$disconnect``: the stack is going away) and both servers."""
        self._stopping = True
        if self._stop_requested is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._stop_requested.set)
        if self._thread is not None:
            self._thread.join(15)
        if self._management_thread is not None:
            self.management.shutdown()
        self.management.server_close()
        self._invocations.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as error:  # noqa: BLE001 - reported to start(), which raises it
            self._startup_error = error
            self._ready.set()
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        self._stop_requested = asyncio.Event()
        server: Server
        async with serve(self._handle, self.host, self.port, process_request=self._process_request,
                         process_response=self._forget_refused_handshake,
                         select_subprotocol=self._select_subprotocol, ping_interval=None,
                         max_size=MAX_MESSAGE_BYTES, open_timeout=INTEGRATION_TIMEOUT_SECONDS * 2 + 5,
                         logger=logging.getLogger("devtools.local_stack.websocket_api.sockets")) as server:
            self._ready.set()
            await self._stop_requested.wait()
            server.close()

    # --- handshake -------------------------------------------------------------------------------------------

    async def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path.rstrip("/")
        if path not in ("", f"/{self.spec.stage}"):
            return json_response(HTTPStatus.NOT_FOUND, {"message": "Not Found"})
        if "websocket" not in request.headers.get("Upgrade", "").lower():
            return json_response(HTTPStatus.UPGRADE_REQUIRED, {"message": "Upgrade Required"})
        connection.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF,
                                                                 CLIENT_SEND_BUFFER_BYTES)
        session = Session(connection_id=new_connection_id(), source_ip=str(connection.remote_address[0]),
                          user_agent=request.headers.get("User-Agent", ""))
        connect_route = self.spec.routes.get("$connect")
        try:
            if connect_route is not None:
                if connect_route.authorizer_function:
                    session.authorizer = await self._authorize(connect_route, session, request)
                response = await self._call(connect_route.function, self._connect_event(session, request))
                status = int(response.get("statusCode", 200)) if isinstance(response, Mapping) else 200
                if not 200 <= status < 300:
                    log.info("$connect refused the connection with %d", status)
                    return json_response(HTTPStatus(status), _body_of(response) or {"message": "Forbidden"})
                session.subprotocol = _header(response.get("headers") if isinstance(response, Mapping) else None,
                                              "Sec-WebSocket-Protocol")
        except AuthorizerRefused as refusal:
            log.info("handshake refused: %s", refusal)
            message = INTERNAL_ERROR if refusal.status is HTTPStatus.INTERNAL_SERVER_ERROR else refusal.status.phrase
            return json_response(refusal.status, {"message": message})
        except Exception:  # noqa: BLE001 - a failed integration is API Gateway's 500, never a crash of the server
            log.exception("$connect failed")
            return json_response(HTTPStatus.INTERNAL_SERVER_ERROR, {"message": INTERNAL_ERROR})
        self._pending[connection.id] = session
        return None

    def _forget_refused_handshake(self, connection: ServerConnection, request: Request,
                                  response: Response) -> None:
        """A handshake that ``$connect`` admitted can still fail (a bad ``Sec-WebSocket-Key``...): no session."""
        if response.status_code != HTTPStatus.SWITCHING_PROTOCOLS:
            self._pending.pop(connection.id, None)

    def _select_subprotocol(self, connection: ServerConnection, offered: Any) -> Any:
        session = self._pending.get(connection.id)
        chosen = session.subprotocol if session else None
        return chosen if chosen in offered else None

    async def _authorize(self, route: WebSocketRoute, session: Session, request: Request) -> dict[str, Any]:
        method_arn = (f"arn:aws:execute-api:{self.region}:{LOCAL_ACCOUNT_ID}:{WEBSOCKET_API_ID}/{self.spec.stage}/"
                      f"{route.route_key}")
        event = {"type": "REQUEST", "methodArn": method_arn, **_request_parts(request), "stageVariables": {},
                 "requestContext": self._request_context(route.route_key, "CONNECT", session)}
        try:
            answer = await self._call(route.authorizer_function, event)
        except Exception as error:  # noqa: BLE001 - how API Gateway reads an authorizer's failure
            if str(error) == "Unauthorized":
                raise AuthorizerRefused(HTTPStatus.UNAUTHORIZED, "the authorizer refused the token") from None
            log.exception("the authorizer failed")
            raise AuthorizerRefused(HTTPStatus.INTERNAL_SERVER_ERROR, f"the authorizer failed: {error}") from None
        if not isinstance(answer, Mapping) or not policy_allows(answer.get("policyDocument"), method_arn):
            raise AuthorizerRefused(HTTPStatus.FORBIDDEN, "the authorizer's policy does not allow $connect")
        context = {key: value for key, value in (answer.get("context") or {}).items()
                   if isinstance(value, (str, int, float, bool))}
        return {**context, "principalId": str(answer.get("principalId", "")), "integrationLatency": 0}

    # --- an open connection ----------------------------------------------------------------------------------

    async def _handle(self, connection: ServerConnection) -> None:
        session = self._pending.pop(connection.id)
        session.socket = connection
        self._sessions[session.connection_id] = session
        log.debug("connection %s open", session.connection_id)
        try:
            async for message in connection:
                session.last_active_at = time.time()
                await self._route(session, message)
        except ConnectionClosed:
            pass
        finally:
            self._sessions.pop(session.connection_id, None)
            if not self._stopping:
                await self._disconnect(session, connection)

    async def _route(self, session: Session, message: str | bytes) -> None:
        text = message if isinstance(message, str) else message.decode("utf-8", errors="replace")
        route = self.spec.routes.get(self._route_key(text)) or self.spec.routes.get("$default")
        if route is None:
            await session.socket.send(json.dumps({"message": "Forbidden", "connectionId": session.connection_id}))
            return
        event = {"requestContext": self._request_context(route.route_key, "MESSAGE", session,
                                                         messageId=new_connection_id()),
                 "body": text, "isBase64Encoded": False}
        try:
            response = await self._call(route.function, event)
        except Exception:  # noqa: BLE001 - API Gateway's answer to a failed integration
            log.exception("%s failed", route.route_key)
            await session.socket.send(json.dumps({"message": INTERNAL_ERROR,
                                                  "connectionId": session.connection_id}))
            return
        if route.returns_response and isinstance(response, Mapping) and response.get("body") is not None:
            await session.socket.send(str(response["body"]))

    def _route_key(self, text: str) -> str | None:
        """``$request.body.<field>``: the field of the JSON frame, if it is a string."""
        prefix = "$request.body."
        expression = self.spec.route_selection_expression
        if not expression.startswith(prefix):
            return None
        try:
            value: Any = json.loads(text)
            for name in expression[len(prefix):].split("."):
                value = value.get(name) if isinstance(value, dict) else None
        except ValueError:
            return None
        return value if isinstance(value, str) else None

    async def _disconnect(self, session: Session, connection: ServerConnection) -> None:
        route = self.spec.routes.get("$disconnect")
        if route is None:
            return
        context = self._request_context(route.route_key, "DISCONNECT", session,
                                        disconnectStatusCode=connection.close_code or 1006,
                                        disconnectReason=connection.close_reason or "")
        try:
            await self._call(route.function, {"headers": {"Host": f"{self.host}:{self.port}"},
                                              "requestContext": context, "isBase64Encoded": False})
        except Exception:  # noqa: BLE001 - nobody to answer: logged, as API Gateway would
            log.exception("$disconnect failed")

    # --- events ----------------------------------------------------------------------------------------------

    async def _call(self, function: str, event: dict[str, Any]) -> Any:
        return await self._loop.run_in_executor(self._invocations, self._invoke, function, event)

    def _connect_event(self, session: Session, request: Request) -> dict[str, Any]:
        return {**_request_parts(request), "isBase64Encoded": False,
                "requestContext": self._request_context("$connect", "CONNECT", session)}

    def _request_context(self, route_key: str, event_type: str, session: Session, **extra: Any) -> dict[str, Any]:
        now = time.time()
        request_id = new_connection_id()
        context = {
            "routeKey": route_key,
            "eventType": event_type,
            "messageDirection": "IN",
            "extendedRequestId": request_id,
            "requestId": request_id,
            "requestTime": datetime.fromtimestamp(now, timezone.utc).strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(now * 1000),
            "connectedAt": int(session.connected_at * 1000),
            "connectionId": session.connection_id,
            "stage": self.spec.stage,
            "domainName": self.host,
            "apiId": WEBSOCKET_API_ID,
            "identity": {"sourceIp": session.source_ip, "userAgent": session.user_agent},
            **extra,
        }
        if session.authorizer is not None:
            context["authorizer"] = dict(session.authorizer)
        return context

    # --- what the management API does -----------------------------------------------------------------------

    def open_session(self, connection_id: str) -> Session | None:
        session = self._sessions.get(connection_id)
        if session is None or session.socket is None or session.socket.state is not State.OPEN:
            return None
        return session

    def send(self, session: Session, data: bytes) -> None:
        """Hands a frame to the socket (text when it is UTF-8, as API Gateway sends it). A socket whose write
        buffer is full (its client stopped reading) raises ClientBufferFull at once; a send that is not done
        within ``SEND_TIMEOUT_SECONDS`` is cancelled and raises TimeoutError: nothing is left pending."""
        try:
            payload: str | bytes = data.decode("utf-8")
        except UnicodeDecodeError:
            payload = data
        sending = asyncio.run_coroutine_threadsafe(_send_within(session.socket, payload, SEND_TIMEOUT_SECONDS),
                                                   self._loop)
        try:
            sending.result(SEND_TIMEOUT_SECONDS + 1)
        except TimeoutError:
            sending.cancel()  # only if the event loop itself is stalled: _send_within times out first
            raise

    def close(self, session: Session) -> None:
        """Starts the closing handshake and returns once the close frame is queued, as ``DeleteConnection`` does
        not wait for the client: one that does not answer is cut off after websockets' close timeout."""
        asyncio.run_coroutine_threadsafe(self._begin_close(session.socket), self._loop).result(SEND_TIMEOUT_SECONDS)

    async def _begin_close(self, connection: ServerConnection) -> None:
        closing = asyncio.ensure_future(connection.close(1000, "closed by the server"))
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)
        await asyncio.sleep(0)  # close() runs up to its first wait: the close frame is queued, the state CLOSING


class ClientBufferFull(Exception):
    """The connection's write buffer is over its limit: its client is not reading."""


async def _send_within(connection: ServerConnection, payload: str | bytes, timeout: float) -> None:
    """Sends unless the connection's write buffer is full already; waits at most ``timeout`` for the buffer to
    take the frame, then cancels the send (``asyncio.wait_for``)."""
    if connection.transport.get_write_buffer_size() >= connection.write_limit_high:
        raise ClientBufferFull
    await asyncio.wait_for(connection.send(payload), timeout)


class ManagementServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog is 5: a delivery posting to many connections at once (POST_CONCURRENCY
    # threads, each opening its own connection past botocore's pool) overflowed it, and a dropped SYN is retried
    # only after 1 s, past the gateway's connect timeout. API Gateway's endpoint refuses no connection that way.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], registry: ConnectionRegistry) -> None:
        self.registry = registry
        super().__init__(address, ManagementHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class ManagementHandler(BaseHTTPRequestHandler):
    """``[/{stage}]/@connections/{connectionId}``, answered as API Gateway's management API answers (rest-json:
    the error's name in ``x-amzn-ErrorType``). Requests are not checked for a signature."""

    server: ManagementServer
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 - the name http.server dispatches to
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length > 0 else b""
        session = self._session()
        if session is None:
            return
        if len(data) > MAX_MESSAGE_BYTES:
            self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "PayloadTooLargeException", "Message too long")
            return
        try:
            self.server.registry.send(session, data)
        except ConnectionClosed:
            self._gone()
            return
        except (ClientBufferFull, TimeoutError):
            # API Gateway's answer when "the WebSocket client side buffer is full" (ApiGatewayManagementApi,
            # LimitExceededException): 429, the error's name in x-amzn-ErrorType, a JSON message.
            self._error(HTTPStatus.TOO_MANY_REQUESTS, "LimitExceededException", "Limit Exceeded")
            return
        self._answer(HTTPStatus.OK, b"")

    def do_GET(self) -> None:  # noqa: N802
        session = self._session()
        if session is None:
            return
        body = {"connectedAt": _iso(session.connected_at), "lastActiveAt": _iso(session.last_active_at),
                "identity": {"sourceIp": session.source_ip, "userAgent": session.user_agent}}
        self._answer(HTTPStatus.OK, json.dumps(body).encode())

    def do_DELETE(self) -> None:  # noqa: N802
        session = self._session()
        if session is None:
            return
        try:
            self.server.registry.close(session)
        except (ConnectionClosed, TimeoutError):
            pass
        self._answer(HTTPStatus.NO_CONTENT, b"")

    def _session(self) -> Session | None:
        match = _MANAGEMENT_PATH.match(urlsplit(self.path).path)
        if match is None:
            self._error(HTTPStatus.NOT_FOUND, "NotFoundException", "Not Found")
            return None
        session = self.server.registry.open_session(unquote(match.group("connection_id")))
        if session is None:
            self._gone()
        return session

    def _gone(self) -> None:
        self._error(HTTPStatus.GONE, "GoneException", "The connection no longer exists")

    def _error(self, status: HTTPStatus, error_type: str, message: str) -> None:
        self._answer(status, json.dumps({"message": message}).encode(), {"x-amzn-ErrorType": error_type})

    def _answer(self, status: HTTPStatus, body: bytes, headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the signature http.server calls
        log.debug("management API: " + format, *args)


def json_response(status: HTTPStatus, body: Any) -> Response:
    data = json.dumps(body).encode()
    headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(data))),
                       ("Connection", "close")])
    return Response(status.value, status.phrase, headers, data)


def _request_parts(request: Request) -> dict[str, Any]:
    """Headers and query string as API Gateway puts them in a ``$connect`` event (single and multi-valued)."""
    multi_headers: dict[str, list[str]] = {}
    for name, value in request.headers.raw_items():
        multi_headers.setdefault(name, []).append(value)
    multi_query: dict[str, list[str]] = {}
    for name, value in parse_qsl(urlsplit(request.path).query, keep_blank_values=True):
        multi_query.setdefault(name, []).append(value)
    return {
        "headers": {name: ", ".join(values) for name, values in multi_headers.items()},
        "multiValueHeaders": multi_headers,
        "queryStringParameters": {name: values[-1] for name, values in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
    }


def _header(headers: Any, name: str) -> str | None:
    if not isinstance(headers, Mapping):
        return None
    for key, value in headers.items():
        if key.lower() == name.lower():
            return str(value)
    return None


def _body_of(response: Any) -> Any:
    body = response.get("body") if isinstance(response, Mapping) else None
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return {"message": str(body)}


def _iso(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, timezone.utc).isoformat(timespec="milliseconds")
