"""Runs one phone connection's sans-I/O protocol object: performs its wire actions (send, close) through
callbacks the I/O layer gives it, and hands its call events to the call manager.  Used by the WebSocket
handlers, the AudioSocket TCP server and the RTP server; nothing here parses a message or owns a socket.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from assist import logs
from assist.stream.calls import CallManager, LiveCall
from assist.stream.protocols.audiohook import CLOSE_TIMEOUT
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

log = logs.get(__name__)


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
