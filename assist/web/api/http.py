"""Small shared pieces of the JSON API handlers: error replies that say what was wrong, body parsing."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web


def json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}, ensure_ascii=False),
                              content_type="application/json")


async def read_json(request: web.Request) -> Any:
    """The request body as JSON, or a 400 that says why it is not."""
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise bad_request(f"body is not JSON: {e}") from e


def query_limit(request: web.Request, default: int = 100, most: int = 1000) -> int:
    """The `limit` query parameter, clamped to 1..most, or a 400 that says why it is not a number."""
    raw = request.query.get("limit", str(default))
    try:
        return min(most, max(1, int(raw)))
    except ValueError as e:
        raise bad_request(f"limit must be a number, got {raw!r}") from e
