"""Phone-system connections: move bytes between the wire and the sans-I/O protocol objects.

`ProtocolDriver` performs a protocol's wire actions (send, close) and hands its call events to the
call manager; the WebSocket handlers below (Twilio Media Streams, Genesys AudioHook, FreeSWITCH
mod_audio_fork) and the AudioSocket TCP server use it.  Nothing here parses a message.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSMsgType, web

from assist import logs
from assist.stream.calls import CallManager, LiveCall
from assist.stream.protocols.audiofork import AudioForkServer, check_basic_auth
from assist.stream.protocols.audiohook import CLOSE_TIMEOUT, AudioHookServer
from assist.stream.protocols.base import (
    Audio,
    CallStart,
    CallStop,
    Close,
    Dtmf,
    Paused,
    ProtocolError,
    ProtocolEvent,
    Refusal,
    SendBytes,
    SendText,
)
from assist.stream.protocols.twilio import TwilioServer, check_twilio_signature
from assist.web.context import CTX

log = logs.get(__name__)
routes = web.RouteTableDef()



class ProtocolDriver:
    """Runs one connection's protocol object against the call manager."""

    def __init__(
        self,
        proto: Any,
        protocol: str,
        calls: CallManager,
        *,
        send_text: Callable[[str], Awaitable[None]] | None = None,
        send_bytes: Callable[[bytes], Awaitable[None]] | None = None,
        close: Callable[[int, str], Awaitable[None]],
        shared_clock: bool = True,
        resolve_call: Callable[[CallStart], tuple[str | None, Any]] | None = None,
        peer: str = "",
    ) -> None:
        self.proto = proto
        self.protocol = protocol
        self.calls = calls
        self._send_text = send_text
        self._send_bytes = send_bytes
        self._close = close
        self.shared_clock = shared_clock
        self.resolve_call = resolve_call
        self.call: LiveCall | None = None
        self.speaker_map: dict[str, Any] = {}
        self.closed = False
        self.errors = 0
        self.log = log.bind(protocol=protocol, peer=peer)
        self._timer: asyncio.TimerHandle | None = None

    async def handle(self, events: list[ProtocolEvent]) -> None:
        for ev in events:
            if isinstance(ev, Audio):
                if self.call is not None:
                    if self.speaker_map:
                        ev = Audio(self.speaker_map.get(ev.speaker, ev.speaker), ev.pcm, ev.sample_rate, ev.position)
                    self.calls.audio(self.call, ev, shared_clock=self.shared_clock)
            elif isinstance(ev, CallStart):
                await self._start(ev)
            elif isinstance(ev, SendText):
                if self._send_text is not None and not self.closed:
                    await self._send_text(ev.text)
            elif isinstance(ev, SendBytes):
                if self._send_bytes is not None and not self.closed:
                    await self._send_bytes(ev.data)
            elif isinstance(ev, CallStop):
                await self._end(ev.reason)
            elif isinstance(ev, ProtocolError):
                self.errors += 1
                self.log.warning("protocol error", error=ev.message, fatal=ev.fatal, code=ev.code,
                                 call_id=self.call.call_id if self.call else None)
            elif isinstance(ev, Close):
                if not self.closed:
                    self.closed = True
                    await self._close(ev.code, ev.reason)
            elif isinstance(ev, Dtmf):
                self.log.info("dtmf", call_id=self.call.call_id if self.call else None)
            elif isinstance(ev, Paused):
                self.log.info("paused" if ev.paused else "resumed", call_id=self.call.call_id if self.call else None)
        if getattr(self.proto, "awaiting_close", False) and self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(CLOSE_TIMEOUT, lambda: loop.create_task(self._close_timeout()))

    async def _close_timeout(self) -> None:
        if hasattr(self.proto, "close_timeout"):
            await self.handle(self.proto.close_timeout())

    async def _start(self, ev: CallStart) -> None:
        if ev.probe:
            self.calls.counters["probes"] += 1
            self.log.info("connection probe")
            await self.handle(self.proto.accept())
            return
        call_id: str | None = None
        if self.resolve_call is not None:
            call_id, self.speaker_map = self.resolve_call(ev)
        try:
            speakers = tuple(self.speaker_map.get(s, s) for s in ev.speakers) if self.speaker_map else None
            self.call = self.calls.start_call(self.protocol, ev, call_id=call_id, speakers=speakers)
        except Refusal as e:
            await self.handle(self.proto.refuse(str(e)))
            return
        self.log = self.log.bind(call_id=self.call.call_id)
        await self.handle(self.proto.accept())

    async def _end(self, reason: str) -> None:
        call, self.call = self.call, None
        if call is not None:
            await self.calls.connection_closed(call, reason)

    async def connection_lost(self) -> None:
        """The transport is gone: end the call if the protocol did not."""
        if self._timer is not None:
            self._timer.cancel()
        if hasattr(self.proto, "connection_closed"):
            with contextlib.suppress(Exception):
                self.closed = True
                await self.handle(self.proto.connection_closed())
        await self._end("disconnected")


def media_socket(max_msg_size: int, protocols: tuple[str, ...] = ()) -> web.WebSocketResponse:
    """The server side of a phone system's media WebSocket.  Compression is declined: audio (base64
    mu-law or binary PCM) hardly deflates, and inflating 100 frames a second per call cost the event loop
    ≈7 % of its time in a profile of six calls."""
    return web.WebSocketResponse(protocols=protocols, max_msg_size=max_msg_size, autoping=True, compress=False)


async def _run_websocket(request: web.Request, ws: web.WebSocketResponse, driver: ProtocolDriver) -> None:
    conns = request.app[CTX].websockets
    conns.add(ws)
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await driver.handle(driver.proto.receive_text(msg.data))
            elif msg.type == WSMsgType.BINARY:
                await driver.handle(driver.proto.receive_bytes(msg.data))
            elif msg.type == WSMsgType.ERROR:
                driver.log.warning("websocket error", error=str(ws.exception()))
                break
            if driver.closed:
                break
    finally:
        if ws.close_code not in (None, 1000, 1005) or ws.exception() is not None:
            driver.log.warning("connection closed abnormally", code=ws.close_code, error=str(ws.exception() or ""))
        conns.discard(ws)
        await driver.connection_lost()
        if not ws.closed:
            await ws.close()


def _ws_driver(request: web.Request, ws: web.WebSocketResponse, proto: Any, protocol: str) -> ProtocolDriver:
    ctx = request.app[CTX]

    async def close(code: int, reason: str) -> None:
        await ws.close(code=code, message=reason.encode()[:120])

    return ProtocolDriver(proto, protocol, ctx.calls, send_text=ws.send_str, send_bytes=ws.send_bytes,
                          close=close, peer=request.remote or "")


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
    problem = check_twilio_signature(_public_url(request), request.headers.get("X-Twilio-Signature"),
                                     s.twilio_auth_token)
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
        dict(request.headers), request_target=request.path_qs, api_key=s.audiohook_api_key,
        client_secret=s.audiohook_client_secret, scheme="wss" if forwarded in ("https", "wss") else "ws",
        max_message_bytes=s.max_message_bytes,
    )
    if proto.auth_error:
        log.warning("audiohook authentication failed", reason=proto.auth_error, peer=request.remote)
    await _run_websocket(request, ws, _ws_driver(request, ws, proto, "audiohook"))
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
