"""ProtocolDriver alone, with fakes at both edges: a scripted protocol object and a recording call manager.

Checks what the driver promises whatever the protocol: wire actions in order and none after a Close,
admission answered with accept() or the protocol's own refusal, the close timeout honoured, a
connection without media failed, an exception turned into the protocol's 1011 failure, and the call
ended exactly once when the connection is lost.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from structlog.testing import capture_logs

from assist.events import CallStarted, Speaker
from assist.stream.calls import LiveCall
from assist.stream.protocols.base import (
    Audio,
    CallStart,
    CallStop,
    Close,
    PhoneConnection,
    ProtocolEvent,
    Refusal,
    SendBytes,
    SendText,
    Source,
)
from assist.web.phone.driver import ProtocolDriver

START = CallStart(external_id="ext-1", sample_rate=8000)
PCM = b"\x01\x00" * 160


@dataclass
class FakeProtocol:
    """Returns scripted events and records every call the driver makes."""

    inputs: list[list[ProtocolEvent] | Exception] = field(default_factory=list)
    on_accept: list[ProtocolEvent] = field(default_factory=list)
    on_refuse: list[ProtocolEvent] = field(default_factory=list)
    on_fail: list[ProtocolEvent] | Exception = field(default_factory=list)
    on_lost: list[ProtocolEvent] = field(default_factory=list)
    on_close_timeout: list[ProtocolEvent] = field(default_factory=list)
    waiting_for_close: bool = False
    close_wait: float = 0.05
    calls: list[tuple[Any, ...]] = field(default_factory=list)

    def receive(
        self, data: str | bytes, *, at: float | None = None, source: Source | None = None
    ) -> list[ProtocolEvent]:
        self.calls.append(("receive", data, at, source))
        step = self.inputs.pop(0)
        if isinstance(step, Exception):
            raise step
        return step

    def accept(self) -> list[ProtocolEvent]:
        self.calls.append(("accept",))
        return self.on_accept

    def refuse(self, reason: str) -> list[ProtocolEvent]:
        self.calls.append(("refuse", reason))
        return self.on_refuse

    def close(self, reason: str = "") -> list[ProtocolEvent]:
        self.calls.append(("close", reason))
        return [Close(1000, reason)]

    def fail(self, reason: str, code: int = 1011) -> list[ProtocolEvent]:
        self.calls.append(("fail", reason, code))
        if isinstance(self.on_fail, Exception):
            raise self.on_fail
        return self.on_fail

    def connection_closed(self) -> list[ProtocolEvent]:
        self.calls.append(("connection_closed",))
        return self.on_lost

    @property
    def awaiting_close(self) -> bool:
        return self.waiting_for_close

    def close_timeout(self) -> list[ProtocolEvent]:
        self.calls.append(("close_timeout",))
        return self.on_close_timeout


@dataclass
class FakeCalls:
    """Admits (or refuses) calls and records audio and endings."""

    refuse_with: str | None = None
    counters: dict[str, int] = field(default_factory=lambda: {"probes": 0})
    started: list[tuple[str, CallStart, str | None, tuple[Speaker, ...] | None]] = field(default_factory=list)
    audio_seen: list[Audio] = field(default_factory=list)
    ended: list[tuple[str, str]] = field(default_factory=list)

    def start_call(
        self,
        protocol: str,
        start: CallStart,
        *,
        call_id: str | None = None,
        speakers: tuple[Speaker, ...] | None = None,
        conn: object | None = None,
    ) -> LiveCall:
        self.started.append((protocol, start, call_id, speakers))
        if self.refuse_with:
            raise Refusal(self.refuse_with)
        cid = call_id or start.external_id or "c-1"
        ev = CallStarted(call_id=cid, protocol=protocol, language="zh-CN", sample_rate=start.sample_rate)
        return LiveCall(call_id=cid, protocol=protocol, started=ev, expected=start.speakers)

    def audio(self, call: LiveCall, a: Audio, *, shared_clock: bool = True, conn: object | None = None) -> None:
        self.audio_seen.append(a)

    async def connection_closed(self, call: LiveCall, reason: str, *, conn: object | None = None) -> None:
        self.ended.append((call.call_id, reason))


@dataclass
class Wire:
    """The I/O layer's side: what the driver sent and closed, in order."""

    actions: list[tuple[Any, ...]] = field(default_factory=list)

    async def send_text(self, text: str) -> None:
        self.actions.append(("text", text))

    async def send_bytes(self, data: bytes) -> None:
        self.actions.append(("bytes", data))

    async def close(self, code: int, reason: str) -> None:
        self.actions.append(("close", code, reason))


def make(proto: FakeProtocol, calls: FakeCalls | None = None, **kw: Any) -> tuple[ProtocolDriver, FakeCalls, Wire]:
    calls = calls or FakeCalls()
    wire = Wire()
    conn: PhoneConnection = proto  # the fake keeps the contract (checked by mypy)
    driver = ProtocolDriver(
        conn, "fake", calls, send_text=wire.send_text, send_bytes=wire.send_bytes, close=wire.close, **kw
    )
    return driver, calls, wire


async def test_wire_actions_are_performed_in_order_and_nothing_after_close() -> None:
    proto = FakeProtocol(
        inputs=[
            [SendText("a"), SendBytes(b"b"), SendText("c"), Close(1008, "bye"), SendText("after"), Close(1000, "again")]
        ]
    )
    driver, _, wire = make(proto)
    await driver.receive("x", at=1.5, source=("10.0.0.1", 5))
    assert wire.actions == [("text", "a"), ("bytes", b"b"), ("text", "c"), ("close", 1008, "bye")]
    assert proto.calls == [("receive", "x", 1.5, ("10.0.0.1", 5))] and driver.closed


