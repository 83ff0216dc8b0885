"""Reading handler responses as a client would: status, JSON body, headers, the ``Link: rel="next"`` cursor."""
from __future__ import annotations

import json
import re
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from tests.support.events import with_query

LINK_NEXT = re.compile(r'^<(?P<target>[^>]*)>;\s*rel="next"$')


def header(response: dict[str, Any], name: str) -> str | None:
    """A response header by case-insensitive name (the resolver may use either case)."""
    for key, value in (response.get("headers") or {}).items():
        if key.lower() == name.lower():
            return value
    for key, values in (response.get("multiValueHeaders") or {}).items():
        if key.lower() == name.lower() and values:
            return ",".join(values)
    return None


def body(response: dict[str, Any]) -> Any:
    assert header(response, "Content-Type") == "application/json", response
    return json.loads(response["body"])


def ok(response: dict[str, Any]) -> Any:
    """The JSON body of a 200, failing with the error body otherwise."""
    assert response["statusCode"] == 200, response
    return body(response)


def assert_error(response: dict[str, Any], status: int, code: str) -> dict[str, Any]:
    """An error as docs/errors.md says: the status, a JSON object with the stable code and a message."""
    assert response["statusCode"] == status, response
    error = body(response)
    assert isinstance(error, dict) and set(error) == {"code", "message"}, error
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"].strip(), error
    if status in (409, 503):  # in progress / a dependency down: the client is told when to come back
        retry_after = header(response, "Retry-After")
        assert retry_after is not None and retry_after.isdigit() and int(retry_after) > 0, response
    return error


def next_link(response: dict[str, Any]) -> tuple[str, dict[str, str]] | None:
    """The path and query of the ``rel="next"`` link, or None on the last page."""
    link = header(response, "Link")
    if link is None:
        return None
    match = LINK_NEXT.match(link)
    assert match, f"not an RFC 8288 next link: {link!r}"
    target = urlsplit(match.group("target"))
    query = {key: values[0] for key, values in parse_qs(target.query, strict_parsing=True).items()}
    return target.path, query


def next_cursor(response: dict[str, Any]) -> str | None:
    link = next_link(response)
    return link[1]["cursor"] if link else None


def follow_pages(invoke: Callable[[dict[str, Any]], dict[str, Any]], event_factory: Callable[[], dict[str, Any]],
                 max_pages: int = 200) -> list[list[dict[str, Any]]]:
    """Every page of a list route: the first request, then each ``rel="next"`` link until there is none.

    ``event_factory`` builds a fresh event of the first request; each next request is that event with the query
    of the link (the path must stay the same).
    """
    pages: list[list[dict[str, Any]]] = []
    event = event_factory()
    for _ in range(max_pages):
        response = invoke(event)
        pages.append(ok(response))
        link = next_link(response)
        if link is None:
            return pages
        path, query = link
        event = with_query(event_factory(), **query)
        assert path == event["rawPath"], (path, event["rawPath"])
    raise AssertionError(f"still a next page after {max_pages} pages")
