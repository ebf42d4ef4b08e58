"""Runs one phone connection's sans-I/O protocol object: performs its wire actions (send, close) through
callbacks the I/O layer gives it, and hands its call events to the call manager.  Used by the WebSocket
handlers, the AudioSocket TCP server and the RTP server; nothing here parses a message or owns a socket.

What the driver guarantees, whatever the protocol:

* wire actions are performed in the order the protocol produced them, and nothing is sent after a Close;
* a CallStart is admitted or refused (`accept()` / `refuse(reason)`) before the next input is read;
* while the protocol is `awaiting_close`, `close_timeout()` is called after its `close_wait` seconds;
* a connection that brings no audio within `media_timeout` seconds is ended with `fail(..., 1008)`;
* an exception while handling input becomes one structured log line and `fail(..., 1011)`;
* the call ends exactly once, by the protocol's CallStop or when the connection is lost;
* input, timers and the connection's loss reach the protocol one at a time (a lock), so a timer never
  runs while a message is half handled.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Protocol

from assist import logs
from assist.events import Speaker
from assist.stream.calls import LiveCall
from assist.stream.protocols.base import (
    Audio,
    CallStart,
    CallStop,
    Close,
    CloseCode,
    Dtmf,
    LocalProtocolError,
    Paused,
    PhoneConnection,
    ProtocolError,
    ProtocolEvent,
    Refusal,
    SendBytes,
    SendText,
    Source,
)

log = logs.get(__name__)

SpeakerMap = dict[Speaker, Speaker]
ResolveCall = Callable[[CallStart], tuple[str | None, SpeakerMap]]


class Calls(Protocol):
    """The part of the call manager (assist.stream.calls.CallManager) a driver uses."""

    counters: dict[str, int]

    def start_call(
        self,
        protocol: str,
        start: CallStart,
        *,
        call_id: str | None = None,
        speakers: tuple[Speaker, ...] | None = None,
        conn: object | None = None,
    ) -> LiveCall: ...

    def audio(self, call: LiveCall, a: Audio, *, shared_clock: bool = True, conn: object | None = None) -> None: ...

    async def connection_closed(self, call: LiveCall, reason: str, *, conn: object | None = None) -> None: ...


class ProtocolDriver:
    """Runs one connection's protocol object against the call manager."""

    def __init__(
        self,
        proto: PhoneConnection,
        protocol: str,
        calls: Calls,
        *,
        send_text: Callable[[str], Awaitable[None]] | None = None,
        send_bytes: Callable[[bytes], Awaitable[None]] | None = None,
        close: Callable[[int, str], Awaitable[None]],
        shared_clock: bool = True,
        resolve_call: ResolveCall | None = None,
        peer: str = "",
        media_timeout: float | None = None,
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
        self.speaker_map: SpeakerMap = {}
        self.closed = False
        self.errors = 0
        self.log = log.bind(protocol=protocol, peer=peer)
        self._close_timer: asyncio.TimerHandle | None = None
        self._media_timer: asyncio.TimerHandle | None = None
        self._lost = False
        self._turn = asyncio.Lock()  # one protocol call (and its wire actions) at a time
        self._pending: set[asyncio.Task[None]] = set()
        if media_timeout is not None:
            loop = asyncio.get_running_loop()
            self._media_timer = loop.call_later(media_timeout, lambda: loop.create_task(self._no_media(media_timeout)))

    # ------------------------------------------------------------------ input from the I/O layer

    async def receive(self, data: str | bytes, *, at: float | None = None, source: Source | None = None) -> None:
        """Feed what arrived to the protocol and act on its events; never raises for bad input."""
        async with self._turn:
            try:
                events = self.proto.receive(data, at=at, source=source)
                await self.handle(events)
            except Exception as exc:  # any failure must end this connection, never the server
                await self._internal_error(exc)

    async def handle(self, events: list[ProtocolEvent]) -> None:
        for ev in events:
            await self._event(ev)
        if self.proto.awaiting_close and self._close_timer is None and not self.closed:
            loop = asyncio.get_running_loop()
            self._close_timer = loop.call_later(self.proto.close_wait, lambda: loop.create_task(self._close_timeout()))

    async def _event(self, ev: ProtocolEvent) -> None:
        if isinstance(ev, Audio):
            self._media_arrived()
            if self.call is not None:
                if self.speaker_map:
                    ev = Audio(self.speaker_map.get(ev.speaker, ev.speaker), ev.pcm, ev.sample_rate, ev.position)
                self.calls.audio(self.call, ev, shared_clock=self.shared_clock, conn=self)
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
            self.log.warning("protocol error", error=ev.message, fatal=ev.fatal, code=ev.code, call_id=self._call_id)
        elif isinstance(ev, Close):
            await self._do_close(ev.code, ev.reason)
        elif isinstance(ev, Dtmf):
            self.log.info("dtmf", call_id=self._call_id)
        elif isinstance(ev, Paused):
            self._media_arrived()  # a call on hold is not a dead connection
            self.log.info("paused" if ev.paused else "resumed", call_id=self._call_id)

    @property
    def _call_id(self) -> str | None:
        return self.call.call_id if self.call else None

    async def _do_close(self, code: int, reason: str) -> None:
        if not self.closed:
            self.closed = True
            self._cancel_timers()
            await self._close(code, reason)

    # ------------------------------------------------------------------ admission

    async def _start(self, ev: CallStart) -> None:
        if ev.probe:
            self.calls.counters["probes"] += 1
            self.log.info("connection probe")
            self._media_arrived()  # a probe closes at once and never streams
            await self.handle(self.proto.accept())
            return
        call_id: str | None = None
        if self.resolve_call is not None:
            call_id, self.speaker_map = self.resolve_call(ev)
        try:
            speakers = tuple(self.speaker_map.get(s, s) for s in ev.speakers) if self.speaker_map else None
            self.call = self.calls.start_call(self.protocol, ev, call_id=call_id, speakers=speakers, conn=self)
        except Refusal as e:
            await self.handle(self.proto.refuse(str(e)))
            return
        self.log = self.log.bind(call_id=self.call.call_id)
        self.call.hangups.append(self._hang_up)
        await self.handle(self.proto.accept())

    def _hang_up(self, reason: str, detail: str) -> None:
        """The call was ended on our side (the dialler API, overload, shutdown): tell the phone system in its
        protocol's words, a normal close, or its refusal when we shed the call under overload."""
        if self.call is None or self.closed or self._lost:
            return  # the connection ended it itself
        self.call = None  # ended by the call manager: the connection must not end it again
        self.log.info("call ended by us; closing the connection", reason=reason)

        def ending() -> list[ProtocolEvent]:
            try:
                if reason == "overload":
                    return self.proto.fail(detail, CloseCode.TRY_LATER)
                return self.proto.close(reason)
            except LocalProtocolError:
                return []  # the protocol is already closing

        task = asyncio.get_running_loop().create_task(self._guarded(ending))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    # ------------------------------------------------------------------ endings

    async def _end(self, reason: str) -> None:
        call, self.call = self.call, None
        if call is not None:
            await self.calls.connection_closed(call, reason, conn=self)

    def _media_arrived(self) -> None:
        if self._media_timer is not None:
            self._media_timer.cancel()
            self._media_timer = None

    def _cancel_timers(self) -> None:
        for timer in (self._close_timer, self._media_timer):
            if timer is not None:
                timer.cancel()
        self._media_timer = None

    async def _close_timeout(self) -> None:
        await self._guarded(lambda: self.proto.close_timeout() if self.proto.awaiting_close else [])

    async def _no_media(self, seconds: float) -> None:
        self._media_timer = None

        def fail() -> list[ProtocolEvent]:
            self.log.warning("no media in time; connection ended", seconds=seconds, call_id=self._call_id)
            return self.proto.fail(f"no media within {seconds:g} s", CloseCode.POLICY)

        await self._guarded(fail)

    async def _guarded(self, action: Callable[[], list[ProtocolEvent]]) -> None:
        """Run a protocol call from a timer, with the same failure handling as input."""
        async with self._turn:
            if self.closed or self._lost:
                return
            try:
                await self.handle(action())
            except Exception as exc:
                await self._internal_error(exc)

    async def _internal_error(self, exc: Exception) -> None:
        """A bug or an unforeseen input: one structured log line, then the protocol's error close (1011)."""
        self.errors += 1
        self.log.error(
            "connection handler failed",
            error=f"{type(exc).__name__}: {str(exc)[:200]}",
            call_id=self._call_id,
            exc_info=exc,
        )
        if self.closed:
            return
        reason = "internal error"
        try:
            events = self.proto.fail(reason, CloseCode.INTERNAL_ERROR)
        except Exception:
            events = [CallStop("error"), Close(CloseCode.INTERNAL_ERROR, reason)]
        with contextlib.suppress(Exception):
            await self.handle(events)
        await self._do_close(CloseCode.INTERNAL_ERROR, reason)
        await self._end("error")

    async def connection_lost(self) -> None:
        """The transport is gone: end the call if the protocol did not (exactly once)."""
        if self._lost:
            return
        self._lost = True
        self._cancel_timers()
        async with self._turn:
            self.closed = True
            try:
                await self.handle(self.proto.connection_closed())
            except Exception as exc:
                self.log.error(
                    "connection_closed failed", error=f"{type(exc).__name__}: {str(exc)[:200]}", exc_info=exc
                )
            await self._end("disconnected")
