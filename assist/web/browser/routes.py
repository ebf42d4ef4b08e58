"""The browser UI's routes: the agent sidebar (/agent), the supervisor console (/supervisor), sign-in and
sign-out, the static client (/static/…), the one WebSocket (/ws), the protocol's JSON Schema, and two small
JSON reads for the pages (/ui/me, /ui/calls/{call_id}).

Pages and the socket need a signed-in person (assist.web.browser.sessions): without one a browser is sent to
/login and anything else gets 401 with a JSON error saying why; the wrong role gets 403: a page saying why
(with a link to the person's own page) for a browser navigation, the JSON error for anything else.
`startup` (an on_startup hook after the service's own) builds the `BrowserHub` and hooks it to the event hub.
"""

from __future__ import annotations

import html
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

FAILED_LOGINS_MAX = 5  # per (name, client address)
FAILED_LOGINS_PER_ADDRESS = 20  # per client address, whatever the names
FAILED_LOGINS_PER_NAME = 100  # per name, whatever the addresses: only a distributed attack gets here
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
    """Failed sign-ins, counted over the last FAILED_LOGINS_WINDOW seconds at three scopes:

    * per (name, client address), FAILED_LOGINS_MAX: someone guessing one person's password from one place
      is stopped after a few tries, without locking that person out where they really are;
    * per client address, FAILED_LOGINS_PER_ADDRESS (any names): one place trying many names is stopped;
    * per name, FAILED_LOGINS_PER_NAME (any addresses): high enough that only an attack spread over many
      addresses reaches it, which then does lock the name for the window (the lesser harm).

    A successful sign-in clears its (name, address) count only: the other scopes keep what they saw."""

    def __init__(self) -> None:
        self.failures: dict[tuple[str, str], list[float]] = {}  # scope key -> failure times

    @staticmethod
    def _keys(name: str, address: str) -> list[tuple[tuple[str, str], int]]:
        return [
            ((name, address), FAILED_LOGINS_MAX),
            (("", address), FAILED_LOGINS_PER_ADDRESS),
            ((name, ""), FAILED_LOGINS_PER_NAME),
        ]

    def blocked(self, name: str, address: str) -> bool:
        now = time.monotonic()
        hit = False
        for key, limit in self._keys(name, address):
            recent = [t for t in self.failures.get(key, []) if now - t < FAILED_LOGINS_WINDOW]
            if recent:
                self.failures[key] = recent
            else:
                self.failures.pop(key, None)
            hit = hit or len(recent) >= limit
        return hit

    def failed(self, name: str, address: str) -> None:
        now = time.monotonic()
        if len(self.failures) > 30_000:  # names are the caller's choice: keep only what still counts
            self.failures = {k: v for k, v in self.failures.items() if v and now - v[-1] < FAILED_LOGINS_WINDOW}
        for key, _ in self._keys(name, address):
            self.failures.setdefault(key, []).append(now)

    def ok(self, name: str, address: str) -> None:
        self.failures.pop((name, address), None)


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
        return web.json_response(
            {
                "error": f"the browser client is not installed ({path} is missing): set "
                "ASSIST_CLIENT_DIR to the client/ directory"
            },
            status=503,
        )
    return web.FileResponse(path, headers=PAGE_HEADERS)


# role -> (its name in Chinese, its page in English, its page in Chinese)
ROLE_NAMES = {
    "agent": ("坐席", "agent sidebar", "坐席侧边栏"),
    "supervisor": ("主管", "supervisor console", "主管监控台"),
}


def wrong_role_page(user: str, role: str, needed: str) -> web.Response:
    """The 403 a person gets in a browser for the other role's page: says why, in both languages, and links
    to their own page (API and XHR callers get the JSON error instead)."""
    mine, need = ROLE_NAMES.get(role, (role, role, role)), ROLE_NAMES.get(needed, (needed, needed, needed))
    name = html.escape(user)
    body = f"""<!doctype html>
<html lang="zh-CN">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>assist</title><link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/assist.css"></head>
<body class="login"><main class="login-box wrong-role" role="alert">
<h1>坐席助手 · assist</h1>
<p>此页面（{need[2]}）需要{need[0]}角色；{name} 的角色是{mine[0]}。</p>
<p lang="en">This page ({need[1]}) needs the role {html.escape(needed)}; {name} has the role {html.escape(role)}.</p>
<p><a class="home" href="{home_of(role)}">打开{mine[2]} · Open the {mine[1]}</a></p>
<form method="post" action="/logout">
<button type="submit" class="link">以其他身份登录 · Sign in as someone else</button></form>
</main></body></html>
"""
    return web.Response(status=403, text=body, content_type="text/html", headers=PAGE_HEADERS)


async def _page(request: web.Request, role: str, file: str) -> web.StreamResponse:
    hub = _hub(request)
    session, _ = await sessions.authenticate(request, hub.users, hub.secret)
    if session is None and _wants_html(request):
        raise web.HTTPFound(f"/login?next={quote(request.path_qs)}")
    if session is not None and session.user.role != role and _wants_html(request):
        return wrong_role_page(session.user.name, session.user.role, role)
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
        raise sessions.json_error(400, 'body is not JSON: send {"name": …, "password": …}') from None
    if not isinstance(data, dict):
        raise sessions.json_error(400, "body must be an object with name and password")
    name, password = str(data.get("name") or "").strip(), str(data.get("password") or "")
    nxt = _safe_next(str(data.get("next") or "")) if data.get("next") else None

    def refuse(status: int, code: str, message: str) -> web.StreamResponse:
        if as_json:
            return web.json_response({"error": message, "code": code}, status=status)
        # the name typed stays in the form (only the password is asked again)
        raise web.HTTPSeeOther(
            f"/login?error={code}" + (f"&name={quote(name)}" if name else "") + (f"&next={quote(nxt)}" if nxt else "")
        )

    if not name or not password:
        return refuse(400, "missing", "name and password are both required")
    address = request.remote or ""
    if throttle.blocked(name, address):
        return refuse(429, "throttled", f"too many failed sign-ins for {name}; wait a few minutes")
    user = await hub.users.verify(name, password)
    if user is None:
        throttle.failed(name, address)
        log.info("sign-in refused", user=name, peer=address)
        return refuse(401, "bad_credentials", "wrong name or password")
    throttle.ok(name, address)
    token, expires = await hub.users.create_session(user)
    await hub.refresh_teams()
    log.info("signed in", user=user.name, role=user.role)
    target = nxt if nxt and nxt.startswith(home_of(user.role)) else home_of(user.role)
    resp: web.StreamResponse
    if as_json:
        resp = web.json_response({"user": user.public(), "token": token, "expires_at": expires, "home": target})
    else:
        resp = web.HTTPSeeOther(target)
    sessions.set_session_cookie(
        resp, sessions.sign(token, hub.secret), int(expires - time.time()), sessions.is_https(request)
    )
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
    return web.json_response(
        {"user": session.user.public(), "home": home_of(session.user.role), "expires_at": session.expires_at}
    )


@routes.get("/ui/calls/{call_id}")
async def call_detail(request: web.Request) -> web.Response:
    """One call as the signed-in person may see it (403 if it is not theirs / not their team's)."""
    hub = _hub(request)
    session = await sessions.require(request, hub.users, hub.secret)
    call_id = request.match_info["call_id"]
    if not await hub.may_open(session.user, call_id):
        raise sessions.json_error(
            403,
            f"call {call_id} is not " + ("one of yours" if session.user.role == "agent" else "in your team"),
            call_id=call_id,
        )
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
