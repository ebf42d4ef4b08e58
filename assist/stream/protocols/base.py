"""The contract every sans-I/O phone protocol keeps, and what it produces.

A protocol object (`PhoneProtocol`) is fed what arrived on the wire through `receive` (a WebSocket
text frame as `str`, a binary frame, TCP read or UDP datagram as `bytes`) and returns a list of
events, in order.  Events are of two families:

* call events for the session layer: `CallStart`, `Audio`, `Dtmf`, `CallStop`, `Paused`,
  `ProtocolError`;
* wire actions for the I/O layer: `SendText`, `SendBytes`, `Close`.

The I/O layer answers a `CallStart` with `accept()` or `refuse(reason)`, ends a connection itself
with `close(reason)` or `fail(reason, code)`, reports a vanished transport with
`connection_closed()`, and, while `awaiting_close` is true, calls `close_timeout()` once
`close_wait` seconds pass.  Calling one of these in a state that does not allow it raises
`LocalProtocolError` (a bug in the caller, never the peer's fault); a peer that breaks the protocol
gets `ProtocolError` events instead.

Each protocol keeps its state as an Enum and lists its allowed transitions in one table
(`TRANSITIONS`); every state change goes through `_goto`, which refuses a move the table lacks.

`Audio` carries PCM16 little-endian mono per speaker, already decoded from the wire codec; its
timeline position is `position` samples from the start of that speaker's track, taken from the
peer's timing where the protocol carries it (Twilio `media.timestamp`, RTP timestamps) and from the
bytes received otherwise.

JSON-speaking protocols parse with `loads_strict` (no NaN/Infinity, bounded nesting, checked
without recursion) and read fields with `get_field`, so a wrongly typed field becomes a
`FieldError` naming the field rather than an exception deep inside a handler.
"""

from __future__ import annotations

import json
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar

from assist.events import Speaker as Speaker  # the one definition; re-exported for the protocols


class CloseCode(IntEnum):
    """WebSocket close codes the phone protocols use (RFC 6455 §7.4.1)."""

    NORMAL = 1000
    UNSUPPORTED = 1003
    INVALID = 1007
    POLICY = 1008
    TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    TRY_LATER = 1013


class LocalProtocolError(Exception):
    """Our side called a protocol method in a state that does not allow it."""


class FieldError(ValueError):
    """A message field is missing or of the wrong type; the text names the field."""


class JsonError(ValueError):
    """A text frame is not JSON this server accepts (syntax, NaN/Infinity, nesting too deep)."""


# ---------------------------------------------------------------------------------------- strict JSON

MAX_JSON_DEPTH = 32
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_JSON_BRACKET = re.compile(r"[\[\]{}]")


def _reject_constant(name: str) -> Any:
    raise JsonError(f"non-finite number {name} is not allowed")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonError(f"number {text[:20]} is out of range")
    return value


