"""The local API over real sockets: what API Gateway answers itself - unknown methods, malformed requests,
oversized URLs, headers and bodies, stalled clients - is JSON with API Gateway's statuses, never an HTML page or a
connection closed without an answer; keep-alive, HEAD and ``Expect: 100-continue`` work as HTTP/1.1 says."""
from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from typing import Any, Iterator

import pytest

from devtools.local_stack.api_server import MAX_BODY_BYTES, MAX_REQUEST_HEAD_BYTES, ApiServer, HttpApi
from tests.unit.local_stack.test_local_http_api import Runner, api

REQUEST_TIMEOUT_SECONDS = 0.5


@pytest.fixture
def runner() -> Runner:
    return Runner()


@pytest.fixture
def server(runner: Runner) -> Iterator[ApiServer]:
    started = ApiServer(api(runner), "127.0.0.1", 0, request_timeout_seconds=REQUEST_TIMEOUT_SECONDS,
                        keep_alive_seconds=REQUEST_TIMEOUT_SECONDS)
    thread = threading.Thread(target=started.serve_forever, daemon=True)
    thread.start()
    yield started
    started.shutdown()
    thread.join(10)
    assert not thread.is_alive()


def connect(server: ApiServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def exchange(server: ApiServer, raw: bytes, method: str = "GET") -> tuple[http.client.HTTPResponse, bytes]:
    with connect(server) as client:
        client.sendall(raw)
        return read_response(client, method)


def read_response(client: socket.socket, method: str = "GET") -> tuple[http.client.HTTPResponse, bytes]:
    response = http.client.HTTPResponse(client, method=method)
    response.begin()
    return response, response.read()


def assert_gateway_answer(response: http.client.HTTPResponse, body: bytes, status: int, message: str) -> None:
    assert response.status == status, body
    assert response.getheader("content-type") == "application/json"
    assert json.loads(body) == {"message": message}


def assert_refused(server: ApiServer, runner: Runner, raw: bytes, status: int, message: str) -> None:
    """The API's own answer to ``raw``, without invoking any function."""
    response, body = exchange(server, raw)
    assert_gateway_answer(response, body, status, message)
    assert runner.calls == []


@pytest.mark.parametrize("method", ["TRACE", "QUERY", "PROPFIND", "BREW"])
@pytest.mark.parametrize("path", ["/api/messages", "/nowhere"])
def test_methods_without_a_route_are_not_found(server: ApiServer, runner: Runner, method: str, path: str) -> None:
    assert_refused(server, runner, f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode(), 404, "Not Found")


@pytest.mark.parametrize("raw", [
    b"GET /api/users/x/short HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    b"GET /api/users/x/short HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    b"this is not http\r\n\r\n",
    b"GET /api/users/x/short\r\n\r\n",
    b"GET /api/users/x/short HTTP/1.1\r\nHost: x\r\nBad Header Name: 1\r\n\r\n",
    b"GET /api/users/x/short HTTP/1.1\r\n\r\n",  # HTTP/1.1 without Host
    b"POST /api/messages HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",  # TLS to a plain HTTP port
])
def test_malformed_requests_are_400(server: ApiServer, runner: Runner, raw: bytes) -> None:
    assert_refused(server, runner, raw, 400, "Bad Request")


def test_a_url_over_the_quota_is_414_and_headers_over_it_431(server: ApiServer, runner: Runner) -> None:
    long_url = "/api/users/" + "x" * MAX_REQUEST_HEAD_BYTES + "/short"
    response, body = exchange(server, f"GET {long_url} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert_gateway_answer(response, body, 414, "Request-URI Too Long")
    huge_header = "a" * MAX_REQUEST_HEAD_BYTES
    response, body = exchange(server, f"GET /api/users/x/short HTTP/1.1\r\nHost: x\r\nX-Big: {huge_header}\r\n\r\n"
                              .encode())
    assert_gateway_answer(response, body, 431, "Request Header Fields Too Large")
    many = "".join(f"X-H{index}: {'v' * 90}\r\n" for index in range(200))
    response, body = exchange(server, f"GET /api/users/x/short HTTP/1.1\r\nHost: x\r\n{many}\r\n".encode())
    assert_gateway_answer(response, body, 431, "Request Header Fields Too Large")
    assert runner.calls == []


def test_an_oversized_head_is_refused_before_it_ends(server: ApiServer) -> None:
    """The refusal comes as soon as the head is over the quota, not when (if ever) the client finishes it."""
    with connect(server) as client:
        client.sendall(b"GET /api/users/x/short HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (2 * MAX_REQUEST_HEAD_BYTES))
        response, body = read_response(client)
    assert_gateway_answer(response, body, 431, "Request Header Fields Too Large")
    with connect(server) as client:
        client.sendall(b"GET /" + b"a" * (2 * MAX_REQUEST_HEAD_BYTES))
        response, body = read_response(client)
    assert_gateway_answer(response, body, 414, "Request-URI Too Long")


def test_a_body_over_the_payload_quota_is_413_without_reading_it(server: ApiServer, runner: Runner) -> None:
    assert_refused(server, runner, f"POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Length: {MAX_BODY_BYTES + 1}"
                                   f"\r\nExpect: 100-continue\r\n\r\n".encode(), 413, "Request Entity Too Large")


@pytest.mark.parametrize("partial", [
    b"GET /api/users/x/sh",
    b"GET /api/users/x/short HTTP/1.1\r\nHost: x\r\n",
    b"POST /api/users/x/short HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{\"a\":",
])
def test_a_half_sent_request_is_timed_out_with_a_408(server: ApiServer, runner: Runner, partial: bytes) -> None:
    started = time.monotonic()
    with connect(server) as client:
        client.sendall(partial)
        response, body = read_response(client)
        assert client.recv(1) == b""  # and the connection is closed
    assert REQUEST_TIMEOUT_SECONDS <= time.monotonic() - started < REQUEST_TIMEOUT_SECONDS + 3
    assert_gateway_answer(response, body, 408, "Request Timeout")
    assert runner.calls == []


def test_a_slowloris_client_is_cut_off_and_others_are_served_meanwhile(server: ApiServer) -> None:
    """A client that keeps sending a byte at a time never finishes its request: the deadline runs from its first
    byte, not from its last."""
    trickle = b"GET /api/users/x/short HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 1000
    started = time.monotonic()
    with connect(server) as client:
        for index, byte in enumerate(trickle):
            try:
                client.sendall(bytes([byte]))
            except OSError:
                break
            time.sleep(0.02)
            if index == 5:
                response, body = exchange(server, b"GET /api/users/x/short HTTP/1.1\r\nHost: x\r\n\r\n")
                assert response.status == 200, body
            if time.monotonic() - started > REQUEST_TIMEOUT_SECONDS + 1:
                break
        response, body = read_response(client)
    assert time.monotonic() - started < REQUEST_TIMEOUT_SECONDS + 3
    assert_gateway_answer(response, body, 408, "Request Timeout")


def test_an_idle_connection_is_closed_without_an_answer(server: ApiServer) -> None:
    with connect(server) as client:
        assert client.recv(1) == b""


def test_keep_alive_head_and_100_continue(server: ApiServer, runner: Runner) -> None:
    with connect(server) as client:
        for _ in range(2):
            client.sendall(b"GET /api/users/%40bayko/short HTTP/1.1\r\nHost: x\r\n\r\n")
            response, body = read_response(client)
            assert response.status == 200 and json.loads(body)["pathParameters"] == {"handle": "@bayko"}
        client.sendall(b"HEAD /api/users/bayko/short HTTP/1.1\r\nHost: x\r\n\r\n")
        response, body = read_response(client, "HEAD")  # no HEAD route, as in API Gateway: the 404, without a body
        assert response.status == 404 and body == b"" and int(response.getheader("content-length")) > 0
        client.sendall(b"POST /api/users/bayko/short HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                       b"Expect: 100-continue\r\n\r\n")
        assert client.recv(100).startswith(b"HTTP/1.1 100 ")
        client.sendall(b"{}")
        response, body = read_response(client)
        assert response.status == 404  # no POST route there, but the body was read and the answer is JSON
    assert len(runner.calls) == 2


def test_a_chunked_body_reaches_the_function(server: ApiServer, runner: Runner) -> None:
    response, body = exchange(server, b"POST /api/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer good\r\n"
                                      b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                                      b"5\r\n{\"a\":\r\n2\r\n1}\r\n0\r\n\r\n")
    assert response.status == 200
    assert json.loads(body)["body"] == '{"a":1}'


def test_header_values_travel_as_latin_1(server: ApiServer) -> None:
    server.api = HttpApi(runner=Runner(result={"statusCode": 200, "headers": {"x-name": "Londo Mollari, né"},
                                               "body": "{}"}), authorizer=None, cors=None)
    response, _ = exchange(server, b"GET /api/users/x/short HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (response.status, response.getheader("x-name")) == (200, "Londo Mollari, né")


@pytest.mark.parametrize("headers", [{"x-evil": "a\r\nset-cookie: b=1"}, {"bad name": "x"}, {"x-emoji": "\U0001F600"}])
def test_a_function_response_http_cannot_carry_is_a_500(server: ApiServer, headers: dict[str, Any]) -> None:
    server.api = HttpApi(runner=Runner(result={"statusCode": 200, "headers": headers, "body": "{}"}),
                         authorizer=None, cors=None)
    response, body = exchange(server, b"GET /api/users/x/short HTTP/1.1\r\nHost: x\r\n\r\n")
    assert_gateway_answer(response, body, 500, "Internal Server Error")
    assert response.getheader("set-cookie") is None


def test_shutdown_closes_open_connections(runner: Runner) -> None:
    server = ApiServer(api(runner), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    with connect(server) as client:
        client.sendall(b"GET /api/users/x/short HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(client)[0].status == 200
        server.shutdown()
        thread.join(10)
        assert not thread.is_alive()
        assert client.recv(1) == b""
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2)
