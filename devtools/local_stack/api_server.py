"""The HTTP API of ``template.yaml`` on a local port: routes, JWT authorizer, CORS, payload format 2.0.

Each request is matched against the functions' ``HttpApi`` events, authorized like the API's JWT authorizer,
turned into the event API Gateway would send, and run in an execution environment of its function (``runner.py``);
the function's response becomes the HTTP response by the rules of payload format 2.0. API Gateway's own answers
keep its statuses and JSON bodies: ``{"message":"Not Found"}``, ``{"message":"Unauthorized"}``,
``{"message":"Bad Request"}``, ``{"message":"Internal Server Error"}``... - also for what never reaches a route
(see :class:`ApiServer`); a token that cannot be checked while the JWKS cannot be fetched is a 503
``{"message":"Service Unavailable"}`` with ``Retry-After`` (``jwt_authorizer``).

The server is asyncio with h11 (a sans-IO HTTP/1.1 parser): every error path of the protocol is ours to answer,
and a connection costs no thread while it waits. The same loop can carry WebSocket connections (wsproto, or the
``websockets`` library's sans-IO protocol) when the WebSocket API comes.
"""
from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import formatdate
from http import HTTPStatus
from typing import Any, Mapping, Sequence
from urllib.parse import parse_qsl, unquote

import h11

from cruddur_messaging.data.jwks import KeysUnavailable
from devtools.environment import LOCAL_ACCOUNT_ID
from devtools.local_stack.cors import CorsPolicy
from devtools.local_stack.jwt_authorizer import InsufficientScope, JwtAuthorizer, Unauthorized
from devtools.local_stack.runner import FunctionRunner, InvocationFailed
from devtools.local_stack.swagger import serve as serve_api_docs
from devtools.template import FunctionSpec

log = logging.getLogger(__name__)

API_ID = "local"
# API Gateway HTTP API quotas: the request line and headers together, and the payload.
MAX_REQUEST_HEAD_BYTES = 10_240
MAX_BODY_BYTES = 10 * 1024 * 1024
# A request must arrive whole this long after its first byte (a slow or stalled client is cut off with a 408).
REQUEST_TIMEOUT_SECONDS = 10.0
KEEP_ALIVE_SECONDS = 60.0
# Requests being answered at once; each waits on its function's execution environments (runner.py).
MAX_CONCURRENT_REQUESTS = 64
READ_SIZE = 1 << 16
_TEXT_CONTENT = re.compile(r"^(text/|application/(json|xml|x-www-form-urlencoded|javascript)|[^;]*\+(json|xml))",
                           re.IGNORECASE)


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function: str
    authorized: bool
    scopes: tuple[str, ...]
    pattern: re.Pattern[str]

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"

    @classmethod
    def of(cls, method: str, path: str, function: str, authorized: bool, scopes: tuple[str, ...] = ()) -> "Route":
        # "{name}" matches one path segment; "{name+}" (greedy) the rest of the path.
        regex = re.sub(r"\\\{([A-Za-z0-9_]+)\\\+\\\}", r"(?P<\1>.+)", re.escape(path))
        regex = re.sub(r"\\\{([A-Za-z0-9_]+)\\\}", r"(?P<\1>[^/]+)", regex)
        return cls(method, path, function, authorized, scopes, re.compile(f"^{regex}$"))


def routes_of(specs: Mapping[str, FunctionSpec]) -> list[Route]:
    """The template's routes; literal paths win over templated ones, as in API Gateway."""
    routes = [Route.of(route.method, route.path, spec.logical_id, route.authorized, route.scopes)
              for spec in specs.values() for route in spec.routes]
    return sorted(routes, key=lambda route: route.path.count("{"))


