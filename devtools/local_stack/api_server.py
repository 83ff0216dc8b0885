"""The HTTP API of ``template.yaml`` on a local port: routes, JWT authorizer, CORS, payload format 2.0.

Each request is matched against the functions' ``HttpApi`` events, authorized like the API's JWT authorizer,
turned into the event API Gateway would send, and run in-process; the function's response becomes the HTTP
response by the rules of payload format 2.0. API Gateway's own answers keep its JSON bodies:
``{"message":"Not Found"}``, ``{"message":"Unauthorized"}``, ``{"message":"Internal Server Error"}``.
"""
from __future__ import annotations

import base64
import json
import logging
import re
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Mapping, Sequence
from urllib.parse import parse_qsl, unquote

from devtools.environment import LOCAL_ACCOUNT_ID
from devtools.local_stack.cors import CorsPolicy
from devtools.local_stack.jwt_authorizer import InsufficientScope, JwtAuthorizer, Unauthorized
from devtools.local_stack.runner import FunctionRunner
from devtools.local_stack.swagger import serve as serve_api_docs
from devtools.template import FunctionSpec

log = logging.getLogger(__name__)

API_ID = "local"
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
        event = build_event(route=route, path_parameters=path_parameters, method=method, raw_path=raw_path,
                            raw_query=raw_query, headers=headers, body=body, source_ip=source_ip,
                            protocol=protocol, authorizer=authorizer_context)
        try:
            response = function_response(self.runner.invoke(route.function, event))
        except Exception:  # noqa: BLE001 - a failed invocation is API Gateway's 500, whatever the cause
            log.exception("%s failed on %s %s", route.function, method, raw_path)
            return gateway_response(500, "Internal Server Error")
        response.headers.append(("apigw-requestid", event["requestContext"]["requestId"]))
        return response


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cruddur-local-api"
    api: HttpApi  # set on the subclass the server creates

    def _serve(self) -> None:
        started = time.monotonic()
        raw_path, _, raw_query = self.path.partition("?")
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        response = self.api.handle(method=self.command, raw_path=raw_path, raw_query=raw_query,
                                   headers=list(self.headers.items()), body=body, source_ip=self.client_address[0],
                                   protocol=self.request_version)
        self.send_response_only(response.status)
        self.send_header("date", self.date_time_string())
        for name, value in response.headers:
            if name not in ("content-length", "connection", "transfer-encoding", "date"):
                self.send_header(name, value)
        self.send_header("content-length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)
        log.info('"%s %s" %d %.0fms', self.command, self.path, response.status,
                 (time.monotonic() - started) * 1000)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _serve

    def __getattr__(self, name: str) -> Any:  # other methods (TRACE...): a JSON 404 as from API Gateway, not a 501 page
        return self._serve if name.startswith("do_") else super().__getattribute__(name)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's signature
        log.debug(format, *args)


class ApiServer:
    """A threading HTTP server for :class:`HttpApi` (stdlib: nothing to install, good enough for one developer)."""

    def __init__(self, api: HttpApi, host: str, port: int) -> None:
        handler = type("Handler", (_RequestHandler,), {"api": api})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.2)

    def shutdown(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
