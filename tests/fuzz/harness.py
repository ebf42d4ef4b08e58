"""Runs a fuzz script through a sans-I/O protocol object the way the driver does, and checks the contract's
invariants on every event.  Shared by the pytest properties and `bench/fuzz.py`.

The rules checked (from assist/stream/protocols/base.py and the driver):

* wire input never raises: bad input becomes ProtocolError / Close events;
* our own calls (close, fail, close_timeout) raise nothing but LocalProtocolError, and only when the state
  does not allow them; `connection_closed()` never raises; `accept()`/`refuse()` answer a CallStart
  without raising, even when the same input went on to end the call (the driver answers a CallStart
  before it looks at the next event of the batch);
* every Close carries a `CloseCode`; after a Close only non-fatal ProtocolErrors may follow (RTP counts
  datagrams after the end); a fatal ProtocolError is followed by a Close in the same batch, or by a
  close transaction we are waiting for (`awaiting_close`);
* at most one CallStart; Audio only between CallStart and CallStop, with even-length PCM at the
  CallStart's rate, a speaker the CallStart announced, a position >= 0; at most one CallStop;
* sizes stay bounded: no Audio larger than twice the largest input plus a few carried bytes, no
  ProtocolError message, SendText or Close reason beyond `MAX_TEXT` characters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from assist.stream.protocols.base import (
    Audio,
    CallStart,
    CallStop,
    Close,
    CloseCode,
    LocalProtocolError,
    PhoneProtocol,
    ProtocolError,
    ProtocolEvent,
    SendBytes,
    SendText,
)
from tests.fuzz.strategies import Feed, Local, Step

CLOSE_CODES = {int(c) for c in CloseCode}
MAX_TEXT = 200_000  # characters in any text we produce (log line, reply, close reason)


class ContractViolation(AssertionError):
    """A protocol object broke one of the rules above; the text says which and where."""


@dataclass
class Run:
    """What a script did to one protocol object."""

    proto: PhoneProtocol[Any]
    refuse: bool = False
    events: list[ProtocolEvent] = field(default_factory=list)
    started: CallStart | None = None
    stopped: bool = False
    closed: bool = False
    largest_input: int = 0

    def fail(self, message: str) -> None:
        raise ContractViolation(f"{type(self.proto).__name__} (state {self.proto.state.name}): {message}")

    def feed(self, step: Step) -> None:
        if isinstance(step, Local):
            self.local(step.name)
            return
        self.largest_input = max(self.largest_input, len(step.data))
        events = self.proto.receive(step.data, at=step.at, source=step.source)  # must not raise
        self.check(events)

    def local(self, name: str) -> None:
        """Our side's call; LocalProtocolError means the state does not allow it (fine), anything else is
        a bug.  Calls the driver never makes in that state are not made (close_timeout only when
        awaiting a close, nothing after connection_closed)."""
        if name == "close_timeout" and not self.proto.awaiting_close:
            return
        try:
            if name == "close":
                events = self.proto.close("fuzz")
            elif name == "fail":
                events = self.proto.fail("fuzz", CloseCode.INTERNAL_ERROR)
            elif name == "close_timeout":
                events = self.proto.close_timeout()
            else:
                events = self.proto.connection_closed()
        except LocalProtocolError:
            return
        self.check(events)

    def check(self, events: list[ProtocolEvent]) -> None:
        self.events += events
        answer: CallStart | None = None
        for index, ev in enumerate(events):
            if self.closed and not (isinstance(ev, ProtocolError) and not ev.fatal):
                self.fail(f"{ev!r:.200} after Close")
            if isinstance(ev, Close):
                if ev.code not in CLOSE_CODES:
                    self.fail(f"Close code {ev.code} is not a CloseCode")
                if len(ev.reason) > MAX_TEXT:
                    self.fail(f"Close reason of {len(ev.reason)} chars")
                self.closed = True
            elif isinstance(ev, CallStart):
                if self.started is not None:
                    self.fail("second CallStart")
                if ev.sample_rate <= 0 or (not ev.speakers and not ev.probe):
                    self.fail(f"CallStart without a rate or speakers: {ev!r:.200}")
                self.started = answer = ev
            elif isinstance(ev, Audio):
                self.check_audio(ev)
            elif isinstance(ev, CallStop):
                if self.stopped:
                    self.fail("second CallStop")
                if self.started is None:
                    self.fail("CallStop without a CallStart")
                self.stopped = True
            elif isinstance(ev, ProtocolError):
                if len(ev.message) > MAX_TEXT:
                    self.fail(f"ProtocolError message of {len(ev.message)} chars")
                if ev.fatal and not self.proto.awaiting_close and not any(isinstance(e, Close) for e in events[index:]):
                    self.fail(f"fatal {ev!r:.200} without a Close or a close transaction")
            elif isinstance(ev, SendText):
                if len(ev.text) > MAX_TEXT:
                    self.fail(f"SendText of {len(ev.text)} chars")
            elif isinstance(ev, SendBytes) and len(ev.data) > 2 * self.largest_input + 16:
                self.fail(f"SendBytes of {len(ev.data)} bytes")
        if answer is not None:  # the driver admits or refuses the call before reading more input
            self.check(self.proto.refuse("fuzz refusal") if self.refuse else self.proto.accept())

    def check_audio(self, ev: Audio) -> None:
        if self.started is None:
            self.fail("Audio before CallStart")
            return
        if self.stopped:
            self.fail("Audio after CallStop")
        if len(ev.pcm) % 2:
            self.fail(f"odd PCM length {len(ev.pcm)}")
        if ev.sample_rate != self.started.sample_rate:
            self.fail(f"Audio at {ev.sample_rate} Hz, CallStart said {self.started.sample_rate}")
        if ev.speaker not in self.started.speakers:
            self.fail(f"Audio for {ev.speaker}, CallStart announced {self.started.speakers}")
        if ev.position < 0:
            self.fail(f"negative position {ev.position}")
        if len(ev.pcm) > 2 * self.largest_input + 16:
            self.fail(f"Audio of {len(ev.pcm)} bytes from inputs of at most {self.largest_input}")


def run_script(proto: PhoneProtocol[Any], steps: list[Step], *, refuse: bool = False) -> Run:
    """Feed `steps`, then end the connection (`connection_closed`, allowed in every state)."""
    run = Run(proto, refuse=refuse)
    for step in steps:
        if isinstance(step, Local) and step.name == "connection_closed":
            break  # the transport is gone: nothing more arrives, and it is the last call
        if run.closed and isinstance(step, Local):
            continue  # the driver makes no calls of its own once the connection is closed
        run.feed(step)
    run.local("connection_closed")
    return run


__all__ = ["ContractViolation", "Feed", "Local", "Run", "run_script"]
