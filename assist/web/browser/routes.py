"""The browser UI's routes: the agent sidebar (/agent), the supervisor console (/supervisor), sign-in and
sign-out, the static client (/static/…), the one WebSocket (/ws), the protocol's JSON Schema, and two small
JSON reads for the pages (/ui/me, /ui/calls/{call_id}).

Pages and the socket need a signed-in person (assist.web.browser.sessions): without one a browser is sent to
/login and anything else gets 401; the wrong role gets 403 — both with a JSON error saying why.
`startup` (an on_startup hook after the service's own) builds the `BrowserHub` and hooks it to the event hub.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from aiohttp import web

from assist import logs
from assist.service.context import CTX
from assist.store.users import Session, UserStore
from assist.web.browser import protocol as browser_protocol
from assist.web.browser import sessions
from assist.web.browser.hub import UI, BrowserHub

log = logs.get(__name__)
routes = web.RouteTableDef()

FAILED_LOGINS_MAX = 5
FAILED_LOGINS_WINDOW = 300.0
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def client_dir() -> Path:
    """Where the client files are: ASSIST_CLIENT_DIR, the source checkout, or ./client (the container)."""
    env = os.environ.get("ASSIST_CLIENT_DIR")
    candidates = [Path(env)] if env else []
    candidates += [Path(__file__).resolve().parents[2] / "client", Path.cwd() / "client"]
    for c in candidates:
        if (c / "agent.html").is_file():
            return c
    return candidates[0]


CLIENT = client_dir()
if CLIENT.is_dir():
    routes.static("/static", CLIENT, append_version=False)


class _Throttle:
    """Failed sign-ins per name: after FAILED_LOGINS_MAX in the window, refuse for the rest of it."""

    def __init__(self) -> None:
        self.failures: dict[str, list[float]] = {}

    def blocked(self, name: str) -> bool:
        now = time.monotonic()
        recent = [t for t in self.failures.get(name, []) if now - t < FAILED_LOGINS_WINDOW]
        self.failures[name] = recent
        return len(recent) >= FAILED_LOGINS_MAX

    def failed(self, name: str) -> None:
        now = time.monotonic()
        if len(self.failures) > 10_000:  # names are the caller's choice: keep only what still counts
            self.failures = {k: v for k, v in self.failures.items() if v and now - v[-1] < FAILED_LOGINS_WINDOW}
        self.failures.setdefault(name, []).append(now)

    def ok(self, name: str) -> None:
        self.failures.pop(name, None)


THROTTLE: web.AppKey[_Throttle] = web.AppKey("login_throttle", _Throttle)


async def startup(app: web.Application) -> None:
    ctx = app[CTX]
    users = UserStore(ctx.db)
    await users.purge_sessions()
    hub = BrowserHub(ctx, users, await users.secret("session"))
    await hub.start()
    app[UI] = hub
    app[THROTTLE] = _Throttle()
    ctx.browser_hub = hub


def _hub(request: web.Request) -> BrowserHub:
    return request.app[UI]


def _wants_html(request: web.Request) -> bool:
    return "text/html" in request.headers.get("Accept", "")


def _safe_next(value: str | None) -> str | None:
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return None


def home_of(role: str) -> str:
    return "/agent" if role == "agent" else "/supervisor"


def _file(name: str) -> web.StreamResponse:
    path = CLIENT / name
    if not path.is_file():
        log.error("browser client not found", path=str(path))
        return web.json_response({"error": f"the browser client is not installed ({path} is missing): set "
                                           "ASSIST_CLIENT_DIR to the client/ directory"}, status=503)
    return web.FileResponse(path, headers=PAGE_HEADERS)


async def _page(request: web.Request, role: str, file: str) -> web.StreamResponse:
    hub = _hub(request)
    session, _ = await sessions.authenticate(request, hub.users, hub.secret)
    if session is None and _wants_html(request):
        raise web.HTTPFound(f"/login?next={quote(request.path_qs)}")
    await sessions.require(request, hub.users, hub.secret, roles=(role,))
    return _file(file)


@routes.get("/")
async def index(request: web.Request) -> web.StreamResponse:
    hub = _hub(request)
    session, _ = await sessions.authenticate(request, hub.users, hub.secret)
    raise web.HTTPFound(home_of(session.user.role) if session else "/login")


@routes.get("/agent")
async def agent_page(request: web.Request) -> web.StreamResponse:
    return await _page(request, "agent", "agent.html")


@routes.get("/supervisor")
async def supervisor_page(request: web.Request) -> web.StreamResponse:
    return await _page(request, "supervisor", "supervisor.html")


@routes.get("/login")
async def login_page(request: web.Request) -> web.StreamResponse:
    return _file("login.html")




@routes.post("/login")
async def login(request: web.Request) -> web.StreamResponse:
    hub = _hub(request)
    throttle = request.app[THROTTLE]
    as_json = request.content_type == "application/json"
    data: dict[str, Any]
    try:
        data = await request.json() if as_json else dict(await request.post())
    except (ValueError, RecursionError):  # RecursionError: JSON nested too deep for json.loads
        raise sessions.json_error(400, "body is not JSON: send {\"name\": …, \"password\": …}") from None
    if not isinstance(data, dict):
        raise sessions.json_error(400, "body must be an object with name and password")
    name, password = str(data.get("name") or "").strip(), str(data.get("password") or "")
    nxt = _safe_next(str(data.get("next") or "")) if data.get("next") else None

    def refuse(status: int, code: str, message: str) -> web.StreamResponse:
        if as_json:
            return web.json_response({"error": message, "code": code}, status=status)
        raise web.HTTPSeeOther(f"/login?error={code}" + (f"&next={quote(nxt)}" if nxt else ""))

    if not name or not password:
        return refuse(400, "missing", "name and password are both required")
    if throttle.blocked(name):
        return refuse(429, "throttled", f"too many failed sign-ins for {name}; wait a few minutes")
    user = await hub.users.verify(name, password)
    if user is None:
        throttle.failed(name)
        log.info("sign-in refused", user=name)
        return refuse(401, "bad_credentials", "wrong name or password")
    throttle.ok(name)
    token, expires = await hub.users.create_session(user)
    await hub.refresh_teams()
    log.info("signed in", user=user.name, role=user.role)
    target = nxt if nxt and nxt.startswith(home_of(user.role)) else home_of(user.role)
    resp: web.StreamResponse
    if as_json:
        resp = web.json_response({"user": user.public(), "token": token, "expires_at": expires, "home": target})
    else:
        resp = web.HTTPSeeOther(target)
    sessions.set_session_cookie(resp, sessions.sign(token, hub.secret), int(expires - time.time()),
                                sessions.is_https(request))
    if not as_json:
        raise resp  # type: ignore[misc]
    return resp


@routes.post("/logout")
async def logout(request: web.Request) -> web.StreamResponse:
    hub = _hub(request)
    token, _ = sessions.session_token(request, hub.secret)
    if token:
        session = await hub.users.session(token)
        await hub.users.end_session(token)
        if session is not None:
            await hub.close_session(session.token_hash)
            log.info("signed out", user=session.user.name)
    resp: web.StreamResponse
    if request.content_type == "application/json":
        resp = web.json_response({"signed_out": True})
    else:
        resp = web.HTTPSeeOther("/login")
    sessions.clear_session_cookie(resp)
    if isinstance(resp, web.HTTPException):
        raise resp
    return resp


@routes.get("/ui/me")
async def me(request: web.Request) -> web.Response:
    hub = _hub(request)
    session = await sessions.require(request, hub.users, hub.secret)
    return web.json_response({"user": session.user.public(), "home": home_of(session.user.role),
                              "expires_at": session.expires_at})


@routes.get("/ui/calls/{call_id}")
async def call_detail(request: web.Request) -> web.Response:
    """One call as the signed-in person may see it (403 if it is not theirs / not their team's)."""
    hub = _hub(request)
    session = await sessions.require(request, hub.users, hub.secret)
    call_id = request.match_info["call_id"]
    if not await hub.may_open(session.user, call_id):
        raise sessions.json_error(403, f"call {call_id} is not " + (
            "one of yours" if session.user.role == "agent" else "in your team"), call_id=call_id)
    await hub.ctx.hub.drain()
    detail = await hub.followed(session.user, call_id)
    if detail is None:
        raise sessions.json_error(404, f"no call {call_id}")
    return web.json_response(text=detail.model_dump_json())


@routes.get("/api/schema/browser.json")
async def browser_schema(request: web.Request) -> web.Response:
    return web.json_response(browser_protocol.schema())


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if not origin:
        return True  # not a browser
    host = request.headers.get("X-Forwarded-Host", request.host)
    return urlsplit(origin).netloc == host


@routes.get("/ws")
async def ws(request: web.Request) -> web.StreamResponse:
    """The browser's one WebSocket (protocol: assist.web.browser.protocol, docs/browser-protocol.md)."""
    hub = _hub(request)
    if not _same_origin(request):
        raise sessions.json_error(403, f"cross-site WebSocket from {request.headers.get('Origin')} refused")
    session: Session = await sessions.require(request, hub.users, hub.secret)
    sock = web.WebSocketResponse(heartbeat=25, max_msg_size=64 * 1024)
    await sock.prepare(request)
    await hub.serve(sock, session.user, session.token_hash)
    return sock
