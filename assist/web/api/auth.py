"""Credentials of phone systems and the dialler/CTI API (people's logins are separate)."""

from __future__ import annotations

import hmac

from aiohttp import web


def bearer_ok(request: web.Request, token: str | None) -> bool:
    if token is None:
        return True
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())


def require_api_token(request: web.Request, token: str | None) -> None:
    """Raise 401 unless the request carries the configured API bearer token."""
    if bearer_ok(request, token):
        return
    reason = "missing Authorization header" if "Authorization" not in request.headers else "wrong API token"
    raise web.HTTPUnauthorized(
        text=f'{{"error": "{reason}: send Authorization: Bearer <ASSIST_API_TOKEN>"}}',
        content_type="application/json",
        headers={"WWW-Authenticate": 'Bearer realm="assist"'},
    )
