"""Small shared pieces of the JSON API handlers: error replies that say what was wrong, body parsing, and
the middleware that gives aiohttp's own errors (unknown route, wrong method, body too large) the same
`{"error": ...}` JSON shape on the API."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

# Paths whose clients read JSON errors: the dialler/CTI API and the JSON sign-in.
JSON_PATHS = ("/api/", "/login", "/healthz")


def json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}, ensure_ascii=False),
                              content_type="application/json")


async def read_json(request: web.Request) -> Any:
    """The request body as JSON, or a 400 that says why it is not."""
    try:
        return await request.json()
    except (ValueError, RecursionError) as e:  # JSONDecodeError, UnicodeDecodeError, an int too long, nesting
        raise bad_request(f"body is not JSON this server accepts: {str(e)[:200]}") from None


def query_limit(request: web.Request, default: int = 100, most: int = 1000) -> int:
    """The `limit` query parameter, clamped to 1..most, or a 400 that says why it is not a number."""
    raw = request.query.get("limit", str(default))
    try:
        return min(most, max(1, int(raw)))
    except ValueError as e:
        raise bad_request(f"limit must be a number, got {raw!r}") from e


@web.middleware
async def json_errors(request: web.Request,
                      handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
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
