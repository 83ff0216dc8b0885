"""The API's documentation on the local HTTP API: ``/openapi.json`` and Swagger UI at ``/swagger``.

Both live outside the API's routes (``/api/...``) and exist only locally. The document is the committed
``openapi.json`` (``make openapi``); Swagger UI's files come from the ``swagger-ui-bundle`` package, so the page
works offline.
"""
from __future__ import annotations

import mimetypes
from pathlib import Path

from swagger_ui_bundle import swagger_ui_path

from devtools.openapi import DOCUMENT_PATH

DOCUMENT_URL = "/openapi.json"
UI_URL = "/swagger"
ASSETS = Path(swagger_ui_path)
PAGE = f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Cruddur Messaging API</title>
  <link rel="stylesheet" href="{UI_URL}/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{UI_URL}/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({{url: "{DOCUMENT_URL}", dom_id: "#swagger-ui", deepLinking: true}});
  </script>
</body>
</html>
""".encode()

Page = tuple[int, list[tuple[str, str]], bytes]


def serve(method: str, raw_path: str) -> Page | None:
    """The answer for a documentation URL (status, headers, body), or None for any other request."""
    if method not in ("GET", "HEAD"):
        return None
    if raw_path == DOCUMENT_URL:
        return 200, [("content-type", "application/json")], DOCUMENT_PATH.read_bytes()
    if raw_path in (UI_URL, f"{UI_URL}/"):
        return 200, [("content-type", "text/html; charset=utf-8")], PAGE
    name = raw_path.removeprefix(f"{UI_URL}/")
    if name != raw_path and "/" not in name and (ASSETS / name).is_file():
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return 200, [("content-type", content_type)], (ASSETS / name).read_bytes()
    return None