def json_depth(text: str) -> int:
    """Deepest nesting of arrays/objects in `text`, counted in a loop (never recursion)."""
    depth = deepest = 0
    for match in _JSON_BRACKET.finditer(_JSON_STRING.sub("", text)):
        if match.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def loads_strict(text: str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """`json.loads` for untrusted peers: raises JsonError on bad syntax, NaN/Infinity, a number out of
    float range, or nesting deeper than `max_depth` (which would otherwise end in RecursionError)."""
    if text.count("[") + text.count("{") > max_depth and json_depth(text) > max_depth:
        raise JsonError(f"JSON nested deeper than {max_depth} levels")
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except JsonError:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, int too long, ...
        raise JsonError(str(exc)) from None


_KIND_NAMES = {
    str: "a string",
    int: "an integer",
    dict: "an object",
    list: "a list",
    bool: "a boolean",
    float: "a number",
}


def _kind(value: Any) -> str:
    return "null" if value is None else _KIND_NAMES.get(type(value), type(value).__name__)


def get_field(obj: Mapping[str, Any], name: str, kind: type, *, where: str, default: Any = ...) -> Any:
    """`obj[name]` checked to be of `kind` (bool is not an integer); FieldError names `where.name`.

    A missing field yields `default` when one is given, else FieldError."""
    if name not in obj:
        if default is ...:
            raise FieldError(f"'{where}.{name}' is missing")
        return default
    value = obj[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise FieldError(f"'{where}.{name}' must be {_KIND_NAMES.get(kind, kind.__name__)}, got {_kind(value)}")
    return value


# ---------------------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class CallStart:
    """The peer told us who the call is.  Fields the protocol does not carry are None."""

    external_id: str | None
    sample_rate: int
    agent_id: str | None = None
    account_id: str | None = None
    language: str | None = None
    customer_phone: str | None = None
    direction: Literal["inbound", "outbound"] | None = None
    speakers: tuple[Speaker, ...] = ("customer", "agent")
    meta: dict[str, Any] = field(default_factory=dict)
    probe: bool = False  # a connection test (AudioHook null UUIDs), not a real call


@dataclass(frozen=True, slots=True)
class Audio:
    speaker: Speaker
    pcm: bytes  # PCM16 LE mono
    sample_rate: int
    position: int  # sample index of pcm[0] in this speaker's track


@dataclass(frozen=True, slots=True)
class Dtmf:
    digit: str
    speaker: Speaker | None = None


@dataclass(frozen=True, slots=True)
class CallStop:
    reason: str = "hangup"


@dataclass(frozen=True, slots=True)
class Paused:
    paused: bool  # True when the peer paused the audio, False when it resumed


@dataclass(frozen=True, slots=True)
class ProtocolError:
    """The peer broke the protocol.  `fatal` errors are followed by a Close event."""

    message: str
    fatal: bool = True
    code: int | None = None


@dataclass(frozen=True, slots=True)
class SendText:
    text: str


@dataclass(frozen=True, slots=True)
class SendBytes:
    data: bytes


@dataclass(frozen=True, slots=True)
class Close:
    """Close the connection (WebSocket close code where it applies)."""

    code: int = CloseCode.NORMAL
    reason: str = ""


ProtocolEvent = CallStart | Audio | Dtmf | CallStop | Paused | ProtocolError | SendText | SendBytes | Close


class Refusal(Exception):
    """Raised by the session layer when admission control refuses a call; protocols turn it into
    their own error reply through `refuse()`."""


# ---------------------------------------------------------------------------------------- the contract

Source = tuple[str, int]  # a datagram's sender (host, port)


class PhoneConnection(Protocol):
    """What the I/O layer (`ProtocolDriver`) may do with any phone protocol object."""

    close_wait: float

    def receive(
        self, data: str | bytes, *, at: float | None = None, source: Source | None = None
    ) -> list[ProtocolEvent]:
        """What arrived: a text frame (str), or binary frame / TCP bytes / datagram (bytes).
        `at` (monotonic arrival time) and `source` matter to datagram protocols only."""
        ...

    def accept(self) -> list[ProtocolEvent]:
        """Admit the call announced by CallStart."""
        ...

    def refuse(self, reason: str) -> list[ProtocolEvent]:
        """Turn the call announced by CallStart away, in the protocol's own words."""
        ...

    def close(self, reason: str = "") -> list[ProtocolEvent]:
        """End the connection normally, from our side."""
        ...

    def fail(self, reason: str, code: int = CloseCode.INTERNAL_ERROR) -> list[ProtocolEvent]:
        """End the connection with an error from our side (a timeout, an internal failure)."""
        ...

    def connection_closed(self) -> list[ProtocolEvent]:
        """The transport is gone; allowed in every state, idempotent."""
        ...

    @property
    def awaiting_close(self) -> bool:
        """We wait for the peer to finish a close transaction; arm a `close_wait` timer."""
        ...

    def close_timeout(self) -> list[ProtocolEvent]:
        """The peer did not finish its close transaction in time."""
        ...


S = TypeVar("S", bound=Enum)


class PhoneProtocol(ABC, Generic[S]):
    """Base of the five protocol classes: the state machine plumbing and the contract's defaults."""

    TRANSITIONS: ClassVar[Mapping[Any, frozenset[Any]]]
    close_wait: float = 10.0
    state: S

    def _goto(self, new: S) -> None:
        """Change state along an edge of TRANSITIONS; a missing edge is a bug on our side."""
        if new is self.state:
            return
        if new not in self.TRANSITIONS[self.state]:
            raise LocalProtocolError(f"{type(self).__name__}: no transition {self.state.name} -> {new.name}")
        self.state = new

    def _require(self, action: str, *states: S) -> None:
        if self.state not in states:
            allowed = ", ".join(s.name for s in states)
            raise LocalProtocolError(
                f"{type(self).__name__}.{action}() called in state {self.state.name} (allowed in: {allowed})"
            )

    def receive(
        self, data: str | bytes, *, at: float | None = None, source: Source | None = None
    ) -> list[ProtocolEvent]:
        if isinstance(data, str):
            return self.receive_text(data)
        return self.receive_bytes(data)

    def receive_text(self, text: str) -> list[ProtocolEvent]:
        raise LocalProtocolError(f"{type(self).__name__} has no text frames")

    def receive_bytes(self, data: bytes) -> list[ProtocolEvent]:
        raise LocalProtocolError(f"{type(self).__name__} has no binary frames")

    @abstractmethod
    def accept(self) -> list[ProtocolEvent]: ...

    @abstractmethod
    def refuse(self, reason: str) -> list[ProtocolEvent]: ...

    @abstractmethod
    def close(self, reason: str = "") -> list[ProtocolEvent]: ...

    @abstractmethod
    def fail(self, reason: str, code: int = CloseCode.INTERNAL_ERROR) -> list[ProtocolEvent]: ...

    @abstractmethod
    def connection_closed(self) -> list[ProtocolEvent]: ...

    @property
    def awaiting_close(self) -> bool:
        return False

    def close_timeout(self) -> list[ProtocolEvent]:
        raise LocalProtocolError(f"{type(self).__name__} is not waiting for a close (state {self.state.name})")