async def test_call_start_is_admitted_then_accepted_and_audio_reaches_the_call() -> None:
    proto = FakeProtocol(inputs=[[START, Audio("customer", PCM, 8000, 0)]], on_accept=[SendText("opened")])
    driver, calls, wire = make(proto, resolve_call=lambda ev: ("reg-7", {"customer": "agent"}))
    await driver.receive("open")
    assert calls.started == [("fake", START, "reg-7", ("agent", "agent"))]
    assert proto.calls[1:] == [("accept",)] and wire.actions == [("text", "opened")]
    assert calls.audio_seen == [Audio("agent", PCM, 8000, 0)]  # the registration's speaker map applies


async def test_refusal_becomes_the_protocols_refusal() -> None:
    proto = FakeProtocol(
        inputs=[[START, Audio("customer", PCM, 8000, 0)]], on_refuse=[SendText("go away"), Close(1013, "busy")]
    )
    driver, calls, wire = make(proto, FakeCalls(refuse_with="over capacity"))
    await driver.receive("start")
    assert ("refuse", "over capacity") in proto.calls and ("accept",) not in proto.calls
    assert wire.actions == [("text", "go away"), ("close", 1013, "busy")]
    assert calls.audio_seen == [] and driver.call is None


async def test_close_timeout_is_honoured() -> None:
    proto = FakeProtocol(inputs=[[SendText("disconnect")]], on_close_timeout=[Close(1000, "timeout")])
    proto.waiting_for_close = True
    driver, _, wire = make(proto)
    await driver.receive("bad")
    await asyncio.sleep(0.02)
    assert ("close_timeout",) not in proto.calls  # not before close_wait
    await asyncio.sleep(0.1)
    assert ("close_timeout",) in proto.calls and wire.actions[-1] == ("close", 1000, "timeout")


async def test_close_timeout_is_not_called_once_the_peer_closed() -> None:
    proto = FakeProtocol(inputs=[[SendText("disconnect")], [SendText("closed"), Close(1000, "closed")]])
    proto.waiting_for_close = True
    driver, _, _ = make(proto)
    await driver.receive("bad")
    proto.waiting_for_close = False
    await driver.receive("close")
    await asyncio.sleep(0.1)
    assert ("close_timeout",) not in proto.calls


async def test_connection_lost_ends_the_call_once() -> None:
    proto = FakeProtocol(inputs=[[START]], on_lost=[CallStop("disconnected")])
    driver, calls, _ = make(proto)
    await driver.receive("start")
    await driver.connection_lost()
    await driver.connection_lost()
    assert calls.ended == [("ext-1", "disconnected")]
    assert proto.calls.count(("connection_closed",)) == 1


async def test_a_call_stopped_by_the_protocol_is_not_ended_again_on_connection_lost() -> None:
    proto = FakeProtocol(inputs=[[START], [CallStop("stop")]])
    driver, calls, _ = make(proto)
    await driver.receive("start")
    await driver.receive("stop")
    await driver.connection_lost()
    assert calls.ended == [("ext-1", "stop")]


async def test_an_exception_becomes_the_protocols_failure_with_1011_and_one_log_line() -> None:
    proto = FakeProtocol(
        inputs=[[START], RecursionError("maximum recursion depth exceeded")],
        on_fail=[SendText("error"), CallStop("error"), Close(1011, "internal error")],
    )
    driver, calls, wire = make(proto)
    await driver.receive("start")
    with capture_logs() as logs:
        await driver.receive("[[[[")
    assert ("fail", "internal error", 1011) in proto.calls
    assert wire.actions == [("text", "error"), ("close", 1011, "internal error")]
    assert calls.ended == [("ext-1", "error")]
    [line] = [e for e in logs if e["log_level"] == "error"]
    assert line["event"] == "connection handler failed" and line["error"].startswith("RecursionError")
    assert isinstance(line["exc_info"], RecursionError)


async def test_a_broken_protocol_object_still_gets_the_connection_closed() -> None:
    proto = FakeProtocol(inputs=[[START], TypeError("unhashable type: 'list'")], on_fail=RuntimeError("broken"))
    driver, calls, wire = make(proto)
    await driver.receive("start")
    await driver.receive("{}")
    assert wire.actions == [("close", 1011, "internal error")] and calls.ended == [("ext-1", "error")]


async def test_no_media_in_time_fails_the_connection_with_1008() -> None:
    proto = FakeProtocol(inputs=[[START]], on_fail=[Close(1008, "no media within 0.05 s")])
    driver, _, wire = make(proto, media_timeout=0.05)
    await driver.receive("start")
    await asyncio.sleep(0.15)
    assert ("fail", "no media within 0.05 s", 1008) in proto.calls
    assert wire.actions == [("close", 1008, "no media within 0.05 s")]


async def test_media_in_time_disarms_the_media_timeout() -> None:
    proto = FakeProtocol(inputs=[[START, Audio("customer", PCM, 8000, 0)]])
    driver, _, wire = make(proto, media_timeout=0.05)
    await driver.receive("start")
    await asyncio.sleep(0.15)
    assert not [c for c in proto.calls if c[0] == "fail"] and wire.actions == []


async def test_a_probe_is_accepted_without_a_call() -> None:
    proto = FakeProtocol(
        inputs=[[CallStart(external_id=None, sample_rate=8000, probe=True)]], on_accept=[SendText("opened")]
    )
    driver, calls, wire = make(proto, media_timeout=0.05)
    await driver.receive("open")
    await asyncio.sleep(0.1)
    assert calls.started == [] and calls.counters["probes"] == 1 and wire.actions == [("text", "opened")]
    assert driver.call is None and not [c for c in proto.calls if c[0] == "fail"]
