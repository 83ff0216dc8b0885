"""A Cognito user pool's JWKS endpoint on 127.0.0.1, as the authorizers (the local HTTP API's and the WebSocket
API's function) fetch it: ``/<pool>/.well-known/jwks.json``, its fetches counted, and outages on demand."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from jwt.algorithms import RSAAlgorithm


def public_jwk(kid: str, private_key: Any) -> dict[str, Any]:
    """The JWK a pool publishes for one of its RS256 signing keys."""
    return {**json.loads(RSAAlgorithm.to_jwk(private_key.public_key())), "kid": kid, "alg": "RS256", "use": "sig"}


class JwksEndpoint:
    """Serves the keys ``published`` returns at each fetch, counting fetches; while ``outage`` is ``"error"`` it
    answers 503, while ``"hang"`` nothing until ``released``. Any other path is a 404, not counted."""

    def __init__(self, pool: str, published: Callable[[], list[dict[str, Any]]]) -> None:
        self.fetches = 0
        self.outage: str | None = None
        self.released = threading.Event()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the base class's naming
                if self.path != f"/{pool}/.well-known/jwks.json":
                    self.send_error(404)
                    return
                endpoint.fetches += 1
                if endpoint.outage == "hang":
                    endpoint.released.wait(30)
                if endpoint.outage:
                    self.send_error(503)
                    return
                body = json.dumps({"keys": published()}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()
