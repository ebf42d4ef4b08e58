"""The phone systems' media WebSockets (Twilio Media Streams, Genesys AudioHook, FreeSWITCH mod_audio_fork):
authenticate the upgrade, then move messages between the socket and a `ProtocolDriver`.  Nothing here
parses a message.

A failed AudioHook authentication is answered no sooner than `AUTH_FAILURE_DELAY` seconds (as the
Genesys reference server does, so a client cannot probe keys quickly); the wait is this connection's
own `asyncio.sleep`, so the event loop and every other connection carry on meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import WSMsgType, web

from assist import logs
from assist.service.context import CTX
from assist.stream.protocols.audiofork import AudioForkServer, check_basic_auth
from assist.stream.protocols.audiohook import AudioHookServer
from assist.stream.protocols.base import PhoneConnection
from assist.stream.protocols.twilio import TwilioServer, check_twilio_signature
from assist.web.phone.driver import ProtocolDriver

log = logs.get(__name__)
routes = web.RouteTableDef()

AUTH_FAILURE_DELAY = 0.5  # seconds before the answer to a failed AudioHook authentication
# close codes of a normal end: 1000, and "no status" - an empty close frame, which Genesys' client
# sends and aiohttp reports as 0 (RFC 6455 calls it 1005 when it must be named)
NORMAL_CLOSE_CODES = (None, 0, 1000, 1005)


def media_socket(max_msg_size: int, protocols: tuple[str, ...] = ()) -> web.WebSocketResponse:
    """The server side of a phone system's media WebSocket.  Compression is declined: audio (base64
    mu-law or binary PCM) hardly deflates, and inflating 50-100 frames a second per call is a real share of
    the event loop's time."""
    return web.WebSocketResponse(protocols=protocols, max_msg_size=max_msg_size, autoping=True, compress=False)


async def _run_websocket(request: web.Request, ws: web.WebSocketResponse, driver: ProtocolDriver) -> None:
    conns = request.app[CTX].websockets
    conns.add(ws)
    try:
        async for msg in ws:
            if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                await driver.receive(msg.data)
            elif msg.type == WSMsgType.ERROR:
                driver.log.warning("websocket error", error=str(ws.exception()))
                break
            if driver.closed:
                break
    finally:
        if ws.close_code not in NORMAL_CLOSE_CODES or ws.exception() is not None:
            driver.log.warning("connection closed abnormally", code=ws.close_code, error=str(ws.exception() or ""))
        conns.discard(ws)
        await driver.connection_lost()
        if not ws.closed:
            await ws.close()


def _ws_driver(
    request: web.Request,
    ws: web.WebSocketResponse,
    proto: PhoneConnection,
    protocol: str,
    *,
    send_text: Callable[[str], Awaitable[None]] | None = None,
) -> ProtocolDriver:
    ctx = request.app[CTX]

    async def close(code: int, reason: str) -> None:
        await ws.close(code=code, message=reason.encode()[:120])

    return ProtocolDriver(
        proto,
        protocol,
        ctx.calls,
        send_text=send_text or ws.send_str,
        send_bytes=ws.send_bytes,
        close=close,
        peer=request.remote or "",
        media_timeout=ctx.settings.media_timeout,
    )


def _delayed_first(ws: web.WebSocketResponse, delay: float) -> Callable[[str], Awaitable[None]]:
    """`ws.send_str`, with the first message held back `delay` seconds (later ones follow it in order;
    nothing is sent once the socket closed meanwhile)."""
    waited = False

    async def send_later(text: str) -> None:
        nonlocal waited
        if not waited:
            waited = True
            await asyncio.sleep(delay)
        if not ws.closed:
            await ws.send_str(text)

    return send_later


def _public_url(request: web.Request) -> str:
    base = request.app[CTX].settings.public_url
    if base:
        return base.rstrip("/") + request.path_qs
    # Twilio signs the wss:// URL it was given, even when TLS ends at a proxy in front of us
    host = request.headers.get("X-Forwarded-Host", request.host)
    return f"wss://{host}{request.path_qs}"


@routes.get("/twilio")
async def twilio(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    s = ctx.settings
    problem = check_twilio_signature(
        _public_url(request), request.headers.get("X-Twilio-Signature"), s.twilio_auth_token
    )
    if problem:
        log.warning("twilio upgrade refused", reason=problem, peer=request.remote)
        raise web.HTTPForbidden(text=problem)
    ws = media_socket(s.max_message_bytes)
    await ws.prepare(request)
    proto = TwilioServer(inbound_speaker=s.twilio_inbound_speaker, max_message_bytes=s.max_message_bytes)
    await _run_websocket(request, ws, _ws_driver(request, ws, proto, "twilio"))
    return ws


@routes.get("/audiohook")
async def audiohook(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    s = ctx.settings
    ws = media_socket(s.max_message_bytes)
    await ws.prepare(request)
    forwarded = request.headers.get("X-Forwarded-Proto", request.scheme)
    proto = AudioHookServer(
        dict(request.headers),
        request_target=request.path_qs,
        api_key=s.audiohook_api_key,
        client_secret=s.audiohook_client_secret,
        scheme="wss" if forwarded in ("https", "wss") else "ws",
        max_message_bytes=s.max_message_bytes,
    )
    send_text: Callable[[str], Awaitable[None]] = ws.send_str
    if proto.auth_error:
        log.warning("audiohook authentication failed", reason=proto.auth_error, peer=request.remote)
        send_text = _delayed_first(ws, AUTH_FAILURE_DELAY)
    await _run_websocket(request, ws, _ws_driver(request, ws, proto, "audiohook", send_text=send_text))
    return ws


@routes.get("/audiofork")
async def audiofork(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    s = ctx.settings
    problem = check_basic_auth(request.headers, s.audiofork_user, s.audiofork_password)
    if problem:
        log.warning("audiofork upgrade refused", reason=problem, peer=request.remote)
        raise web.HTTPUnauthorized(text=problem, headers={"WWW-Authenticate": 'Basic realm="assist"'})
    ws = media_socket(s.max_message_bytes, protocols=("audio.drachtio.org",))
    await ws.prepare(request)
    proto = AudioForkServer(max_message_bytes=s.max_message_bytes)
    await _run_websocket(request, ws, _ws_driver(request, ws, proto, "audiofork"))
    return ws
