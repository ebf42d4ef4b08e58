"""Who is asking: the signed session cookie (or `Authorization: Bearer <session token>`) of a signed-in person,
and the 401/403 answers for requests without one or with the wrong role.

The cookie holds a random token plus an HMAC of it under a server secret; the server keeps only a hash of the
token (assist.store.users), so a stolen database does not hold usable sessions and a tampered cookie is
refused before any lookup.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable

from aiohttp import web

from assist.store.users import Session, UserStore

COOKIE = "assist_session"


def sign(token: str, secret: str) -> str:
    mac = hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{token}.{mac}"


def unsign(value: str, secret: str) -> str | None:
    token, _, mac = value.rpartition(".")
    if not token or not mac:
        return None
    good = hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()[:32]
    return token if hmac.compare_digest(mac.encode(), good.encode()) else None


def json_error(status: int, message: str, **extra: object) -> web.HTTPException:
    body = json.dumps({"error": message, **extra}, ensure_ascii=False)
    cls: type[web.HTTPException] = {
        401: web.HTTPUnauthorized,
        403: web.HTTPForbidden,
        404: web.HTTPNotFound,
        400: web.HTTPBadRequest,
    }.get(status, web.HTTPBadRequest)
    headers = {"WWW-Authenticate": 'Bearer realm="assist-ui"'} if status == 401 else None
    return cls(text=body, content_type="application/json", headers=headers)


def session_token(request: web.Request, secret: str) -> tuple[str | None, str]:
    """(token, where it came from) from the cookie or the Authorization header; (None, why not) if none."""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            value = value.strip()
            return (unsign(value, secret) if "." in value else value), "bearer"
    cookie = request.cookies.get(COOKIE)
    if cookie:
        token = unsign(cookie, secret)
        return token, "cookie" if token else "bad cookie signature"
    return None, "not signed in"


async def authenticate(request: web.Request, users: UserStore, secret: str) -> tuple[Session | None, str]:
    token, where = session_token(request, secret)
    if token is None:
        return None, where
    session = await users.session(token)
    if session is None:
        return None, "session expired or signed out"
    return session, where


async def require(request: web.Request, users: UserStore, secret: str, roles: Iterable[str] | None = None) -> Session:
    """The caller's session, or raise 401 (not signed in / expired) or 403 (wrong role) with a JSON error."""
    session, why = await authenticate(request, users, secret)
    if session is None:
        raise json_error(401, f"{why}: sign in at /login first", login="/login")
    allowed = tuple(roles or ())
    if allowed and session.user.role not in allowed:
        raise json_error(
            403,
            f"this needs the role {' or '.join(allowed)}; {session.user.name} has the role {session.user.role}",
            role=session.user.role,
        )
    return session


def set_session_cookie(response: web.StreamResponse, value: str, max_age: int, secure: bool) -> None:
    response.set_cookie(COOKIE, value, max_age=max_age, path="/", httponly=True, samesite="Lax", secure=secure)


def clear_session_cookie(response: web.StreamResponse) -> None:
    response.del_cookie(COOKIE, path="/")


def is_https(request: web.Request) -> bool:
    return request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"
