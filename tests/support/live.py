"""Live delivery in tests: the real local management API (``devtools.local_stack.websocket_api``) over HTTP in
front of recorded connections, so that the functions' boto3 ``apigatewaymanagementapi`` calls go over the wire
and get API Gateway's answers (410 for a gone connection, 429 for a stuck one); or a management API that
answers every request the same way (403, 429, a timeout)."""
from __future__ import annotations

import base64
import copy
import dataclasses
import json
import os
import socket
import threading
import time
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator
from urllib.parse import urlsplit

import pytest

from devtools.environment import function_environment, template_context
from devtools.local_stack.stream_poller import StreamMapping
from cruddur_messaging.data.connection_gateway import READ_TIMEOUT_SECONDS
from devtools.local_stack.websocket_api import ClientBufferFull, ManagementServer, Session, new_connection_id
from devtools.template import function_specs, load_template
from tests.support.events import SEED_COGNITO_IDS, load_event
from tests.support.people import Person

DELIVERY_FUNCTION = "LiveDeliveryFunction"
CONNECTION_FUNCTION = "LiveConnectionFunction"
AUTHORIZER_FUNCTION = "LiveAuthorizerFunction"


@dataclass
class RecordingConnections:
    """Open connections by id, each with the frames it received; ``stuck`` ones have their buffer full (429),
    ``slow`` ones take longer than the functions' read timeout, closed ones are gone (410)."""

    sessions: dict[str, Session] = field(default_factory=dict)
    frames: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    stuck: set[str] = field(default_factory=set)
    slow: set[str] = field(default_factory=set)
    closed: list[str] = field(default_factory=list)
    posts: int = 0
    attempts: Counter[str] = field(default_factory=Counter)
    """Posts per connection id, taken or not."""
    history: list[tuple[str, str]] = field(default_factory=list)
    """(connection id, the frame's type or "close"), in the order the connections got them."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def open(self, connection_id: str | None = None) -> str:
        connection_id = connection_id or new_connection_id()
        self.sessions[connection_id] = Session(connection_id, source_ip="127.0.0.1", user_agent="pytest")
        return connection_id

    def drop(self, connection_id: str) -> None:
        """The client went away without a ``$disconnect`` reaching the table."""
        self.sessions.pop(connection_id, None)

    def open_session(self, connection_id: str) -> Session | None:
        return self.sessions.get(connection_id)

    def send(self, session: Session, data: bytes) -> None:
        with self._lock:
            self.posts += 1
            self.attempts[session.connection_id] += 1
        if session.connection_id in self.stuck:
            raise ClientBufferFull
        if session.connection_id in self.slow:
            time.sleep(READ_TIMEOUT_SECONDS + 1)
            raise TimeoutError
        frame = json.loads(data)
        self.frames[session.connection_id].append(frame)
        self.history.append((session.connection_id, frame.get("type", "")))

    def close(self, session: Session) -> None:
        self.closed.append(session.connection_id)
        self.history.append((session.connection_id, "close"))
        self.sessions.pop(session.connection_id, None)

    def types(self, connection_id: str) -> list[str]:
        return [frame["type"] for frame in self.frames[connection_id]]


class AnsweringManagementApi(ThreadingHTTPServer):
    """A management API that answers every request the same way: ``status`` with API Gateway's error shape for
    ``error_type`` (``x-amzn-ErrorType``, a JSON message), after ``delay_seconds``."""

    daemon_threads = True

    def __init__(self, status: HTTPStatus, error_type: str, delay_seconds: float = 0) -> None:
        self.status, self.error_type, self.delay_seconds = status, error_type, delay_seconds
        self.requests: list[str] = []
        super().__init__(("127.0.0.1", 0), _AnsweringHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _AnsweringHandler(BaseHTTPRequestHandler):
    server: AnsweringManagementApi

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.requests.append(f"{self.command} {self.path}")
        time.sleep(self.server.delay_seconds)
        body = json.dumps({"message": self.server.status.phrase}).encode()
        try:
            self.send_response(self.server.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("x-amzn-ErrorType", self.server.error_type)
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the caller gave up waiting (its read timeout)

    do_POST = do_DELETE = do_GET = _answer  # noqa: N815 - the names http.server dispatches to

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the signature http.server calls
        pass


@contextmanager
def answering_management_api(status: HTTPStatus, error_type: str,
                             delay_seconds: float = 0) -> Iterator[AnsweringManagementApi]:
    server = AnsweringManagementApi(status, error_type, delay_seconds)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def connect_and_stop_reading(websocket_url: str, token: str) -> socket.socket:
    """A client that completes the handshake (offering the token as the subprotocol, as browsers do) and never
    reads again, with a small receive buffer: a frozen tab."""
    url = urlsplit(websocket_url)
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.settimeout(20)
    raw.connect((url.hostname, url.port))
    key = base64.b64encode(os.urandom(16)).decode()
    raw.sendall((f"GET / HTTP/1.1\r\nHost: {url.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                 f"Sec-WebSocket-Protocol: cruddur.v1, {token}\r\n\r\n").encode())
    response = b""
    while not response.endswith(b"\r\n\r\n"):  # byte by byte: not one byte of a frame is read
        response += raw.recv(1)
    assert response.startswith(b"HTTP/1.1 101"), response
    return raw


@pytest.fixture
def connections() -> RecordingConnections:
    return RecordingConnections()


@pytest.fixture
def management_api(connections: RecordingConnections) -> Iterator[ManagementServer]:
    server = ManagementServer(("127.0.0.1", 0), connections)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def live(aws: Any, management_api: ManagementServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The ``aws`` fixture with the live functions' own variables set, their management API the test's."""
    aws.resources = dataclasses.replace(aws.resources, websocket_api_endpoint=management_api.url)
    for logical_id in (DELIVERY_FUNCTION, CONNECTION_FUNCTION):
        for name, value in function_environment(aws.resources, None, logical_id).items():
            if name.startswith(("WEBSOCKET_", "LIVE_")):
                monkeypatch.setenv(name, value)
    return aws


def delivery_mapping(aws: Any) -> StreamMapping:
    """The template's event source mapping of the delivery function (its filter, batch size...)."""
    specs = function_specs(load_template(), template_context(aws.resources, stream_arn=aws.stream_arn))
    return StreamMapping.from_event(specs[DELIVERY_FUNCTION].stream_events[0])


def connect_event(person: Person, connection_id: str, subprotocols: str | None = "cruddur.v1, a.b.c") -> dict:
    event = load_event("live-connect")
    context = event["requestContext"]
    context["connectionId"] = connection_id
    sub = SEED_COGNITO_IDS.get(person.handle, person.cognito_user_id)
    context["authorizer"].update(principalId=sub, sub=sub, username=sub, user_uuid=person.uuid)
    for headers, value in ((event["headers"], subprotocols), (event["multiValueHeaders"], [subprotocols])):
        if subprotocols is None:
            headers.pop("Sec-WebSocket-Protocol")
        else:
            headers["Sec-WebSocket-Protocol"] = value
    return event


def disconnect_event(person: Person, connection_id: str) -> dict:
    event = load_event("live-disconnect")
    sub = SEED_COGNITO_IDS[person.handle]
    event["requestContext"]["connectionId"] = connection_id
    event["requestContext"]["authorizer"].update(principalId=sub, sub=sub, username=sub, user_uuid=person.uuid)
    return event


def client_frame_event(body: str | None) -> dict:
    event = copy.deepcopy(load_event("live-ping"))
    event["body"] = body
    return event
