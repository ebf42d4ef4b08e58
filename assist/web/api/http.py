"""Small shared pieces of the JSON API handlers: error replies that say what was wrong, body parsing, and
the middleware that gives aiohttp's own errors (unknown route, wrong method, body too large) the same
`{"error": ...}` JSON shape on the API."""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from assist.stream.protocols.base import JsonError, loads_strict

# Paths whose clients read JSON errors: the dialler/CTI API and the JSON sign-in.
JSON_PATHS = ("/api/", "/login", "/healthz")


def json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}, ensure_ascii=False), content_type="application/json")


def non_finite_path(value: Any) -> str | None:
    """Where in a parsed JSON value the first non-finite number (NaN, ±Infinity) is, as `a.b[2]`;
    None when there is none.  Walked with a stack, never recursion."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return path or "body"
        if isinstance(item, dict):
            stack.extend((f"{path}.{k}" if path else str(k), v) for k, v in reversed(list(item.items())))
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", v) for i, v in reversed(list(enumerate(item))))
    return None


class NonFiniteNumber(JsonError):
    """JSON with NaN/Infinity (or a number beyond float range) in a field; the text names the field."""


def load_json_strict(text: str) -> Any:
    """Untrusted JSON parsed strictly (`loads_strict`: no NaN/Infinity, no number out of float range,
    bounded nesting).  JsonError says what was wrong; NonFiniteNumber also names the field."""
    try:
        return loads_strict(text)
    except JsonError as e:
        where = None
        if "non-finite" in str(e) or "out of range" in str(e):
            try:  # find the field: the lenient parser reads NaN/Infinity (and 1e999 as inf)
                where = non_finite_path(json.loads(text))
            except (ValueError, RecursionError):
                where = None
        if where is not None:
            raise NonFiniteNumber(f"field '{where}': non-finite number (NaN/Infinity) is not allowed") from None
        raise


def parse_json_body(text: str) -> Any:
    """A JSON request body, parsed strictly (`load_json_strict`), or a 400 that says what was wrong and, for
    a non-finite number, in which field."""
    try:
        return load_json_strict(text)
    except NonFiniteNumber as e:
        raise bad_request(str(e)) from None
    except JsonError as e:
        raise bad_request(f"body is not JSON: {e}") from None


async def read_json(request: web.Request) -> Any:
    """The request body as strict JSON (see `parse_json_body`), or a 400 that says why it is not."""
    try:
        text = await request.text()
    except UnicodeDecodeError as e:
        raise bad_request(f"body is not JSON: {e}") from e
    return parse_json_body(text)


def query_limit(request: web.Request, default: int = 100, most: int = 1000) -> int:
    """The `limit` query parameter, clamped to 1..most, or a 400 that says why it is not a number."""
    raw = request.query.get("limit", str(default))
    try:
        return min(most, max(1, int(raw)))
    except ValueError as e:
        raise bad_request(f"limit must be a number, got {raw!r}") from e


@web.middleware
async def json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """On JSON paths, an HTTP error aiohttp raised itself (plain text: no route, method not allowed, body over
    client_max_size) becomes `{"error": ...}` with the same status and headers; JSON errors pass through."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json" or not request.path.startswith(JSON_PATHS):
            raise
        if isinstance(exc, web.HTTPNotFound):
            message = f"no such resource: {request.method} {request.path[:200]}"
        elif isinstance(exc, web.HTTPMethodNotAllowed):
            allowed = exc.headers.get("Allow", "")
            message = f"{request.method} is not allowed on {request.path[:200]} (allowed: {allowed})"
        else:
            message = exc.text or exc.reason
        headers = {k: v for k, v in exc.headers.items() if k.lower() not in ("content-type", "content-length")}
        return web.json_response({"error": message}, status=exc.status, headers=headers)