def match_route(routes: Sequence[Route], method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    for route in routes:
        if route.method not in (method, "ANY"):
            continue
        found = route.pattern.match(path)
        if found:
            return route, {name: unquote(value) for name, value in found.groupdict().items()}
    return None


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def gateway_response(status: int, message: str, extra_headers: Mapping[str, str] | None = None) -> HttpResponse:
    headers = [("content-type", "application/json"), *(extra_headers or {}).items()]
    return HttpResponse(status, headers, json.dumps({"message": message}).encode())


def build_event(*, route: Route, path_parameters: dict[str, str], method: str, raw_path: str, raw_query: str,
                headers: list[tuple[str, str]], body: bytes, source_ip: str, protocol: str,
                authorizer: dict[str, Any] | None) -> dict[str, Any]:
    """The payload format 2.0 event of an HTTP API request."""
    joined: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        name = name.lower()
        if name == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        joined[name] = f"{joined[name]},{value}" if name in joined else value
    now = datetime.now(timezone.utc)
    host = joined.get("host", "localhost")
    context: dict[str, Any] = {
        "accountId": LOCAL_ACCOUNT_ID,
        "apiId": API_ID,
        "domainName": host,
        "domainPrefix": host.split(".", 1)[0],
        "http": {
            "method": method,
            "path": raw_path,
            "protocol": protocol,
            "sourceIp": source_ip,
            "userAgent": joined.get("user-agent", ""),
        },
        "requestId": str(uuid.uuid4()),
        "routeKey": route.route_key,
        "stage": "$default",
        "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(now.timestamp() * 1000),
    }
    if authorizer is not None:
        context["authorizer"] = authorizer
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": joined,
        "requestContext": context,
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if raw_query:
        parameters: dict[str, str] = {}
        for name, value in parse_qsl(raw_query, keep_blank_values=True):
            parameters[name] = f"{parameters[name]},{value}" if name in parameters else value
        event["queryStringParameters"] = parameters
    if path_parameters:
        event["pathParameters"] = path_parameters
    if body:
        if _TEXT_CONTENT.match(joined.get("content-type", "application/json")):
            try:
                event["body"] = body.decode("utf-8")
            except UnicodeDecodeError:
                pass
        if "body" not in event:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
    return event


def function_response(result: Any) -> HttpResponse:
    """A payload 2.0 function result as API Gateway turns it into HTTP.

    A result without ``statusCode`` is the body of a 200 (strings as they are, anything else as JSON).
    ``multiValueHeaders`` belongs to payload 1.0 and is ignored, as API Gateway ignores it for 2.0.
    """
    if not isinstance(result, Mapping) or "statusCode" not in result:
        body = result if isinstance(result, str) else json.dumps(result)
        return HttpResponse(200, [("content-type", "application/json")], body.encode())
    status = int(result["statusCode"])
    headers = [(str(name).lower(), str(value)) for name, value in (result.get("headers") or {}).items()]
    headers.extend(("set-cookie", str(cookie)) for cookie in result.get("cookies") or [])
    body = result.get("body")
    if body is None:
        payload = b""
    elif result.get("isBase64Encoded"):
        payload = base64.b64decode(body)
    else:
        payload = (body if isinstance(body, str) else json.dumps(body)).encode()
    return HttpResponse(status, headers, payload)


class HttpApi:
    """Everything about a request except the socket: routing, authorization, CORS, the function call."""

    def __init__(self, *, runner: FunctionRunner, authorizer: JwtAuthorizer | None, cors: CorsPolicy | None) -> None:
        self.runner = runner
        self.routes = routes_of(runner.specs)
        self.authorizer = authorizer
        self.cors = cors

    def handle(self, *, method: str, raw_path: str, raw_query: str, headers: list[tuple[str, str]], body: bytes,
               source_ip: str, protocol: str) -> HttpResponse:
        api_docs = serve_api_docs(method, raw_path)  # /openapi.json and /swagger, outside the API's routes
        if api_docs is not None:
            return HttpResponse(*api_docs)
        lower = {name.lower(): value for name, value in headers}
        origin = lower.get("origin")
        if self.cors and method == "OPTIONS" and origin and "access-control-request-method" in lower:
            return HttpResponse(204, list(self.cors.preflight_headers(origin).items()), b"")
        response = self._dispatch(method, raw_path, raw_query, headers, lower, body, source_ip, protocol)
        if self.cors:
            # API Gateway ignores the function's CORS headers and sets its own.
            response.headers = [(name, value) for name, value in response.headers
                                if not name.startswith("access-control-")]
            response.headers.extend(self.cors.response_headers(origin).items())
        return response

    def _dispatch(self, method: str, raw_path: str, raw_query: str, headers: list[tuple[str, str]],
                  lower: dict[str, str], body: bytes, source_ip: str, protocol: str) -> HttpResponse:
        found = match_route(self.routes, method, raw_path)
        if found is None:
            return gateway_response(404, "Not Found")
        route, path_parameters = found
        authorizer_context = None
        if route.authorized and self.authorizer is not None:
            try:
                authorizer_context = self.authorizer.authorize(lower, route.scopes).as_request_context()
            except InsufficientScope as error:
                log.info("%s %s: 403 (%s)", method, raw_path, error)
                return gateway_response(403, "Forbidden")
            except Unauthorized as error:
                log.info("%s %s: 401 (%s)", method, raw_path, error)
                return gateway_response(401, "Unauthorized", {
                    "www-authenticate": f'Bearer error="invalid_token" error_description="{error}"'
                    if lower.get(self.authorizer.header_name) else "Bearer"})
            except KeysUnavailable as outage:
                log.warning("%s %s: 503 (%s)", method, raw_path, outage)
                return gateway_response(503, "Service Unavailable",
                                        {"retry-after": str(outage.retry_after_seconds)})
        event = build_event(route=route, path_parameters=path_parameters, method=method, raw_path=raw_path,
                            raw_query=raw_query, headers=headers, body=body, source_ip=source_ip,
                            protocol=protocol, authorizer=authorizer_context)
        try:
            response = function_response(self.runner.invoke(route.function, event))
        except InvocationFailed as failure:  # the environment already logged the handler's traceback
            log.error("%s failed on %s %s: %s: %s", route.function, method, raw_path, failure.error.get("errorType"),
                      failure.error.get("errorMessage"))
            return gateway_response(500, "Internal Server Error")
        except Exception:  # noqa: BLE001 - a failed invocation is API Gateway's 500, whatever the cause
            log.exception("%s failed on %s %s", route.function, method, raw_path)
            return gateway_response(500, "Internal Server Error")
        response.headers.append(("apigw-requestid", event["requestContext"]["requestId"]))
        return response


@dataclass(frozen=True)
class _Request:
    method: str
    target: str
    protocol: str
    headers: list[tuple[str, str]]
    body: bytes


# The messages of the requests the API refuses itself, fixed here: Python 3.13 renamed HTTPStatus's phrases of 413
# and 414 after RFC 9110 ("Content Too Large", "URI Too Long"), and the answers do not change with Python.
_REFUSAL_MESSAGES = {
    400: "Bad Request",
    408: "Request Timeout",
    413: "Request Entity Too Large",
    414: "Request-URI Too Long",
    431: "Request Header Fields Too Large",
}


class _Refusal(Exception):
    """A request the API answers itself, and then closes the connection."""

    def __init__(self, status: int) -> None:
        super().__init__(_REFUSAL_MESSAGES[status])
        self.status = status

    def response(self) -> HttpResponse:
        return gateway_response(self.status, _REFUSAL_MESSAGES[self.status])


class ApiServer:
    """Serves :class:`HttpApi` over HTTP/1.1: asyncio for the connections, h11 for the protocol, a thread pool for
    the requests (each blocks on its function's execution environment, see ``runner.py``).

    Connections are cheap, so a slow or stalled client holds no thread: a request must arrive whole within
    ``request_timeout_seconds`` of its first byte (408 otherwise), an idle keep-alive connection is closed after
    ``keep_alive_seconds``. What the API refuses before any route is matched gets API Gateway's statuses and JSON
    bodies: a malformed request (bad request line, ``Content-Length: abc``, ...) 400, a body over the payload quota
    413, a request line over the head quota 414, headers over it 431; any method on a path without a route (TRACE,
    QUERY, ...) is a 404 like any unknown route.
    """

    def __init__(self, api: HttpApi, host: str, port: int, *,
                 request_timeout_seconds: float = REQUEST_TIMEOUT_SECONDS,
                 keep_alive_seconds: float = KEEP_ALIVE_SECONDS,
                 max_concurrent_requests: int = MAX_CONCURRENT_REQUESTS) -> None:
        self.api = api
        self.request_timeout_seconds = request_timeout_seconds
        self.keep_alive_seconds = keep_alive_seconds
        self._socket = socket.create_server((host, port))
        self.port: int = self._socket.getsockname()[1]
        self._executor = ThreadPoolExecutor(max_concurrent_requests, thread_name_prefix="http-api")
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._connections: set[asyncio.Task[None]] = set()
        self._serving = threading.Event()
        self._done = threading.Event()

    def serve_forever(self) -> None:
        self._serving.set()
        try:
            self._loop.run_until_complete(self._serve())
        finally:
            self._loop.close()
            self._done.set()

    def shutdown(self) -> None:
        """Stops accepting, cancels open connections and waits for the server to stop (safe to call twice)."""
        if self._serving.is_set():
            if not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self._stop.set)
            self._done.wait(10)
        else:
            self._socket.close()
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _serve(self) -> None:
        server = await asyncio.start_server(self._serve_connection, sock=self._socket)
        # The connections end inside the block: leaving it waits for them (Server.wait_closed, since Python 3.12.1).
        async with server:
            await self._stop.wait()
            server.close()
            for connection in list(self._connections):
                connection.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        peer = writer.get_extra_info("peername") or ("", 0)
        connection = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_REQUEST_HEAD_BYTES)
        idle_seconds = self.request_timeout_seconds  # a new connection is opened to send a request
        try:
            while True:
                try:
                    request = await self._read_request(connection, reader, writer, idle_seconds)
                except _Refusal as refusal:
                    log.info("%s: %d %s", peer[0], refusal.status, refusal)
                    await self._write(connection, writer, refusal.response(), head_only=False, close=True)
                    return
                if request is None:
                    return
                response = await asyncio.get_running_loop().run_in_executor(self._executor, self._handle, request,
                                                                            peer[0])
                await self._write(connection, writer, response, head_only=request.method == "HEAD", close=False)
                reusable = connection.our_state is h11.DONE and connection.their_state is h11.DONE
                if self._stop.is_set() or not reusable:
                    return
                connection.start_next_cycle()
                idle_seconds = self.keep_alive_seconds
        except (ConnectionError, TimeoutError):
            pass  # the client went away, or does not read what it asked for
        except asyncio.CancelledError:
            pass  # the server is shutting down (only shutdown cancels a connection): end quietly
        except h11.LocalProtocolError as error:
            log.warning("%s: connection dropped: %s", peer[0], error)
        finally:
            self._connections.discard(task)
            writer.close()

    async def _read_request(self, connection: h11.Connection, reader: asyncio.StreamReader,
                            writer: asyncio.StreamWriter, idle_seconds: float) -> _Request | None:
        """The next whole request, or ``None`` when the client closed or stayed idle (nothing to answer)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.request_timeout_seconds if connection.trailing_data[0] else None
        head: h11.Request | None = None
        body = bytearray()
        while True:
            try:
                event = connection.next_event()
            except h11.RemoteProtocolError as error:
                raise _refusal_for(error, connection) from None
            if event is h11.NEED_DATA:
                if connection.they_are_waiting_for_100_continue:
                    writer.write(connection.send(h11.InformationalResponse(status_code=100, headers=[])))
                timeout = idle_seconds if deadline is None else deadline - loop.time()
                try:
                    async with asyncio.timeout(max(0.0, timeout)):
                        data = await reader.read(READ_SIZE)
                except TimeoutError:
                    if deadline is None:
                        return None
                    raise _Refusal(408) from None
                if not data and deadline is not None:
                    return None  # the client gave up half-way: nobody to answer
                if deadline is None:
                    deadline = loop.time() + self.request_timeout_seconds
                connection.receive_data(data)
            elif isinstance(event, h11.Request):
                head = event
                _check_head(head)
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > MAX_BODY_BYTES:
                    raise _Refusal(413)
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                return _Request(method=head.method.decode("ascii"), target=head.target.decode("ascii"),
                                protocol=f"HTTP/{head.http_version.decode('ascii')}",
                                headers=[(name.decode("latin-1"), value.decode("latin-1"))
                                         for name, value in head.headers.raw_items()],
                                body=bytes(body))
            else:  # ConnectionClosed
                return None

    async def _write(self, connection: h11.Connection, writer: asyncio.StreamWriter, response: HttpResponse, *,
                     head_only: bool, close: bool) -> None:
        if not _sendable(response):
            log.error("a function returned a header HTTP cannot carry: answering 500")
            response = gateway_response(500, "Internal Server Error")
        headers = [(name.encode("ascii"), value.encode("latin-1")) for name, value in response.headers
                   if name.lower() not in _FRAMING_HEADERS]
        headers.append((b"date", formatdate(usegmt=True).encode("ascii")))
        if response.status not in (204, 304):
            headers.append((b"content-length", str(len(response.body)).encode("ascii")))
        if close:
            headers.append((b"connection", b"close"))
        data = connection.send(h11.Response(status_code=response.status, headers=headers,
                                            reason=_reason(response.status)))
        if response.body and not head_only and response.status not in (204, 304):
            data += connection.send(h11.Data(data=response.body))
        data += connection.send(h11.EndOfMessage())
        writer.write(data)
        async with asyncio.timeout(self.request_timeout_seconds):
            await writer.drain()

    def _handle(self, request: _Request, source_ip: str) -> HttpResponse:
        started = time.monotonic()
        raw_path, _, raw_query = request.target.partition("?")
        try:
            response = self.api.handle(method=request.method, raw_path=raw_path, raw_query=raw_query,
                                       headers=request.headers, body=request.body, source_ip=source_ip,
                                       protocol=request.protocol)
        except Exception:  # noqa: BLE001 - whatever broke, the client gets API Gateway's 500, not a closed socket
            log.exception("%s %s failed", request.method, raw_path)
            response = gateway_response(500, "Internal Server Error")
        log.info('"%s %s" %d %.0fms', request.method, request.target, response.status,
                 (time.monotonic() - started) * 1000)
        return response


_FRAMING_HEADERS = {"content-length", "connection", "transfer-encoding", "date", "keep-alive", "upgrade"}
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_HEADER_VALUE = re.compile(r"^[\t\x20-\x7e\x80-\xff]*$")


def _sendable(response: HttpResponse) -> bool:
    """Whether every header can go on the wire as it is (a newline in a value would split the response)."""
    return 100 <= response.status <= 599 and all(
        _HEADER_NAME.match(name) and _HEADER_VALUE.match(value) for name, value in response.headers)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _check_head(head: h11.Request) -> None:
    """API Gateway's quota on the request line and headers together, and on the payload's declared size."""
    request_line = len(head.method) + len(head.target) + len(b" HTTP/1.1\r\n") + 1
    if request_line > MAX_REQUEST_HEAD_BYTES:
        raise _Refusal(414)
    if request_line + sum(len(name) + len(value) + 4 for name, value in head.headers.raw_items()) \
            > MAX_REQUEST_HEAD_BYTES:
        raise _Refusal(431)
    declared = [value for name, value in head.headers if name == b"content-length"]
    if declared and int(declared[0]) > MAX_BODY_BYTES:
        raise _Refusal(413)


def _refusal_for(error: h11.RemoteProtocolError, connection: h11.Connection) -> _Refusal:
    if error.error_status_hint == 431:  # more unparsed bytes than a request head may have
        buffered, _ = connection.trailing_data
        return _Refusal(431 if b"\n" in buffered else 414)
    return _Refusal(400)
